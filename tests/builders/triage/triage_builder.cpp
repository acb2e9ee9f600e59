#include "triage_builder.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/exception_record.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"

namespace pagedump::test {

using namespace pagedump::format;

namespace {

class Writer {
 public:
  std::vector<std::byte> bytes;
  std::uint64_t append(std::span<const std::byte> b) {
    const std::uint64_t at = bytes.size();
    bytes.insert(bytes.end(), b.begin(), b.end());
    return at;
  }
  template <class T>
  std::uint64_t append_struct(const T& v) {
    return append(std::as_bytes(std::span(&v, 1)));
  }
  std::uint64_t zeros(std::size_t n) {
    const std::uint64_t at = bytes.size();
    bytes.resize(bytes.size() + n);
    return at;
  }
};

std::uint64_t sign_extend32(std::uint64_t va) {
  if (va <= 0xFFFFFFFFull && (va & 0x80000000ull) != 0) return va | 0xFFFFFFFF00000000ull;
  return va;
}

}  // namespace

void BuiltTriage::write(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

BuiltTriage build_triage_dump(const TriageSpec& s) {
  BuiltTriage out;
  TriageLayout& L = out.layout;
  Writer w;
  const bool x64 = s.is64;
  const std::uint32_t machine = s.machine != 0 ? s.machine : (x64 ? machine::kAmd64 : machine::kI386);
  const std::size_t header_size = x64 ? kHeaderSize64 : kHeaderSize32;
  w.zeros(header_size);
  fill_page_pattern(w.bytes);
  L.triage_header = w.zeros(x64 ? sizeof(TriageDump64) : sizeof(TriageDump32));

  // Context and exception live in the main header, as on Windows.
  const std::size_t ctx_at = x64 ? offsetof(DumpHeader64, ContextRecord) : offsetof(DumpHeader32, ContextRecord);
  const std::size_t ctx_cap = x64 ? sizeof(DumpHeader64::ContextRecord) : sizeof(DumpHeader32::ContextRecord);
  const std::size_t exc_at = x64 ? offsetof(DumpHeader64, Exception) : offsetof(DumpHeader32, Exception);
  const std::size_t exc_size = x64 ? sizeof(ExceptionRecord64) : sizeof(ExceptionRecord32);
  if (s.context.size() > ctx_cap || s.exception.size() > exc_size) throw std::invalid_argument("context/exception too big");
  if (!s.context.empty()) {
    std::copy(s.context.begin(), s.context.end(), w.bytes.begin() + std::ptrdiff_t(ctx_at));
    L.context = ctx_at;
  }
  if (!s.exception.empty()) {
    std::copy(s.exception.begin(), s.exception.end(), w.bytes.begin() + std::ptrdiff_t(exc_at));
    L.exception = exc_at;
  }

  // MM storage.
  if (x64) {
    DumpMmStorage64 mm{};
    mm.Version = 1;
    mm.Size = sizeof mm;
    mm.MmSpecialPoolTag = s.mm_special_pool_tag;
    mm.CommittedPages = s.mm_committed_pages;
    L.mm = w.append_struct(mm);
  } else {
    DumpMmStorage32 mm{};
    mm.Version = 1;
    mm.Size = sizeof mm;
    mm.MmSpecialPoolTag = s.mm_special_pool_tag;
    mm.CommittedPages = std::uint32_t(s.mm_committed_pages);
    L.mm = w.append_struct(mm);
  }

  // Unloaded drivers.
  L.unloaded = w.zeros(x64 ? kUnloadedDriversHeader64 : kUnloadedDriversHeader32);
  store(w.bytes, L.unloaded, std::uint32_t(s.unloaded.size()));
  for (const auto& u : s.unloaded) {
    const auto len = std::uint16_t(u.name.size() * 2);
    if (x64) {
      DumpUnloadedDriver64 e{};
      e.NameLength = e.NameMaximumLength = len;
      std::copy_n(u.name.begin(), std::min<std::size_t>(u.name.size(), 12), e.DriverName);
      e.StartAddress = u.start;
      e.EndAddress = u.end;
      w.append_struct(e);
    } else {
      DumpUnloadedDriver32 e{};
      e.NameLength = e.NameMaximumLength = len;
      std::copy_n(u.name.begin(), std::min<std::size_t>(u.name.size(), 12), e.DriverName);
      e.StartAddress = std::uint32_t(u.start);
      e.EndAddress = std::uint32_t(u.end);
      w.append_struct(e);
    }
  }

  if (!s.prcb.empty()) L.prcb = w.append(s.prcb);
  if (!s.process.empty()) L.process = w.append(s.process);
  if (!s.thread.empty()) L.thread = w.append(s.thread);
  if (!s.stack.empty()) L.stack = w.append(s.stack);
  if (!s.kdbg.empty()) L.kdbg = w.append(s.kdbg);

  // Driver list, then the string pool right after it.
  const std::uint32_t natural = x64 ? sizeof(DumpDriverEntry64) : sizeof(DumpDriverEntry32);
  const std::uint32_t stride = s.driver_stride != 0 ? s.driver_stride : natural;
  if (!s.drivers.empty()) {
    L.driver_list = w.zeros(std::size_t(stride) * s.drivers.size());
    L.string_pool = w.bytes.size();
    for (std::size_t i = 0; i < s.drivers.size(); ++i) {
      const auto& d = s.drivers[i];
      const std::uint64_t str = w.zeros(dump_string_record_size(std::uint32_t(d.path.size())));
      store(w.bytes, str, std::uint32_t(d.path.size()));
      std::memcpy(w.bytes.data() + str + 4, d.path.data(), d.path.size() * 2);
      L.driver_strings.push_back(str);
      const std::uint64_t at = L.driver_list + i * stride;
      if (x64) {
        DumpDriverEntry64 e{};
        e.DriverNameOffset = std::uint32_t(str);
        e.DllBase = d.base;
        e.SizeOfImage = d.size;
        e.CheckSum = d.checksum;
        e.TimeDateStamp = d.timestamp;
        std::memcpy(w.bytes.data() + at, &e, std::min<std::size_t>(sizeof e, stride));
      } else {
        DumpDriverEntry32 e{};
        e.DriverNameOffset = std::uint32_t(str);
        e.DllBase = std::uint32_t(d.base);
        e.SizeOfImage = std::uint32_t(d.size);
        e.CheckSum = d.checksum;
        e.TimeDateStamp = d.timestamp;
        std::memcpy(w.bytes.data() + at, &e, std::min<std::size_t>(sizeof e, stride));
      }
    }
    L.string_pool_size = w.bytes.size() - L.string_pool;
  }

  // Data-block table, then the contents back to back.
  if (!s.blocks.empty()) {
    L.blocks_table = w.zeros(s.blocks.size() * sizeof(TriageDataBlock));
    L.block_data = w.bytes.size();
    for (std::size_t i = 0; i < s.blocks.size(); ++i) {
      const auto& b = s.blocks[i];
      const std::uint64_t at = w.append(b.bytes);
      L.block_offsets.push_back(at);
      TriageDataBlock e{x64 ? b.address : sign_extend32(b.address), std::uint32_t(at), std::uint32_t(b.bytes.size())};
      store(w.bytes, L.blocks_table + i * sizeof e, e);
    }
  }
  if (!s.data_page.bytes.empty()) {
    if (!x64) throw std::invalid_argument("TRIAGE_DUMP32 has no data page fields");
    L.data_page = w.append(s.data_page.bytes);
  }
  w.zeros(s.padding_before_marker);
  L.valid_offset = w.zeros(4);
  if (s.write_marker) store(w.bytes, L.valid_offset, kTriageValid);
  L.size_of_dump = w.bytes.size();
  w.append(s.after_size_of_dump);

  // Triage header.
  auto u32 = [](std::uint64_t v) { return std::uint32_t(v); };
  const std::uint32_t broken = s.broken_driver_index < s.drivers.size()
                                   ? u32(L.driver_list + std::uint64_t(s.broken_driver_index) * stride)
                                   : 0;
  if (x64) {
    TriageDump64 t{};
    t.ServicePackBuild = s.service_pack_build;
    t.SizeOfDump = u32(L.size_of_dump);
    t.ValidOffset = u32(L.valid_offset);
    t.ContextOffset = u32(L.context);
    t.ExceptionOffset = u32(L.exception);
    t.MmOffset = u32(L.mm);
    t.UnloadedDriversOffset = u32(L.unloaded);
    t.PrcbOffset = u32(L.prcb);
    t.ProcessOffset = u32(L.process);
    t.ThreadOffset = u32(L.thread);
    t.CallStackOffset = u32(L.stack);
    t.SizeOfCallStack = u32(s.stack.size());
    t.DriverListOffset = u32(L.driver_list);
    t.DriverCount = u32(s.drivers.size());
    t.StringPoolOffset = u32(L.string_pool);
    t.StringPoolSize = u32(L.string_pool_size);
    t.BrokenDriverOffset = broken;
    t.TriageOptions = s.triage_options;
    t.TopOfStack = s.top_of_stack;
    t.DataPageAddress = s.data_page.bytes.empty() ? 0 : s.data_page.address;
    t.DataPageOffset = u32(L.data_page);
    t.DataPageSize = u32(s.data_page.bytes.size());
    t.DebuggerDataOffset = u32(L.kdbg);
    t.DebuggerDataSize = u32(s.kdbg.size());
    t.DataBlocksOffset = u32(L.blocks_table);
    t.DataBlocksCount = u32(s.blocks.size());
    store(w.bytes, L.triage_header, t);
  } else {
    TriageDump32 t{};
    t.ServicePackBuild = s.service_pack_build;
    t.SizeOfDump = u32(L.size_of_dump);
    t.ValidOffset = u32(L.valid_offset);
    t.ContextOffset = u32(L.context);
    t.ExceptionOffset = u32(L.exception);
    t.MmOffset = u32(L.mm);
    t.UnloadedDriversOffset = u32(L.unloaded);
    t.PrcbOffset = u32(L.prcb);
    t.ProcessOffset = u32(L.process);
    t.ThreadOffset = u32(L.thread);
    t.CallStackOffset = u32(L.stack);
    t.SizeOfCallStack = u32(s.stack.size());
    t.DriverListOffset = u32(L.driver_list);
    t.DriverCount = u32(s.drivers.size());
    t.StringPoolOffset = u32(L.string_pool);
    t.StringPoolSize = u32(L.string_pool_size);
    t.BrokenDriverOffset = broken;
    t.TriageOptions = s.triage_options;
    t.TopOfStack = u32(s.top_of_stack);
    t.DebuggerDataOffset = u32(L.kdbg);
    t.DebuggerDataSize = u32(s.kdbg.size());
    t.DataBlocksOffset = u32(L.blocks_table);
    t.DataBlocksCount = u32(s.blocks.size());
    store(w.bytes, L.triage_header, t);
  }

  // Main header fields a triage reader consults.
  if (x64) {
    store(w.bytes, offsetof(DumpHeader64, Signature), kSignaturePage);
    store(w.bytes, offsetof(DumpHeader64, ValidDump), kValidDump64);
    store(w.bytes, offsetof(DumpHeader64, MajorVersion), std::uint32_t(0xF));
    store(w.bytes, offsetof(DumpHeader64, MinorVersion), s.build);
    store(w.bytes, offsetof(DumpHeader64, PsLoadedModuleList), s.ps_loaded_module_list);
    store(w.bytes, offsetof(DumpHeader64, MachineImageType), machine);
    store(w.bytes, offsetof(DumpHeader64, NumberProcessors), s.processors);
    store(w.bytes, offsetof(DumpHeader64, BugCheckCode), s.bugcheck_code);
    store(w.bytes, offsetof(DumpHeader64, KdDebuggerDataBlock), s.kd_debugger_data_block);
    store(w.bytes, offsetof(DumpHeader64, DumpType), std::uint32_t(4));
    store(w.bytes, offsetof(DumpHeader64, MiniDumpFields), triage_fields::kWindows);
  } else {
    store(w.bytes, offsetof(DumpHeader32, Signature), kSignaturePage);
    store(w.bytes, offsetof(DumpHeader32, ValidDump), kValidDump32);
    store(w.bytes, offsetof(DumpHeader32, MajorVersion), std::uint32_t(0xF));
    store(w.bytes, offsetof(DumpHeader32, MinorVersion), s.build);
    store(w.bytes, offsetof(DumpHeader32, PsLoadedModuleList), std::uint32_t(s.ps_loaded_module_list));
    store(w.bytes, offsetof(DumpHeader32, MachineImageType), machine);
    store(w.bytes, offsetof(DumpHeader32, NumberProcessors), s.processors);
    store(w.bytes, offsetof(DumpHeader32, BugCheckCode), s.bugcheck_code);
    store(w.bytes, offsetof(DumpHeader32, KdDebuggerDataBlock), std::uint32_t(s.kd_debugger_data_block));
    store(w.bytes, offsetof(DumpHeader32, DumpType), std::uint32_t(4));
    store(w.bytes, offsetof(DumpHeader32, MiniDumpFields), triage_fields::kWindows);
  }
  out.bytes = std::move(w.bytes);
  return out;
}

namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(std::uint8_t(seed + i * 7));
  return v;
}

template <class T>
std::vector<std::byte> bytes_of(const T& v, std::size_t size = sizeof(T)) {
  std::vector<std::byte> b(size);
  std::memcpy(b.data(), &v, std::min(size, sizeof(T)));
  return b;
}

}  // namespace

TriageSpec typical_triage_spec(bool is64) {
  using namespace typical;
  TriageSpec s;
  s.is64 = is64;
  s.processors = 2;
  const std::uint64_t kern = is64 ? kKernBase64 : kKernBase32;
  // Kernel-side VAs, and the ones KDBG stores (sign-extended on 32-bit, reference §6.1).
  auto kdbg_ptr = [&](std::uint64_t va) { return is64 ? va : sign_extend32(va); };
  const std::uint64_t kdbg_va = kern + 0xc00b20;
  const std::uint64_t prcb_block_va = kern + 0xcfdc80;  // KiProcessorBlock
  const std::uint64_t prcb0 = is64 ? 0xfffff800122d4180ull : 0x81ad4120ull;
  const std::uint64_t prcb1 = is64 ? 0xffff9b0000300180ull : 0x9a300120ull;
  const std::uint64_t ctx_va = is64 ? 0xffff9b0000200340ull : 0x9a200340ull;
  const std::uint64_t thread_va = is64 ? 0xffffc60000400080ull : 0x9c400080ull;
  s.kd_debugger_data_block = kdbg_va;
  s.ps_loaded_module_list = kern + 0xc2a270;

  // KDBG copy.
  KdDebuggerData64 k{};
  k.Header.OwnerTag = kKdbgOwnerTag;
  k.Header.Size = kdbg_size::kWin10_1809;
  k.KernBase = kdbg_ptr(kern);
  k.PsLoadedModuleList = kdbg_ptr(s.ps_loaded_module_list);
  k.KiProcessorBlock = kdbg_ptr(prcb_block_va);
  k.SizePrcb = std::uint16_t(is64 ? kSizePrcb64 : kSizePrcb32);
  k.SizeEProcess = std::uint16_t(is64 ? kSizeEProcess64 : kSizeEProcess32);
  k.SizeEThread = std::uint16_t(is64 ? kSizeEThread64 : kSizeEThread32);
  k.OffsetPrcbNumber = is64 ? kOffsetPrcbNumber64 : kOffsetPrcbNumber32;
  k.OffsetPrcbContext = is64 ? kOffsetPrcbContext64 : kOffsetPrcbContext32;
  k.OffsetPrcbProcStateContext = is64 ? 0x1f0 : kOffsetPrcbProcState32;
  k.OffsetPrcbCurrentThread = is64 ? 8 : 4;
  s.kdbg = bytes_of(k, kdbg_size::kWin10_1809);

  // The processor's own CONTEXT (what WinDbg shows) and the faulting one in the header.
  std::vector<std::byte> cpu_ctx, fault_ctx;
  if (is64) {
    ContextAmd64 c{};
    c.ContextFlags = context_flags::kAmd64 | 0xF;
    c.SegCs = kernel_selectors_x64::kCs;
    c.Rip = kCpuRip64;
    c.Rsp = kCpuRsp64;
    c.Rcx = kCpuRcx64;
    c.R15 = kern;
    cpu_ctx = bytes_of(c);
    c.Rip = kFaultRip64;
    c.Rsp = kCpuRsp64 + 0x1000;
    fault_ctx = bytes_of(c);
  } else {
    ContextI386 c{};
    c.ContextFlags = context_flags::kI386Full;
    c.SegCs = kernel_selectors_x86::kCs;
    c.Eip = kCpuEip32;
    c.Esp = kCpuEsp32;
    c.Ecx = kCpuEcx32;
    cpu_ctx = bytes_of(c);
    c.Eip = kFaultEip32;
    fault_ctx = bytes_of(c);
  }
  s.context = fault_ctx;
  if (is64) {
    ExceptionRecord64 e{};
    e.ExceptionCode = kStatusBreakpoint;
    e.ExceptionFlags = kExceptionNoncontinuable;
    e.ExceptionAddress = kCpuRip64;
    s.exception = bytes_of(e);
  } else {
    ExceptionRecord32 e{};
    e.ExceptionCode = kStatusBreakpoint;
    e.ExceptionFlags = kExceptionNoncontinuable;
    e.ExceptionAddress = kCpuEip32;
    s.exception = bytes_of(e);
  }

  // KPRCB copy of processor 1: Number, CurrentThread and the CONTEXT pointer set.
  s.prcb = pattern(is64 ? kSizePrcb64 : kSizePrcb32, 0x11);
  const std::size_t ptr = is64 ? 8 : 4;
  auto put_ptr = [&](std::vector<std::byte>& b, std::size_t at, std::uint64_t v) { std::memcpy(b.data() + at, &v, ptr); };
  store(s.prcb, k.OffsetPrcbNumber, std::uint16_t(kPrcbNumber));
  put_ptr(s.prcb, k.OffsetPrcbCurrentThread, thread_va);
  put_ptr(s.prcb, k.OffsetPrcbContext, ctx_va);
  s.process = pattern(is64 ? kSizeEProcess64 : kSizeEProcess32, 0x22);
  s.thread = pattern(is64 ? kSizeEThread64 : kSizeEThread32, 0x33);
  s.top_of_stack = is64 ? 0xffff850000010ee8ull : 0x9a010ee8ull;
  s.stack = pattern(0x1118, 0x44);

  s.unloaded = {{u"dam.sys", kern + 0x5000000, kern + 0x501c000},
                {u"averylongdrivername.sys", kern + 0x6000000, kern + 0x6011000}};
  s.drivers = {{u"\\SystemRoot\\system32\\ntoskrnl.exe", kern, 0x1046000, 0xa5938c, 0x0D8333E6},
               {u"\\SystemRoot\\system32\\hal.dll", kern - 0x2000000, 0x6000, 0xce9f, 0x1a7be8e9},
               {u"\\SystemRoot\\System32\\drivers\\amdppm.sys", kern + 0x9000000, 0x3b000, 0x38e6b, 0xc9c03000}};

  // Data blocks as Windows adds them: KiProcessorBlock, the KPRCB at its VA, the CONTEXT it
  // points to and, right after it, a block that touches it; 8 bytes at the ETHREAD.
  std::vector<std::byte> array(2 * ptr);
  put_ptr(array, 0, prcb0);
  put_ptr(array, ptr, prcb1);
  s.blocks.push_back({prcb_block_va, array});
  s.blocks.push_back({prcb1, s.prcb});
  s.blocks.push_back({ctx_va, cpu_ctx});
  s.blocks.push_back({ctx_va + cpu_ctx.size(), pattern(0x30, 0x55)});
  s.blocks.push_back({thread_va, pattern(8, 0x66)});
  return s;
}

}  // namespace pagedump::test
