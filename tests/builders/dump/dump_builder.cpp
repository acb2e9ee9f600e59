#include "builders/dump/dump_builder.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "pagedump/format/bitmap.h"
#include "pagedump/format/common.h"
#include "pagedump/format/context.h"
#include "pagedump/format/rdmp.h"

namespace pagedump::test {

using namespace pagedump::format;

namespace {

constexpr std::uint64_t kPage = 0x1000;

std::uint64_t align_page(std::uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

std::uint64_t total_pages(const DumpSpec& spec) {
  std::uint64_t n = 0;
  for (const auto& r : spec.runs) n += r.page_count;
  return n;
}

template <class Context>
void put_context(std::uint8_t* area, const Context& c) {
  std::memcpy(area, &c, sizeof(c));
}

void write_context64(DumpArch arch, DumpHeader64& h) {
  if (arch == DumpArch::arm64) {
    ContextArm64 c{};
    c.ContextFlags = context_flags::kArm64 | 0x7;
    c.Cpsr = 0x60000005;
    c.X[0] = built::kReg0_64;
    for (int i = 1; i < 31; ++i) c.X[i] = 0x1000 + std::uint64_t(i);
    c.Sp = built::kSp64;
    c.Pc = built::kPc64;
    c.Fpcr = 0x3000000;
    c.Fpsr = 0x10;
    put_context(h.ContextRecord, c);
    return;
  }
  ContextAmd64 c{};
  c.ContextFlags = context_flags::kAmd64All;
  c.MxCsr = 0x1f80;
  c.FltSave.MxCsr = 0x1f80;  // kdmp-parser rejects a dump where the two differ
  c.SegCs = kernel_selectors_x64::kCs;
  c.SegDs = kernel_selectors_x64::kDs;
  c.SegEs = kernel_selectors_x64::kEs;
  c.SegFs = kernel_selectors_x64::kFs;
  c.SegGs = kernel_selectors_x64::kGs;
  c.SegSs = kernel_selectors_x64::kSs;
  c.EFlags = 0x40246;
  c.Rax = built::kReg0_64;
  c.Rcx = 0x1001;
  c.Rdx = 0x1002;
  c.Rbx = 0x1003;
  c.Rsp = built::kSp64;
  c.Rbp = 0x1005;
  c.Rsi = 0x1006;
  c.Rdi = 0x1007;
  c.R8 = 0x1008;
  c.R15 = 0x100f;
  c.Rip = built::kPc64;
  c.Dr7 = 0x400;
  put_context(h.ContextRecord, c);
}

void write_context32(DumpArch arch, DumpHeader32& h) {
  if (arch == DumpArch::arm) {
    ContextArm c{};
    c.ContextFlags = context_flags::kArm | 0x7;
    c.R[0] = built::kReg0_32;
    for (int i = 1; i < 13; ++i) c.R[i] = 0x1000 + std::uint32_t(i);
    c.Sp = built::kSp32;
    c.Lr = 0x80d10001;
    c.Pc = built::kPc32;
    c.Cpsr = 0x60000033;
    c.Fpscr = 0x3000000;
    put_context(h.ContextRecord, c);
    return;
  }
  ContextI386 c{};
  c.ContextFlags = context_flags::kI386Full;
  c.SegGs = kernel_selectors_x86::kGs;
  c.SegFs = kernel_selectors_x86::kFs;
  c.SegEs = kernel_selectors_x86::kEs;
  c.SegDs = kernel_selectors_x86::kDs;
  c.SegCs = kernel_selectors_x86::kCs;
  c.SegSs = kernel_selectors_x86::kSs;
  c.Eax = built::kReg0_32;
  c.Ecx = 0x1001;
  c.Edx = 0x1002;
  c.Ebx = 0x1003;
  c.Esp = built::kSp32;
  c.Ebp = 0x1005;
  c.Esi = 0x1006;
  c.Edi = 0x1007;
  c.Eip = built::kPc32;
  c.EFlags = 0x246;
  put_context(h.ContextRecord, c);
}

void write_comment(char (&dst)[128]) {
  std::memset(dst, 0, sizeof(dst));
  std::memcpy(dst, built::kComment, sizeof(built::kComment));
}

DumpHeader64 make_header64(const DumpSpec& spec, std::uint64_t file_size) {
  std::vector<std::byte> raw(sizeof(DumpHeader64));
  fill_page_pattern(raw);
  auto h = load<DumpHeader64>(raw);
  h.ValidDump = kValidDump64;
  h.MajorVersion = built::kMajorVersion;
  h.MinorVersion = built::kMinorVersion;
  h.DirectoryTableBase = built::kDirectoryTableBase64;
  h.PfnDataBase = built::kPfnDataBase64;
  h.PsLoadedModuleList = built::kPsLoadedModuleList64;
  h.PsActiveProcessHead = built::kPsActiveProcessHead64;
  h.MachineImageType = machine_of(spec.arch);
  h.NumberProcessors = built::kNumberProcessors;
  h.BugCheckCode = built::kBugCheckCode;
  for (int i = 0; i < 4; ++i) h.BugCheckParameter[i] = built::kBugCheckParameter[i];
  h.KdDebuggerDataBlock = built::kKdDebuggerDataBlock64;
  if (spec.dump_type == 1) {
    PhysicalMemoryDescriptor64Head head = load<PhysicalMemoryDescriptor64Head>(
        std::as_bytes(std::span(h.PhysicalMemoryBlock)));
    head.NumberOfRuns = static_cast<std::uint32_t>(spec.runs.size());
    head.NumberOfPages = total_pages(spec);
    std::memcpy(h.PhysicalMemoryBlock, &head, sizeof(head));
    for (std::size_t i = 0; i < spec.runs.size() && i < kMaxRuns64; ++i) {
      PhysicalMemoryRun64 r{spec.runs[i].base_page, spec.runs[i].page_count};
      std::memcpy(h.PhysicalMemoryBlock + sizeof(head) + i * sizeof(r), &r, sizeof(r));
    }
  }
  write_context64(spec.arch, h);
  h.Exception.ExceptionCode = built::kExceptionCode;
  h.Exception.ExceptionFlags = kExceptionNoncontinuable;
  h.Exception.ExceptionRecord = 0;
  h.Exception.ExceptionAddress = built::kPc64;
  h.Exception.NumberParameters = 1;
  h.Exception.ExceptionInformation[0] = 0;
  h.DumpType = spec.dump_type;
  h.RequiredDumpSpace = file_size;
  h.SystemTime = built::kSystemTime;
  write_comment(h.Comment);
  h.SystemUpTime = built::kSystemUpTime;
  h.ProductType = built::kProductType;
  h.SuiteMask = built::kSuiteMask;
  h.WriterStatus = 0;
  h.Attributes = built::kAttributes;
  if (spec.edit_header64) spec.edit_header64(h);
  return h;
}

DumpHeader32 make_header32(const DumpSpec& spec, std::uint64_t file_size) {
  std::vector<std::byte> raw(sizeof(DumpHeader32));
  fill_page_pattern(raw);
  auto h = load<DumpHeader32>(raw);
  h.ValidDump = kValidDump32;
  h.MajorVersion = built::kMajorVersion;
  h.MinorVersion = built::kMinorVersion;
  h.DirectoryTableBase = built::kDirectoryTableBase32;
  h.PfnDataBase = built::kPfnDataBase32;
  h.PsLoadedModuleList = built::kPsLoadedModuleList32;
  h.PsActiveProcessHead = built::kPsActiveProcessHead32;
  h.MachineImageType = machine_of(spec.arch);
  h.NumberProcessors = built::kNumberProcessors;
  h.BugCheckCode = built::kBugCheckCode;
  for (int i = 0; i < 4; ++i) {
    h.BugCheckParameter[i] = static_cast<std::uint32_t>(built::kBugCheckParameter[i]);
  }
  h.PaeEnabled = spec.arch == DumpArch::x86_pae ? 1 : 0;
  h.KdDebuggerDataBlock = built::kKdDebuggerDataBlock32;
  if (spec.dump_type == 1) {
    PhysicalMemoryDescriptor32Head head{static_cast<std::uint32_t>(spec.runs.size()),
                                        static_cast<std::uint32_t>(total_pages(spec))};
    std::memcpy(h.PhysicalMemoryBlock, &head, sizeof(head));
    for (std::size_t i = 0; i < spec.runs.size() && i < kMaxRuns32; ++i) {
      PhysicalMemoryRun32 r{static_cast<std::uint32_t>(spec.runs[i].base_page),
                            static_cast<std::uint32_t>(spec.runs[i].page_count)};
      std::memcpy(h.PhysicalMemoryBlock + sizeof(head) + i * sizeof(r), &r, sizeof(r));
    }
  }
  write_context32(spec.arch, h);
  h.Exception.ExceptionCode = built::kExceptionCode;
  h.Exception.ExceptionFlags = kExceptionNoncontinuable;
  h.Exception.ExceptionRecord = 0;
  h.Exception.ExceptionAddress = built::kPc32;
  h.Exception.NumberParameters = 1;
  h.Exception.ExceptionInformation[0] = 0;
  write_comment(h.Comment);
  h.Attributes = built::kAttributes;
  h.DumpType = spec.dump_type;
  h.ProductType = built::kProductType;
  h.SuiteMask = built::kSuiteMask;
  h.WriterStatus = 0;
  h.RequiredDumpSpace = file_size;
  h.SystemUpTime = built::kSystemUpTime;
  h.SystemTime = built::kSystemTime;
  if (spec.edit_header32) spec.edit_header32(h);
  return h;
}

template <class T>
void put(std::vector<std::byte>& file, std::uint64_t offset, const T& v) {
  if (file.size() < offset + sizeof(T)) file.resize(offset + sizeof(T));
  std::memcpy(file.data() + offset, &v, sizeof(T));
}

std::uint64_t default_bitmap_bits(const DumpSpec& spec) {
  std::uint64_t end = 0;
  for (const auto& r : spec.runs) end = std::max(end, r.base_page + r.page_count);
  return std::max<std::uint64_t>(64, (end + 63) / 64 * 64);
}

// Writes the bitmap bits for spec.runs at `at`.
void put_bitmap(std::vector<std::byte>& file, std::uint64_t at, std::uint64_t bits,
                const DumpSpec& spec) {
  file.resize(std::max<std::uint64_t>(file.size(), at + (bits + 7) / 8));
  std::fill(file.begin() + static_cast<std::ptrdiff_t>(at),
            file.begin() + static_cast<std::ptrdiff_t>(at + (bits + 7) / 8), std::byte{0});
  for (const auto& r : spec.runs) {
    for (std::uint64_t p = r.base_page; p < r.base_page + r.page_count && p < bits; ++p) {
      file[at + p / 8] |= std::byte(1u << (p % 8));
    }
  }
}

}  // namespace

bool is_64bit(DumpArch arch) { return arch == DumpArch::x64 || arch == DumpArch::arm64; }

std::uint32_t machine_of(DumpArch arch) {
  switch (arch) {
    case DumpArch::x64: return machine::kAmd64;
    case DumpArch::arm64: return machine::kArm64;
    case DumpArch::x86_pae:
    case DumpArch::x86: return machine::kI386;
    case DumpArch::arm: return machine::kArmNt;
  }
  return 0;
}

std::byte page_byte(std::uint64_t pfn, std::uint64_t offset) {
  if (offset < 8) return std::byte(pfn >> (8 * offset));  // the PFN, readable in a hex dump
  std::uint64_t x = (pfn + 1) * 0x9E3779B97F4A7C15ull ^ offset * 0xBF58476D1CE4E5B9ull;
  return std::byte(x >> 56);
}

void fill_page(std::uint64_t pfn, std::span<std::byte> page) {
  for (std::size_t i = 0; i < page.size(); ++i) page[i] = page_byte(pfn, i);
}

BuiltDump build_dump(const DumpSpec& spec) {
  BuiltDump out;
  const bool is64 = is_64bit(spec.arch);
  out.header_size = is64 ? kHeaderSize64 : kHeaderSize32;
  out.stored_pages = total_pages(spec);
  std::vector<std::byte>& file = out.bytes;
  file.resize(out.header_size);
  const std::uint64_t hs = out.header_size;

  // The type-specific header and where pages start.
  switch (spec.dump_type) {
    case 1: out.first_page_offset = hs; break;
    case 2: {
      std::uint64_t bits = spec.bitmap_bits ? spec.bitmap_bits : default_bitmap_bits(spec);
      std::uint64_t head = is64 ? sizeof(SummaryDump64) : sizeof(SummaryDump32);
      out.type_header_offset = hs;
      out.bitmap_offset = hs + head;
      out.first_page_offset = align_page(out.bitmap_offset + (bits + 7) / 8);
      SummaryDump64 s{};
      s.Signature = kSummaryDumpSignature;
      s.ValidDump = kBitmapValidDump;
      s.DumpOptions = 0;
      s.HeaderSize = static_cast<std::uint32_t>(out.first_page_offset);
      s.BitmapSize = static_cast<std::uint32_t>(bits);
      s.Pages = static_cast<std::uint32_t>(out.stored_pages);
      s.SizeOfBitMap = static_cast<std::uint32_t>(bits);
      if (is64) {
        put(file, hs, s);
      } else {
        SummaryDump32 s32{};
        std::memcpy(&s32, &s, 0x1C);
        put(file, hs, s32);
      }
      put_bitmap(file, out.bitmap_offset, bits, spec);
      break;
    }
    case 5:
    case 6: {
      std::uint64_t bits = spec.bitmap_bits ? spec.bitmap_bits : default_bitmap_bits(spec);
      out.type_header_offset = hs;
      out.bitmap_offset = hs + kBitmapBitsOffset;
      out.first_page_offset = align_page(out.bitmap_offset + (bits + 7) / 8);
      std::vector<std::byte> raw(sizeof(BitmapDumpHeader));
      fill_page_pattern(raw);
      auto b = load<BitmapDumpHeader>(raw);
      b.Signature = spec.bitmap_signature ? spec.bitmap_signature
                    : spec.dump_type == 5 ? kFullDumpSignature
                                          : kSummaryDumpSignature;
      b.ValidDump = kBitmapValidDump;
      b.DumpOptions = 0;
      b.FirstPage = out.first_page_offset;
      b.PresentPages = out.stored_pages;
      b.BitmapBits = bits;
      put(file, hs, b);
      put_bitmap(file, out.bitmap_offset, bits, spec);
      break;
    }
    case 8:
    case 9:
    case 0xA: {
      out.type_header_offset = hs;
      // Types 8/9 end the list with a zero PFN; 0xA counts it.
      std::uint64_t slots = spec.runs.size() + (spec.dump_type == 0xA ? 0 : 1);
      out.first_page_offset = align_page(hs + kRdmpKernelRangesOffset + slots * sizeof(RdmpRange));
      RdmpHeader64 r{};
      r.Marker = kRdmpMarker;
      r.Signature = kRdmpSignature;
      r.ValidDump = kRdmpValidDump;
      r.FirstPageOffset = out.first_page_offset;
      r.MetadataSize = out.first_page_offset - (hs + 0x40) + 0x20;
      file.resize(out.first_page_offset, std::byte{0});
      put(file, hs, r);
      if (spec.dump_type == 0xA) {
        RdmpFullRangeHeader f{};
        f.NumberOfRanges = static_cast<std::uint32_t>(spec.runs.size());
        f.TotalNumberOfPages = out.stored_pages;
        put(file, hs + kRdmpFullRangeHeaderOffset, f);
      }
      for (std::size_t i = 0; i < spec.runs.size(); ++i) {
        RdmpRange range{spec.runs[i].base_page, spec.runs[i].page_count};
        put(file, hs + kRdmpKernelRangesOffset + i * sizeof(RdmpRange), range);
      }
      break;
    }
    default: out.first_page_offset = hs; break;  // 3, 4 and others: header only
  }

  bool has_pages = spec.dump_type == 1 || spec.dump_type == 2 || spec.dump_type == 5 ||
                   spec.dump_type == 6 || spec.dump_type >= 8;
  if (!has_pages) out.stored_pages = 0;
  if (has_pages) {
    file.resize(out.first_page_offset + out.stored_pages * kPage);
    std::uint64_t n = 0;
    for (const auto& r : spec.runs) {
      for (std::uint64_t p = r.base_page; p < r.base_page + r.page_count; ++p, ++n) {
        fill_page(p, std::span(file).subspan(out.first_page_offset + n * kPage, kPage));
      }
    }
  }

  const std::uint64_t size = file.size();
  if (is64) {
    auto h = make_header64(spec, size);
    std::memcpy(file.data(), &h, sizeof(h));
  } else {
    auto h = make_header32(spec, size);
    std::memcpy(file.data(), &h, sizeof(h));
  }
  if (spec.edit_file) spec.edit_file(file);
  if (spec.truncate_to && *spec.truncate_to < file.size()) file.resize(*spec.truncate_to);
  return out;
}

BuiltDump write_dump(const std::filesystem::path& path, const DumpSpec& spec) {
  BuiltDump d = build_dump(spec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(d.bytes.data()),
          static_cast<std::streamsize>(d.bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path.string());
  return d;
}

}  // namespace pagedump::test
