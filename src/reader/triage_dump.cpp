// Parsing and checking of triage dumps (reference §5). The policy on fatal errors versus
// warnings is stated in include/pagedump/reader/triage_dump.h.
#include "pagedump/reader/triage_dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/exception_record.h"
#include "pagedump/format/pointer_width.h"
#include "pagedump/reader/triage_view.h"

namespace pagedump {

namespace {

constexpr std::size_t kDataBlockChunk = 256;  // table entries read per pread

// UTF-16LE code units to UTF-8; unpaired surrogates become U+FFFD.
std::string utf16_to_utf8(std::span<const char16_t> units) {
  std::string out;
  out.reserve(units.size());
  auto put = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(char(cp));
    } else if (cp < 0x800) {
      out.push_back(char(0xC0 | (cp >> 6)));
      out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(char(0xE0 | (cp >> 12)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(char(0xF0 | (cp >> 18)));
      out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(char(0x80 | (cp & 0x3F)));
    }
  };
  for (std::size_t i = 0; i < units.size(); ++i) {
    std::uint32_t u = units[i];
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < units.size() && units[i + 1] >= 0xDC00 &&
        units[i + 1] <= 0xDFFF) {
      put(0x10000 + ((u - 0xD800) << 10) + (std::uint32_t(units[i + 1]) - 0xDC00));
      ++i;
    } else if (u >= 0xD800 && u <= 0xDFFF) {
      put(0xFFFD);
    } else {
      put(u);
    }
  }
  return out;
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of("\\/");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string tag_text(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    char c = char((v >> (8 * i)) & 0xFF);
    s.push_back(c >= 0x20 && c < 0x7F ? c : '.');
  }
  return s;
}

// Sign-extension convention of 32-bit kernel pointers (reference §6.1): keep the low half.
std::uint64_t low32(std::uint64_t v) { return v & 0xFFFFFFFFull; }

}  // namespace

std::size_t context_size_for_machine(std::uint32_t machine) noexcept {
  switch (machine) {
    case format::machine::kAmd64: return sizeof(format::ContextAmd64);
    case format::machine::kArm64: return sizeof(format::ContextArm64);
    case format::machine::kI386: return sizeof(format::ContextI386);
    case format::machine::kArmNt: return sizeof(format::ContextArm);
    default: return 0;
  }
}

// Does the work of TriageDump::parse; a class so the checks can share the dump's state.
class TriageParser {
 public:
  TriageParser(TriageDump& d, const InputFile& file, bool is64)
      : d_(d), file_(file), is64_(is64), hdr_(is64 ? format::kHeaderSize64 : format::kHeaderSize32) {}

  void run(std::span<const std::byte> main_header);

 private:
  TriageDump& d_;
  const InputFile& file_;
  bool is64_;
  std::uint64_t hdr_;  // file offset of the triage header

  struct Field {
    const char* name;
    std::uint64_t at;  // file offset of the field
  };

  [[noreturn]] void fail(ErrorKind kind, Field f, std::uint64_t value, const std::string& why) const {
    throw Error(kind, fmt::format("triage dump: {} (file offset {:#x}) = {:#x}: {}", f.name, f.at,
                                  value, why));
  }
  void warn(std::string text) { d_.warnings_.push_back(std::move(text)); }

  // A section [offset, offset + size) must lie within SizeOfDump (which lies within the file).
  FileRange section(Field f, std::uint64_t offset, std::uint64_t size, const char* what) const {
    const std::uint64_t end = offset + size;
    if (end > d_.f_.size_of_dump) {
      fail(ErrorKind::inconsistent, f, offset,
           fmt::format("{} of {:#x} bytes would end at {:#x}, past SizeOfDump {:#x}", what, size,
                       end, d_.f_.size_of_dump));
    }
    return {offset, size};
  }

  std::vector<std::byte> read(FileRange r, const char* what) const {
    std::vector<std::byte> bytes(r.size);
    file_.read_exact(r.offset, bytes, what);
    return bytes;
  }

  Field field(const char* name, std::size_t off64, std::size_t off32) const {
    return {name, hdr_ + (is64_ ? off64 : off32)};
  }

  void load_fields();
  void check_extent();
  void parse_context_and_exception();
  void parse_mm();
  void parse_unloaded();
  void parse_copies();
  void parse_stack();
  void parse_kdbg();
  void parse_drivers();
  void parse_data_page();
  void parse_data_blocks();
  void build_regions();
};

#define PAGEDUMP_TRIAGE_FIELD(X) \
  field(#X, offsetof(format::TriageDump64, X), offsetof(format::TriageDump32, X))

void TriageParser::load_fields() {
  TriageFields& f = d_.f_;
  format::with_width(is64_, [&](auto width) {
    using Triage = typename decltype(width)::TriageDump;
    auto t =
        file_.read_struct<Triage>(hdr_, is64_ ? "TRIAGE_DUMP64 header" : "TRIAGE_DUMP32 header");
    f.service_pack_build = t.ServicePackBuild;
    f.size_of_dump = t.SizeOfDump;
    f.valid_offset = t.ValidOffset;
    f.context_offset = t.ContextOffset;
    f.exception_offset = t.ExceptionOffset;
    f.mm_offset = t.MmOffset;
    f.unloaded_drivers_offset = t.UnloadedDriversOffset;
    f.prcb_offset = t.PrcbOffset;
    f.process_offset = t.ProcessOffset;
    f.thread_offset = t.ThreadOffset;
    f.call_stack_offset = t.CallStackOffset;
    f.size_of_call_stack = t.SizeOfCallStack;
    f.driver_list_offset = t.DriverListOffset;
    f.driver_count = t.DriverCount;
    f.string_pool_offset = t.StringPoolOffset;
    f.string_pool_size = t.StringPoolSize;
    f.broken_driver_offset = t.BrokenDriverOffset;
    f.triage_options = t.TriageOptions;
    f.top_of_stack = t.TopOfStack;
    if constexpr (std::is_same_v<Triage, format::TriageDump64>) {
      // The 32-bit header's words here are disputed (DataPage* or BStore*): kept opaque.
      f.bstore_offset = t.BStoreOffset;
      f.size_of_bstore = t.SizeOfBStore;
      f.limit_of_bstore = t.LimitOfBStore;
      f.data_page_address = t.DataPageAddress;
      f.data_page_offset = t.DataPageOffset;
      f.data_page_size = t.DataPageSize;
    } else {
      std::memcpy(f.disputed32, t.Disputed, sizeof f.disputed32);
    }
    f.debugger_data_offset = t.DebuggerDataOffset;
    f.debugger_data_size = t.DebuggerDataSize;
    f.data_blocks_offset = t.DataBlocksOffset;
    f.data_blocks_count = t.DataBlocksCount;
  });
}

void TriageParser::check_extent() {
  const TriageFields& f = d_.f_;
  const std::uint64_t header_end = hdr_ + (is64_ ? sizeof(format::TriageDump64) : sizeof(format::TriageDump32));
  const Field size_field = PAGEDUMP_TRIAGE_FIELD(SizeOfDump);
  if (f.size_of_dump > file_.size()) {
    fail(ErrorKind::truncated, size_field, f.size_of_dump,
         fmt::format("the triage area ends past the end of the file ({:#x} bytes)", file_.size()));
  }
  if (f.size_of_dump < header_end + 4) {
    fail(ErrorKind::inconsistent, size_field, f.size_of_dump,
         fmt::format("expected at least {:#x} (the headers and the \"TRGD\" marker)", header_end + 4));
  }
  const Field valid_field = PAGEDUMP_TRIAGE_FIELD(ValidOffset);
  if (f.valid_offset < header_end || std::uint64_t(f.valid_offset) + 4 > f.size_of_dump) {
    fail(ErrorKind::inconsistent, valid_field, f.valid_offset,
         fmt::format("expected SizeOfDump - 4 = {:#x} (the \"TRGD\" marker inside the triage area)",
                     f.size_of_dump - 4));
  }
  auto marker = file_.read_struct<std::uint32_t>(f.valid_offset, "triage valid marker");
  if (marker != format::kTriageValid) {
    fail(ErrorKind::inconsistent, valid_field, f.valid_offset,
         fmt::format("the DWORD there reads {:#010x} (\"{}\"), expected \"TRGD\" (0x{:08x}): not a "
                     "complete triage dump",
                     marker, tag_text(marker), format::kTriageValid));
  }
  if (f.valid_offset != f.size_of_dump - 4) {
    warn(fmt::format("ValidOffset {:#x} is not SizeOfDump - 4 = {:#x} (Windows puts the marker last)",
                     f.valid_offset, f.size_of_dump - 4));
  }
}

void TriageParser::parse_context_and_exception() {
  const TriageFields& f = d_.f_;
  if (f.context_offset != 0) {
    const std::size_t size = context_size_for_machine(d_.machine_);
    if (size == 0) {
      warn(fmt::format("MachineImageType {:#x} is unknown: the CONTEXT at {:#x} is not read",
                       d_.machine_, f.context_offset));
    } else {
      d_.context_range_ = section(PAGEDUMP_TRIAGE_FIELD(ContextOffset), f.context_offset, size, "a CONTEXT");
      d_.context_ = read(d_.context_range_, "triage CONTEXT");
    }
  }
  if (f.exception_offset != 0) {
    const std::size_t size = is64_ ? sizeof(format::ExceptionRecord64) : sizeof(format::ExceptionRecord32);
    d_.exception_range_ =
        section(PAGEDUMP_TRIAGE_FIELD(ExceptionOffset), f.exception_offset, size, "an EXCEPTION_RECORD");
    d_.exception_ = read(d_.exception_range_, "triage EXCEPTION_RECORD");
  }
}

void TriageParser::parse_mm() {
  const TriageFields& f = d_.f_;
  if (f.mm_offset == 0) return;
  const Field fld = PAGEDUMP_TRIAGE_FIELD(MmOffset);
  TriageMmStorage m;
  m.file_offset = f.mm_offset;
  std::uint32_t expected_size = 0;
  format::with_width(is64_, [&](auto width) {
    using Mm = typename decltype(width)::MmStorage;
    const char* what = is64_ ? "DUMP_MM_STORAGE64" : "DUMP_MM_STORAGE32";
    section(fld, f.mm_offset, sizeof(Mm), what);
    auto s = file_.read_struct<Mm>(f.mm_offset, what);
    m = {f.mm_offset, s.Version, s.Size, s.MmSpecialPoolTag, s.MiTriageActionTaken, s.MmVerifyDriverLevel,
         s.KernelVerifier, s.MmMaximumNonPagedPool, s.MmAllocatedNonPagedPool, s.PagedPoolMaximum,
         s.PagedPoolAllocated, s.CommittedPages, s.CommittedPagesPeak, s.CommitLimitMaximum};
    expected_size = sizeof(Mm);
  });
  if (m.version != 1 || m.size != expected_size) {
    warn(fmt::format("DUMP_MM_STORAGE at {:#x} has Version {} and Size {:#x}; expected Version 1, Size {:#x}",
                     f.mm_offset, m.version, m.size, expected_size));
  }
  d_.mm_ = m;
}

void TriageParser::parse_unloaded() {
  const TriageFields& f = d_.f_;
  if (f.unloaded_drivers_offset == 0) return;
  const Field fld = PAGEDUMP_TRIAGE_FIELD(UnloadedDriversOffset);
  const std::uint64_t head = is64_ ? format::kUnloadedDriversHeader64 : format::kUnloadedDriversHeader32;
  const std::uint64_t entry = is64_ ? sizeof(format::DumpUnloadedDriver64) : sizeof(format::DumpUnloadedDriver32);
  section(fld, f.unloaded_drivers_offset, head, "the unloaded-driver count");
  const auto count = file_.read_struct<std::uint32_t>(f.unloaded_drivers_offset, "unloaded-driver count");
  const std::uint64_t fits = (f.size_of_dump - f.unloaded_drivers_offset - head) / entry;
  if (count > fits) {
    fail(ErrorKind::inconsistent, {"unloaded-driver count", f.unloaded_drivers_offset}, count,
         fmt::format("only {} entries of {:#x} bytes fit before SizeOfDump {:#x}", fits, entry,
                     f.size_of_dump));
  }
  d_.unloaded_range_ = {f.unloaded_drivers_offset, head + count * entry};
  d_.unloaded_.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = f.unloaded_drivers_offset + head + i * entry;
    TriageUnloadedDriver u;
    std::uint16_t length_bytes = 0;
    std::array<char16_t, 12> chars{};
    format::with_width(is64_, [&](auto width) {
      using Unloaded = typename decltype(width)::UnloadedDriver;
      auto e = file_.read_struct<Unloaded>(
          at, is64_ ? "DUMP_UNLOADED_DRIVERS64" : "DUMP_UNLOADED_DRIVERS32");
      static_assert(sizeof e.DriverName == sizeof chars);
      length_bytes = e.NameLength;
      std::memcpy(chars.data(), e.DriverName, sizeof chars);
      u.start = e.StartAddress;
      u.end = e.EndAddress;
    });
    // Windows keeps at most 12 characters of the name; Name.Length still gives the full length.
    std::size_t n = std::min<std::size_t>(length_bytes / 2, 12);
    for (std::size_t k = 0; k < n; ++k) {
      if (chars[k] == 0) {
        n = k;
        break;
      }
    }
    u.name = utf16_to_utf8({chars.data(), n});
    d_.unloaded_.push_back(std::move(u));
  }
}

void TriageParser::parse_copies() {
  const TriageFields& f = d_.f_;
  // Windows writes no size for these copies; each runs up to the next section in the file.
  const std::array<std::uint64_t, 12> starts = {
      f.mm_offset,          f.unloaded_drivers_offset, f.prcb_offset,        f.process_offset,
      f.thread_offset,      f.call_stack_offset,       f.driver_list_offset, f.string_pool_offset,
      f.debugger_data_offset, f.data_blocks_offset,    f.data_page_offset,   f.valid_offset};
  auto next_after = [&](std::uint64_t off) {
    std::uint64_t next = f.size_of_dump;
    for (auto s : starts) {
      if (s > off && s < next) next = s;
    }
    return next;
  };
  auto copy = [&](Field fld, std::uint32_t off, const char* what) -> FileRange {
    if (off == 0) return {};
    if (off >= f.valid_offset) {
      fail(ErrorKind::inconsistent, fld, off,
           fmt::format("the {} copy would start at or past ValidOffset {:#x}", what, f.valid_offset));
    }
    return section(fld, off, next_after(off) - off, what);
  };
  d_.prcb_range_ = copy(PAGEDUMP_TRIAGE_FIELD(PrcbOffset), f.prcb_offset, "KPRCB");
  d_.process_range_ = copy(PAGEDUMP_TRIAGE_FIELD(ProcessOffset), f.process_offset, "EPROCESS");
  d_.thread_range_ = copy(PAGEDUMP_TRIAGE_FIELD(ThreadOffset), f.thread_offset, "ETHREAD");
}

void TriageParser::parse_stack() {
  const TriageFields& f = d_.f_;
  if (f.size_of_call_stack == 0) return;
  const Field fld = PAGEDUMP_TRIAGE_FIELD(CallStackOffset);
  if (f.call_stack_offset == 0) {
    fail(ErrorKind::inconsistent, fld, 0,
         fmt::format("SizeOfCallStack is {:#x} but no stack offset is given", f.size_of_call_stack));
  }
  d_.stack_range_ = section(fld, f.call_stack_offset, f.size_of_call_stack, "the stack");
  const std::uint64_t limit = is64_ ? ~0ull : 0xFFFFFFFFull;
  const std::uint64_t top = is64_ ? f.top_of_stack : low32(f.top_of_stack);
  if (limit - top < f.size_of_call_stack - 1) {
    fail(ErrorKind::inconsistent, PAGEDUMP_TRIAGE_FIELD(TopOfStack), f.top_of_stack,
         fmt::format("a stack of {:#x} bytes there wraps the address space", f.size_of_call_stack));
  }
}

void TriageParser::parse_kdbg() {
  const TriageFields& f = d_.f_;
  if (f.debugger_data_offset == 0 && f.debugger_data_size == 0) return;
  const Field size_fld = PAGEDUMP_TRIAGE_FIELD(DebuggerDataSize);
  if (!format::plausible_kdbg_size(f.debugger_data_size)) {
    fail(ErrorKind::inconsistent, size_fld, f.debugger_data_size,
         "expected a KDBG size of 0x18..0x800 bytes, a multiple of 8");
  }
  const Field fld = PAGEDUMP_TRIAGE_FIELD(DebuggerDataOffset);
  if (f.debugger_data_offset == 0) fail(ErrorKind::inconsistent, fld, 0, "DebuggerDataSize is set but no offset");
  d_.kdbg_range_ = section(fld, f.debugger_data_offset, f.debugger_data_size, "the KDBG copy");
  d_.kdbg_bytes_ = read(d_.kdbg_range_, "KDBG copy");
  auto head = format::load<format::DbgkdDebugDataHeader64>(d_.kdbg_bytes_);
  if (head.OwnerTag != format::kKdbgOwnerTag) {
    fail(ErrorKind::inconsistent, {"KDBG copy OwnerTag", f.debugger_data_offset + 0x10}, head.OwnerTag,
         fmt::format("reads \"{}\", expected \"KDBG\" (a decoded KDDEBUGGER_DATA64)", tag_text(head.OwnerTag)));
  }
  if (head.Size != f.debugger_data_size) {
    warn(fmt::format("the KDBG copy's Header.Size {:#x} differs from DebuggerDataSize {:#x}", head.Size,
                     f.debugger_data_size));
  }
  d_.kdbg_ = format::load_kdbg(d_.kdbg_bytes_);
  // Cross-check the copies' section-order sizes with the sizes the kernel reports.
  auto cross = [&](const char* what, FileRange r, std::uint16_t expected) {
    if (!r.empty() && expected != 0 && r.size != expected) {
      warn(fmt::format("the {} copy at {:#x} spans {:#x} bytes up to the next section; the KDBG says "
                       "{:#x}", what, r.offset, r.size, expected));
    }
  };
  cross("KPRCB", d_.prcb_range_, d_.kdbg_->SizePrcb);
  cross("EPROCESS", d_.process_range_, d_.kdbg_->SizeEProcess);
  cross("ETHREAD", d_.thread_range_, d_.kdbg_->SizeEThread);
}

void TriageParser::parse_drivers() {
  const TriageFields& f = d_.f_;
  if (f.string_pool_offset != 0 || f.string_pool_size != 0) {
    d_.string_pool_range_ = section(PAGEDUMP_TRIAGE_FIELD(StringPoolOffset), f.string_pool_offset,
                                    f.string_pool_size, "the string pool");
  }
  if (f.driver_count == 0) return;
  const Field count_fld = PAGEDUMP_TRIAGE_FIELD(DriverCount);
  const Field list_fld = PAGEDUMP_TRIAGE_FIELD(DriverListOffset);
  const std::uint64_t entry_size = is64_ ? sizeof(format::DumpDriverEntry64) : sizeof(format::DumpDriverEntry32);
  if (f.driver_list_offset == 0) fail(ErrorKind::inconsistent, list_fld, 0, "DriverCount is set but no list offset");
  if (f.string_pool_offset <= f.driver_list_offset) {
    fail(ErrorKind::inconsistent, list_fld, f.driver_list_offset,
         fmt::format("expected the driver list before the string pool at {:#x}", f.string_pool_offset));
  }
  // The entry stride is not written anywhere; Windows puts the pool right after the list.
  const std::uint64_t span = f.string_pool_offset - f.driver_list_offset;
  if (span % f.driver_count != 0 || span / f.driver_count < entry_size) {
    fail(ErrorKind::inconsistent, count_fld, f.driver_count,
         fmt::format("the {:#x} bytes between DriverListOffset {:#x} and StringPoolOffset {:#x} do not "
                     "hold that many entries of a whole stride of at least {:#x} bytes",
                     span, f.driver_list_offset, f.string_pool_offset, entry_size));
  }
  d_.driver_stride_ = std::uint32_t(span / f.driver_count);
  if (d_.driver_stride_ != entry_size) {
    warn(fmt::format("driver entries are {:#x} bytes apart; Windows builds seen use {:#x}",
                     d_.driver_stride_, entry_size));
  }
  d_.driver_list_range_ = section(list_fld, f.driver_list_offset, span, "the driver list");
  const std::uint64_t pool = d_.string_pool_range_.offset, pool_end = d_.string_pool_range_.end();
  d_.drivers_.reserve(f.driver_count);
  std::vector<char16_t> chars;
  std::uint64_t string_bytes = 0;
  for (std::uint32_t i = 0; i < f.driver_count; ++i) {
    TriageDriver drv;
    drv.entry_offset = f.driver_list_offset + std::uint64_t(i) * d_.driver_stride_;
    format::with_width(is64_, [&](auto width) {
      using Entry = typename decltype(width)::DriverEntry;
      auto e = file_.read_struct<Entry>(drv.entry_offset,
                                        is64_ ? "DUMP_DRIVER_ENTRY64" : "DUMP_DRIVER_ENTRY32");
      drv.string_offset = e.DriverNameOffset;
      drv.base = e.DllBase;
      drv.size = e.SizeOfImage;
      drv.checksum = e.CheckSum;
      drv.timestamp = e.TimeDateStamp;
    });
    const std::string name_field = fmt::format("driver {} DriverNameOffset", i);
    if (drv.string_offset < pool || drv.string_offset + 4 > pool_end) {
      fail(ErrorKind::inconsistent, {name_field.c_str(), drv.entry_offset}, drv.string_offset,
           fmt::format("expected a DUMP_STRING inside the string pool [{:#x}, {:#x})", pool, pool_end));
    }
    const auto length = file_.read_struct<std::uint32_t>(drv.string_offset, "DUMP_STRING length");
    if ((pool_end - drv.string_offset - 4) / 2 < std::uint64_t(length)) {
      fail(ErrorKind::inconsistent, {"DUMP_STRING Length", drv.string_offset}, length,
           fmt::format("driver {}'s name of that many UTF-16 characters runs past the string pool end {:#x}",
                       i, pool_end));
    }
    // Windows writes each name once; names sharing bytes would let a small pool expand
    // into unbounded memory, so the decoded total may not exceed the pool.
    string_bytes += 4 + std::uint64_t(length) * 2;
    if (string_bytes > d_.string_pool_range_.size) {
      fail(ErrorKind::inconsistent, {name_field.c_str(), drv.entry_offset}, drv.string_offset,
           fmt::format("the driver names read so far take {:#x} bytes, more than the {:#x}-byte string pool: "
                       "names overlap",
                       string_bytes, d_.string_pool_range_.size));
    }
    chars.resize(length);
    file_.read_exact(drv.string_offset + 4, std::as_writable_bytes(std::span(chars)), "DUMP_STRING");
    drv.path = utf16_to_utf8(chars);
    drv.name = base_name(drv.path);
    d_.drivers_.push_back(std::move(drv));
  }
  // §5.7 item 6: entry 0 is the kernel, which holds the module list and the KDBG.
  const TriageDriver& nt = d_.drivers_.front();
  auto inside = [&](std::uint64_t va) {
    if (!is64_) va = low32(va);
    return va >= nt.base && va - nt.base < nt.size;
  };
  if (d_.ps_loaded_module_list_ != 0 && !inside(d_.ps_loaded_module_list_)) {
    warn(fmt::format("PsLoadedModuleList {:#x} is not inside driver 0 ({}, {:#x}..{:#x})",
                     d_.ps_loaded_module_list_, nt.name, nt.base, nt.base + nt.size));
  }
  if (d_.kdbg_va_ != 0 && !inside(d_.kdbg_va_)) {
    warn(fmt::format("KdDebuggerDataBlock {:#x} is not inside driver 0 ({}, {:#x}..{:#x})", d_.kdbg_va_,
                     nt.name, nt.base, nt.base + nt.size));
  }
  if (f.broken_driver_offset != 0) {
    const std::uint64_t b = f.broken_driver_offset;
    if (b >= d_.driver_list_range_.offset && b < d_.driver_list_range_.end() &&
        (b - d_.driver_list_range_.offset) % d_.driver_stride_ == 0) {
      d_.broken_driver_ = std::size_t((b - d_.driver_list_range_.offset) / d_.driver_stride_);
    } else {
      warn(fmt::format("BrokenDriverOffset {:#x} is not an entry of the driver list", b));
    }
  }
}

void TriageParser::parse_data_page() {
  const TriageFields& f = d_.f_;
  if (!is64_ || f.data_page_size == 0) return;
  d_.data_page_range_ =
      section(Field{"DataPageOffset", hdr_ + offsetof(format::TriageDump64, DataPageOffset)}, f.data_page_offset, f.data_page_size, "the data page");
  if (~0ull - f.data_page_address < f.data_page_size - 1ull) {
    fail(ErrorKind::inconsistent, Field{"DataPageAddress", hdr_ + offsetof(format::TriageDump64, DataPageAddress)}, f.data_page_address,
         "the data page wraps the address space");
  }
}

void TriageParser::parse_data_blocks() {
  const TriageFields& f = d_.f_;
  if (f.data_blocks_count == 0) return;
  const Field fld = PAGEDUMP_TRIAGE_FIELD(DataBlocksOffset);
  const Field count_fld = PAGEDUMP_TRIAGE_FIELD(DataBlocksCount);
  if (f.data_blocks_offset == 0) fail(ErrorKind::inconsistent, fld, 0, "DataBlocksCount is set but no offset");
  if (f.data_blocks_offset >= f.size_of_dump) {
    fail(ErrorKind::inconsistent, fld, f.data_blocks_offset,
         fmt::format("the data-block table starts past SizeOfDump {:#x}", f.size_of_dump));
  }
  const std::uint64_t fits = (f.size_of_dump - f.data_blocks_offset) / sizeof(format::TriageDataBlock);
  if (f.data_blocks_count > fits) {
    fail(ErrorKind::inconsistent, count_fld, f.data_blocks_count,
         fmt::format("only {} entries of 16 bytes fit between DataBlocksOffset {:#x} and SizeOfDump {:#x}",
                     fits, f.data_blocks_offset, f.size_of_dump));
  }
  d_.blocks_table_range_ = {f.data_blocks_offset, f.data_blocks_count * sizeof(format::TriageDataBlock)};
  d_.blocks_.reserve(f.data_blocks_count);
  std::vector<format::TriageDataBlock> chunk;
  for (std::uint32_t first = 0; first < f.data_blocks_count; first += kDataBlockChunk) {
    const std::uint32_t n = std::min<std::uint32_t>(kDataBlockChunk, f.data_blocks_count - first);
    chunk.resize(n);
    const std::uint64_t table_at = f.data_blocks_offset + std::uint64_t(first) * sizeof(format::TriageDataBlock);
    file_.read_exact(table_at, std::as_writable_bytes(std::span(chunk)), "TRIAGE_DATA_BLOCK table");
    for (std::uint32_t k = 0; k < n; ++k) {
      const auto& e = chunk[k];
      const std::uint64_t at = table_at + std::uint64_t(k) * sizeof(format::TriageDataBlock);
      const std::string name = fmt::format("data block {} Offset", first + k);
      if (std::uint64_t(e.Offset) + e.Size > f.size_of_dump) {
        fail(ErrorKind::inconsistent, {name.c_str(), at + 8}, e.Offset,
             fmt::format("{:#x} bytes there would end at {:#x}, past SizeOfDump {:#x}", e.Size,
                         std::uint64_t(e.Offset) + e.Size, f.size_of_dump));
      }
      std::uint64_t va = e.Address;
      const std::string addr_name = fmt::format("data block {} Address", first + k);
      if (!is64_) {
        if ((va >> 32) != 0 && (va >> 32) != 0xFFFFFFFFull) {
          fail(ErrorKind::inconsistent, {addr_name.c_str(), at}, va,
               "expected a 32-bit address, zero- or sign-extended");
        }
        va = low32(va);
      }
      const std::uint64_t limit = is64_ ? ~0ull : 0xFFFFFFFFull;
      if (e.Size != 0 && limit - va < e.Size - 1ull) {
        fail(ErrorKind::inconsistent, {addr_name.c_str(), at}, va,
             fmt::format("a block of {:#x} bytes there wraps the address space", e.Size));
      }
      d_.blocks_.push_back({va, e.Offset, e.Size});
    }
  }
  // §5.7 item 7: what Windows always does, checked as a warning.
  const std::uint64_t table_end = d_.blocks_table_range_.end();
  bool sorted = true, contiguous = d_.blocks_.front().file_offset == table_end;
  for (std::size_t i = 1; i < d_.blocks_.size(); ++i) {
    if (d_.blocks_[i].file_offset < d_.blocks_[i - 1].file_offset) sorted = false;
    if (d_.blocks_[i].file_offset != d_.blocks_[i - 1].file_offset + d_.blocks_[i - 1].size) contiguous = false;
  }
  if (!sorted) warn("the data-block table is not sorted by file offset");
  if (!contiguous) {
    warn(fmt::format("the data-block contents are not back to back from the end of the table ({:#x})",
                     table_end));
  }
  std::uint64_t last_end = d_.data_page_range_.end();
  for (const auto& b : d_.blocks_) last_end = std::max(last_end, b.file_offset + b.size);
  if (last_end > f.valid_offset) {
    warn(fmt::format("data-block (or data page) contents reach {:#x}, over the \"TRGD\" marker at {:#x}", last_end,
                     f.valid_offset));
  } else {
    std::array<std::byte, 4096> buf;
    for (std::uint64_t at = last_end; at < f.valid_offset;) {
      const std::size_t n = std::size_t(std::min<std::uint64_t>(buf.size(), f.valid_offset - at));
      file_.read_exact(at, std::span(buf).first(n), "triage padding");
      auto nz = std::find_if(buf.begin(), buf.begin() + n, [](std::byte b) { return b != std::byte{0}; });
      if (nz != buf.begin() + n) {
        warn(fmt::format("non-zero byte at {:#x} between the last data block and the \"TRGD\" marker",
                         at + std::uint64_t(nz - buf.begin())));
        break;
      }
      at += n;
    }
  }
}

void TriageParser::build_regions() {
  const TriageFields& f = d_.f_;
  enum Kind { block, page, stack, kdbg };
  struct Candidate {
    TriageBlock r;
    Kind kind;
    std::size_t index;
  };
  std::vector<Candidate> c;
  c.reserve(d_.blocks_.size() + 3);
  for (std::size_t i = 0; i < d_.blocks_.size(); ++i) {
    if (d_.blocks_[i].size != 0) c.push_back({d_.blocks_[i], block, i});
  }
  if (!d_.data_page_range_.empty()) c.push_back({{f.data_page_address, d_.data_page_range_.offset, d_.data_page_range_.size}, page, 0});
  if (!d_.stack_range_.empty()) {
    c.push_back({{is64_ ? f.top_of_stack : low32(f.top_of_stack), d_.stack_range_.offset, d_.stack_range_.size}, stack, 0});
  }
  if (!d_.kdbg_range_.empty() && d_.kdbg_va_ != 0) {
    const std::uint64_t va = is64_ ? d_.kdbg_va_ : low32(d_.kdbg_va_);
    if ((is64_ ? ~0ull : 0xFFFFFFFFull) - va >= d_.kdbg_range_.size - 1) {
      c.push_back({{va, d_.kdbg_range_.offset, d_.kdbg_range_.size}, kdbg, 0});
    } else {
      warn(fmt::format("KdDebuggerDataBlock {:#x} plus the copy's size wraps; the copy is not mapped", va));
    }
  }
  // Stable: at equal addresses data blocks come first, as listed. Where ranges overlap the
  // lower one wins; the stack and KDBG copy repeat bytes the blocks hold, so only block/block
  // overlaps are reported.
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.r.address < b.r.address; });
  std::size_t overlaps = 0;
  std::string first_overlap;
  const Candidate* last = nullptr;
  for (const auto& cand : c) {
    TriageBlock r = cand.r;
    if (last != nullptr && !d_.regions_.empty()) {
      const std::uint64_t prev_end = d_.regions_.back().end();
      if (r.address < prev_end) {
        if (cand.kind == block && last->kind == block) {
          if (overlaps++ == 0) {
            first_overlap = fmt::format("data block {} at {:#x} overlaps data block {}", cand.index, r.address,
                                        last->index);
          }
        }
        if (r.end() <= prev_end) continue;
        const std::uint64_t cut = prev_end - r.address;
        r.address += cut;
        r.file_offset += cut;
        r.size -= cut;
      }
    }
    d_.regions_.push_back(r);
    last = &cand;
  }
  if (overlaps != 0) {
    warn(fmt::format("{} data block(s) overlap an earlier one in VA ({}); the lower address wins", overlaps,
                     first_overlap));
  }
}

#undef PAGEDUMP_TRIAGE_FIELD

void TriageParser::run(std::span<const std::byte> main_header) {
  const std::size_t need = is64_ ? sizeof(format::DumpHeader64) : sizeof(format::DumpHeader32);
  if (main_header.size() < need) {
    throw Error(ErrorKind::usage, fmt::format("triage dump: the main header given is {:#x} bytes, "
                                              "expected {:#x}", main_header.size(), need));
  }
  format::with_width(is64_, [&](auto width) {
    auto h = format::load<typename decltype(width)::DumpHeader>(main_header);
    d_.machine_ = h.MachineImageType;
    d_.kdbg_va_ = h.KdDebuggerDataBlock;
    d_.ps_loaded_module_list_ = h.PsLoadedModuleList;
    d_.mini_dump_fields_ = h.MiniDumpFields;
    d_.number_processors_ = h.NumberProcessors;
  });
  load_fields();
  check_extent();
  parse_context_and_exception();
  parse_mm();
  parse_unloaded();
  parse_copies();
  parse_stack();
  parse_kdbg();
  parse_drivers();
  parse_data_page();
  parse_data_blocks();
  build_regions();
}

TriageDump TriageDump::parse(const InputFile& file, bool is64, std::span<const std::byte> main_header_bytes) {
  TriageDump d;
  d.file_ = &file;
  d.is64_ = is64;
  TriageParser(d, file, is64).run(main_header_bytes);
  return d;
}

std::vector<std::byte> TriageDump::read_range(FileRange range) const {
  if (range.end() > f_.size_of_dump) {
    throw Error(ErrorKind::usage, fmt::format("triage dump: range {:#x}+{:#x} is outside the triage area",
                                              range.offset, range.size));
  }
  std::vector<std::byte> bytes(range.size);
  file_->read_exact(range.offset, bytes, "triage section");
  return bytes;
}

}  // namespace pagedump
