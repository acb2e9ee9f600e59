// Opening a kernel dump: signature, header width and DumpType, then the memory layout.
#include "pagedump/reader/dump_file.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "../io/mapped_view.h"
#include "dump_file_internal.h"
#include "page_cache.h"
#include "pagedump/format/common.h"
#include "pagedump/format/pointer_width.h"

namespace pagedump {

using reader_detail::fail;
using reader_detail::printable_bytes;

namespace reader_detail {

std::string printable_bytes(const std::byte* data, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::string printable_tag(std::uint32_t value) {
  std::byte b[4];
  std::memcpy(b, &value, 4);
  return printable_bytes(b, 4);
}

}  // namespace reader_detail

namespace {

bool starts_with(std::span<const std::byte> bytes, std::string_view text) {
  return bytes.size() >= text.size() && std::memcmp(bytes.data(), text.data(), text.size()) == 0;
}

// Rejects what is not a kernel dump with a message that says what the file is instead.
bool detect_width(const std::string& path, std::span<const std::byte> head, std::uint64_t size) {
  if (starts_with(head, "PAGEDU64")) return true;
  if (starts_with(head, "PAGEDUMP")) return false;
  if (starts_with(head, "MDMP")) {
    fail(ErrorKind::user_mode_dump, path,
         "offset 0 holds 'MDMP': this is a user-mode minidump; pagedump reads kernel dumps "
         "('PAGEDU64' / 'PAGEDUMP')");
  }
  if (starts_with(head, "USERDUMP") || starts_with(head, "USERDU64")) {
    fail(ErrorKind::user_mode_dump, path,
         "offset 0 holds '{}': this is a user-mode dump; pagedump reads kernel dumps "
         "('PAGEDU64' / 'PAGEDUMP')",
         printable_bytes(head.data(), 8));
  }
  if (size == 0) fail(ErrorKind::not_a_dump, path, "not a kernel dump: the file is empty");
  std::size_t n = std::min<std::size_t>(head.size(), 8);
  fail(ErrorKind::not_a_dump, path,
       "not a kernel dump: offset 0 holds '{}' where 'PAGEDU64' or 'PAGEDUMP' was expected",
       printable_bytes(head.data(), n));
}

bool known_dump_type(std::uint32_t t) {
  return (t >= 1 && t <= 6) || (t >= 8 && t <= 0xA);
}

}  // namespace

std::string_view DumpHeaderInfo::architecture() const noexcept {
  return machine_image_type ? format::architecture_name(*machine_image_type) : "unknown";
}

DumpFile::DumpFile(InputFile file) : file_(std::move(file)) {}
DumpFile::~DumpFile() = default;

std::unique_ptr<DumpFile> DumpFile::open(const std::string& path, std::size_t cache_bytes) {
  DumpOpenOptions options;
  options.cache_bytes = cache_bytes;
  return open(path, options);
}

std::unique_ptr<DumpFile> DumpFile::open(const std::string& path, const DumpOpenOptions& options) {
  InputFile file(path);
  std::byte head[8]{};
  std::size_t got = file.read_at(0, head);
  bool is64 = detect_width(path, std::span(head, got), file.size());
  std::size_t header_size = is64 ? format::kHeaderSize64 : format::kHeaderSize32;
  if (file.size() < header_size) {
    fail(ErrorKind::truncated, path,
         "the file is {:#x} bytes, shorter than the {:#x}-byte {} header", file.size(),
         header_size, is64 ? "PAGEDU64" : "PAGEDUMP");
  }
  std::unique_ptr<DumpFile> dump(new DumpFile(std::move(file)));
  dump->cache_ = std::make_unique<reader_detail::PageCache>(options.cache_bytes);
  dump->raw_header_.resize(header_size);
  dump->file_.read_exact(0, dump->raw_header_, "dump header");
  dump->header_.is64 = is64;
  dump->parse_header();

  switch (dump->header_.dump_type) {
    case 1: dump->parse_runs(); break;
    case 2: dump->parse_bitmap(true); break;
    case 5:
    case 6: dump->parse_bitmap(false); break;
    case 8:
    case 9:
    case 0xA: dump->parse_rdmp(); break;
    default: break;  // 3 (header only), 4 (triage): no physical memory
  }
  dump->compute_truncation();
  // Mapped once the dump has been checked, so that a file refused costs no mapping.
  if (options.map_file) dump->mapped_ = std::make_unique<io_detail::MappedView>(dump->file_);
  return dump;
}

void DumpFile::parse_header() {
  std::span<const std::byte> b = raw_header_;
  auto& h = header_;
  auto opt32 = [](std::uint32_t v) -> std::optional<std::uint32_t> {
    if (format::is_fill(v)) return std::nullopt;
    return v;
  };
  // 64-bit fields, and pointer-sized ones of either width (kept in 64 bits).
  auto opt64 = [](auto v) -> std::optional<std::uint64_t> {
    if (format::is_fill(v)) return std::nullopt;
    return v;
  };
  // A single byte is the fill when it equals the "PAGE" letter at its offset.
  auto opt8 = [&](std::size_t offset) -> std::optional<std::uint8_t> {
    auto v = static_cast<std::uint8_t>(b[offset]);
    if (v == static_cast<std::uint8_t>("PAGE"[offset % 4])) return std::nullopt;
    return v;
  };
  auto comment = [](const char (&c)[128]) -> std::optional<std::string> {
    if (std::memcmp(c, "PAGE", 4) == 0) return std::nullopt;
    std::size_t n = 0;
    while (n < sizeof(c) && c[n] != '\0') ++n;
    return reader_detail::printable_bytes(reinterpret_cast<const std::byte*>(c), n);
  };

  std::uint32_t dump_type = 0;
  std::size_t dump_type_offset = 0;
  format::with_width(h.is64, [&](auto width) {
    using Header = typename decltype(width)::DumpHeader;
    auto d = format::load<Header>(b);
    dump_type = d.DumpType;
    dump_type_offset = offsetof(Header, DumpType);
    h.machine_image_type = opt32(d.MachineImageType);
    h.major_version = opt32(d.MajorVersion);
    h.minor_version = opt32(d.MinorVersion);
    h.directory_table_base = opt64(d.DirectoryTableBase);
    h.pfn_database = opt64(d.PfnDataBase);
    h.ps_loaded_module_list = opt64(d.PsLoadedModuleList);
    h.ps_active_process_head = opt64(d.PsActiveProcessHead);
    h.kd_debugger_data_block = opt64(d.KdDebuggerDataBlock);
    h.number_processors = opt32(d.NumberProcessors);
    h.bugcheck_code = opt32(d.BugCheckCode);
    for (int i = 0; i < 4; ++i) h.bugcheck_parameters[i] = opt64(d.BugCheckParameter[i]);
    h.required_dump_space = opt64(d.RequiredDumpSpace);
    h.system_time = opt64(d.SystemTime);
    h.system_up_time = opt64(d.SystemUpTime);
    h.mini_dump_fields = opt32(d.MiniDumpFields);
    h.secondary_data_state = opt32(d.SecondaryDataState);
    h.product_type = opt32(d.ProductType);
    h.suite_mask = opt32(d.SuiteMask);
    h.writer_status = opt32(d.WriterStatus);
    h.kd_secondary_version = opt8(offsetof(Header, KdSecondaryVersion));
    h.attributes = opt32(d.Attributes);
    h.boot_id = opt32(d.BootId);
    h.comment = comment(d.Comment);
    if constexpr (std::is_same_v<Header, format::DumpHeader32>) {
      if (auto pae = opt8(offsetof(Header, PaeEnabled))) h.pae_enabled = *pae != 0;
    }

    const auto& e = d.Exception;
    exception_.code = opt32(e.ExceptionCode);
    exception_.flags = opt32(e.ExceptionFlags);
    exception_.record = opt64(e.ExceptionRecord);
    exception_.address = opt64(e.ExceptionAddress);
    exception_.number_parameters = opt32(e.NumberParameters);
    std::uint32_t n = exception_.number_parameters.value_or(0);
    n = std::min(n, format::kExceptionMaximumParameters);
    exception_.parameters.assign(e.ExceptionInformation, e.ExceptionInformation + n);
  });

  if (!known_dump_type(dump_type)) {
    std::string seen = format::is_fill(dump_type)
                           ? std::string("the 'PAGE' fill")
                           : fmt::format("{:#x} ({})", dump_type, format::dump_type_name(dump_type));
    fail(ErrorKind::unsupported, path(),
         "DumpType at file offset {:#x} is {}; expected 1 (full), 2 (summary), 3 (header), "
         "4 (triage), 5/6 (bitmap) or 8/9/0xA (RDMP range dump)",
         dump_type_offset, seen);
  }
  h.dump_type = dump_type;

  // A machine of the other width means the file is damaged, not a new variant.
  if (h.machine_image_type) {
    std::uint32_t m = *h.machine_image_type;
    bool wide = m == format::machine::kAmd64 || m == format::machine::kArm64;
    bool narrow = m == format::machine::kI386 || m == format::machine::kArmNt;
    if ((h.is64 && narrow) || (!h.is64 && wide)) {
      fail(ErrorKind::inconsistent, path(),
           "MachineImageType at file offset {:#x} is {:#x} ({}), which does not go with a {} "
           "header; expected {}",
           h.is64 ? offsetof(format::DumpHeader64, MachineImageType)
                  : offsetof(format::DumpHeader32, MachineImageType),
           m, format::architecture_name(m), h.format(),
           h.is64 ? "0x8664 (x64) or 0xaa64 (arm64)" : "0x14c (x86) or 0x1c4 (arm)");
    }
  }
}

format::DumpHeader64 DumpFile::header64() const {
  if (!header_.is64) throw Error(ErrorKind::usage, path() + ": not a 64-bit (PAGEDU64) dump");
  return format::load<format::DumpHeader64>(raw_header_);
}

format::DumpHeader32 DumpFile::header32() const {
  if (header_.is64) throw Error(ErrorKind::usage, path() + ": not a 32-bit (PAGEDUMP) dump");
  return format::load<format::DumpHeader32>(raw_header_);
}

std::optional<format::ContextArch> DumpFile::context_arch() const noexcept {
  if (!header_.machine_image_type) return std::nullopt;
  return format::context_arch_for_machine(*header_.machine_image_type);
}

std::span<const std::byte> DumpFile::context_bytes() const noexcept {
  std::span<const std::byte> b = raw_header_;
  if (header_.is64) {
    return b.subspan(offsetof(format::DumpHeader64, ContextRecord),
                     sizeof(format::DumpHeader64::ContextRecord));
  }
  return b.subspan(offsetof(format::DumpHeader32, ContextRecord),
                   sizeof(format::DumpHeader32::ContextRecord));
}

format::NamedRegisters DumpFile::context_registers() const {
  auto arch = context_arch();
  if (!arch) return {};
  return format::context_registers(*arch, context_bytes());
}

std::string_view DumpFile::format_name() const {
  switch (header_.dump_type) {
    case 1: return "dump-full";
    case 2: return "dump-summary";
    case 3: return "dump-header";
    case 4: return "dump-triage";
    case 5: return "dump-bitmap-full";
    case 6: return "dump-bitmap-kernel";
    case 8: return "dump-rdmp-kernel";
    case 9: return "dump-rdmp-kernel-active";
    case 0xA: return "dump-rdmp-full";
    default: return "dump";
  }
}

}  // namespace pagedump
