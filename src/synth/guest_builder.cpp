// Builds the synthetic Windows guest described in guest.h. The layout follows a real
// Windows 10 19041 x64 machine (addresses from the triage sample, reference §5.5) or a
// Windows 7 SP1 x86 PAE one; offsets come from windows_layouts.h, which cites its sources.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>

#include "pagedump/synth/guest.h"
#include "pagedump/synth/guest_paging.h"
#include "pagedump/synth/kd_copy_data_block.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/pe.h"
#include "pagedump/format/version_block.h"
#include "pagedump/io/input_file.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "pagedump/synth/pe_builder.h"
#include "pagedump/synth/sample_templates.h"
#include "pagedump/synth/windows_layouts.h"

namespace pagedump::synth {

using namespace pagedump::format;

namespace {

constexpr std::uint64_t kMiB = 0x100000;
constexpr std::uint64_t k2M = 0x200000;

std::uint64_t sign_extend32(std::uint64_t v) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
}

// Addresses of the Windows 10 19041 x64 machine behind the triage sample (its KDBG, driver
// list and data blocks; reference §5.5 and the samples README). Used with or without the
// sample, so both guests agree.
namespace x64_addr {
constexpr std::uint64_t kKernelBase = 0xfffff8047ba00000ull;
constexpr std::uint32_t kKernelSize = 0x1046000;
constexpr std::uint32_t kKernelChecksum = 0x00a5938c;
constexpr std::uint32_t kKernelTimestamp = 0x0d8333e6;
constexpr std::uint32_t kKdbgRva = 0xC00B20;              // header.KdDebuggerDataBlock
constexpr std::uint32_t kDebuggerDataListRva = 0xC40770;  // KDBG.Header.List
constexpr std::uint32_t kPsLoadedModuleListRva = 0xC2A390;
constexpr std::uint32_t kPsActiveProcessHeadRva = 0xC1E200;
constexpr std::uint32_t kKiBugcheckDataRva = 0xC31480;
constexpr std::uint32_t kNtBuildLabRva = 0xC4C0A0;
constexpr std::uint32_t kMmPhysicalMemoryBlockRva = 0xCFC4A8;
constexpr std::uint32_t kMmPfnDatabaseRva = 0xCFC500;
constexpr std::uint32_t kKiProcessorBlockRva = 0xCFDC80;
constexpr std::uint32_t kKeBugCheckExRva = 0x3F5A80;       // the sample's CONTEXT rip
constexpr std::uint64_t kPteBase = 0xfffffd8000000000ull;  // KDBG.PteBase
constexpr std::uint64_t kDtb = 0x1ad000;                   // header.DirectoryTableBase
// KiProcessorBlock[] of the sample (16 processors).
constexpr std::uint64_t kPrcbs[16] = {
    0xfffff804782d4180, 0xffff9b0002300180, 0xffff9b00023c0180, 0xffff9b00024c0180,
    0xffff9b0002581180, 0xffff9b00026c0180, 0xffff9b00027c0180, 0xffff9b00028c0180,
    0xffff9b00029c0180, 0xffff9b0002ac0180, 0xffff9b0002bc0180, 0xffff9b0002cc0180,
    0xffff9b0002dc0180, 0xffff9b0002ec0180, 0xffff9b0002f81180, 0xffff9b00030c0180};
// Not in the sample: our choices, placed where the real kernel keeps such variables.
constexpr std::uint32_t kVersionBlockRva = 0xC00A80;   // .data, near the KDBG
constexpr std::uint32_t kEncodedFlagRva = 0xC3C8E0;    // .data
constexpr std::uint32_t kNtBuildNumberRva = 0xC2E008;  // .data
constexpr std::uint32_t kPsInitialSystemProcessRva = 0xCFC440;
constexpr std::uint32_t kKeNumberProcessorsRva = 0xCFB0C8;
constexpr std::uint32_t kWaitNeverRva = 0xD00008;           // ALMOSTRO
constexpr std::uint32_t kWaitAlwaysRva = 0xD00110;          // ALMOSTRO
constexpr std::uint32_t kKdCopyDataBlockRva = 0x3A1C20;     // .text
constexpr std::uint32_t kLmTargetRva = 0x3FC010;            // .text
constexpr std::uint32_t kIdtHandlersRva = 0x3E0000;         // .text: KiDivideErrorFault...
constexpr std::uint32_t kIdleRva = 0x3FA2D0;                // .text
constexpr std::uint32_t kExportRva = 0xA10000;              // .rdata
constexpr std::uint32_t kDebugRva = 0xA00100;               // .rdata
constexpr std::uint64_t kPoolBase = 0xffffc08bdd000000ull;  // where the sample's objects live
constexpr std::uint64_t kPfnDatabase = 0xffffe70000000000ull;
}  // namespace x64_addr

// Windows 7 SP1 x86 PAE: our own choices in the ranges such a machine uses.
namespace x86_addr {
constexpr std::uint64_t kKernelBase = 0x82a4d000;
constexpr std::uint32_t kKernelSize = 0x412000;
constexpr std::uint32_t kKernelChecksum = 0x003c7d8a;
constexpr std::uint32_t kKernelTimestamp = 0x4ce7951a;
constexpr std::uint64_t kDtb = 0x185000;
constexpr std::uint32_t kKdbgRva = 0x12BC28;
constexpr std::uint32_t kVersionBlockRva = 0x12BB88;
constexpr std::uint32_t kDebuggerDataListRva = 0x12BC00;
constexpr std::uint32_t kPsLoadedModuleListRva = 0x123850;
constexpr std::uint32_t kPsActiveProcessHeadRva = 0x123DB0;
constexpr std::uint32_t kKiBugcheckDataRva = 0x12D9E0;
constexpr std::uint32_t kNtBuildLabRva = 0x104A40;
constexpr std::uint32_t kMmPhysicalMemoryBlockRva = 0x13A8C0;
constexpr std::uint32_t kMmPfnDatabaseRva = 0x13A870;
constexpr std::uint32_t kKiProcessorBlockRva = 0x12F9C0;
constexpr std::uint32_t kNtBuildNumberRva = 0x12C3D0;
constexpr std::uint32_t kPsInitialSystemProcessRva = 0x13A868;
constexpr std::uint32_t kKeNumberProcessorsRva = 0x13A880;
constexpr std::uint32_t kKeBugCheckExRva = 0xEF124;
constexpr std::uint32_t kIdtHandlersRva = 0x40000;
constexpr std::uint32_t kIdleRva = 0x8A2C0;
constexpr std::uint32_t kExportRva = 0x3B0000;
constexpr std::uint32_t kDebugRva = 0x3AF100;
constexpr std::uint64_t kPoolBase = 0x85400000;
constexpr std::uint64_t kPfnDatabase = 0x84200000;
}  // namespace x86_addr

struct Arch {
  bool x64;
  unsigned ptr;  // pointer size
};

class Builder {
 public:
  Builder(const GuestSpec& spec, Guest& g)
      : spec_(spec),
        g_(g),
        t_(g.truth),
        rng_(spec.seed * 0x9E3779B97F4A7C15ull + 17),
        x64_(spec.arch == GuestArch::x64),
        lay_(x64_ ? layout::kWin10x64 : layout::kWin7x86) {}

  void build();

 private:
  // --- physical memory ---
  void build_memory_map();
  bool in_ram(std::uint64_t pa) const {
    for (const auto& r : t_.memory_map) {
      if (pa >= r.base && pa < r.end()) return true;
    }
    return false;
  }
  std::uint64_t alloc_pa(std::uint64_t& cursor) {
    while (!in_ram(cursor) || used_.count(cursor)) cursor += kPageSize;
    std::uint64_t pa = cursor;
    used_.insert(pa);
    cursor += kPageSize;
    g_.memory.fill(pa, kPageSize, std::byte{0});  // the page exists (zeros) once allocated
    return pa;
  }

  // --- virtual memory through the guest's own tables ---
  std::uint64_t pa_of(std::uint64_t va) const {
    auto pa = paging_->translate(va);
    if (!pa) throw std::logic_error(fmt::format("guest builder: VA {:#x} not mapped", va));
    return *pa;
  }
  void write_va(std::uint64_t va, std::span<const std::byte> b) {
    while (!b.empty()) {
      std::size_t n = std::min<std::size_t>(b.size(), kPageSize - va % kPageSize);
      g_.memory.write(pa_of(va), b.first(n));
      va += n;
      b = b.subspan(n);
    }
  }
  template <class T>
  void put(std::uint64_t va, const T& v) {
    write_va(va, std::as_bytes(std::span(&v, 1)));
  }
  void put_ptr(std::uint64_t va, std::uint64_t v) {
    if (x64_) {
      put<std::uint64_t>(va, v);
    } else {
      put<std::uint32_t>(va, static_cast<std::uint32_t>(v));
    }
  }
  std::uint64_t get_ptr(std::uint64_t va) {
    std::uint64_t v = 0;
    g_.memory.read(pa_of(va), std::as_writable_bytes(std::span(&v, 1)).first(lay_ptr()));
    return v;
  }
  unsigned lay_ptr() const { return x64_ ? 8 : 4; }
  void ensure_mapped(std::uint64_t va, std::uint64_t size, std::uint64_t flags = pte::kKernel) {
    for (std::uint64_t p = va & ~(kPageSize - 1); p < va + size; p += kPageSize) {
      if (!paging_->translate(p)) paging_->map_4k(p, alloc_pa(data_cursor_), flags);
    }
  }
  std::uint64_t pool_alloc(std::uint64_t size, std::uint64_t align = 16) {
    pool_ = (pool_ + align - 1) & ~(align - 1);
    std::uint64_t va = pool_;
    pool_ += size;
    ensure_mapped(va, size);
    return va;
  }
  // LIST_ENTRY links of pointer size.
  void link(std::uint64_t entry, std::uint64_t flink, std::uint64_t blink) {
    put_ptr(entry, flink);
    put_ptr(entry + lay_ptr(), blink);
  }
  void write_circular_list(std::uint64_t head, const std::vector<std::uint64_t>& entries) {
    std::vector<std::uint64_t> all{head};
    all.insert(all.end(), entries.begin(), entries.end());
    for (std::size_t i = 0; i < all.size(); ++i) {
      link(all[i], all[(i + 1) % all.size()], all[(i + all.size() - 1) % all.size()]);
    }
  }
  // UNICODE_STRING at va with its buffer in pool.
  void unicode_string(std::uint64_t va, const std::string& s) {
    std::vector<std::uint16_t> w(s.begin(), s.end());
    w.push_back(0);
    std::uint64_t buf = pool_alloc(w.size() * 2, 8);
    write_va(buf, std::as_bytes(std::span(w)));
    put<std::uint16_t>(va, static_cast<std::uint16_t>((w.size() - 1) * 2));
    put<std::uint16_t>(va + 2, static_cast<std::uint16_t>(w.size() * 2));
    put_ptr(va + (x64_ ? 8 : 4), buf);
  }
  std::uint64_t kva(std::uint32_t rva) const { return t_.kernel_base + rva; }
  std::uint64_t kdbg_ptr(std::uint64_t va) const { return x64_ ? va : sign_extend32(va); }

  void build_kernel_image();
  void build_decoys();
  void build_kuser();
  void build_modules();
  void build_processes();
  void build_cpus();
  void build_kdbg();
  void build_misc_variables();
  void build_low_stub();
  void build_sample_memory();
  void finish_paging();

  const GuestSpec& spec_;
  Guest& g_;
  GroundTruth& t_;
  std::mt19937_64 rng_;
  bool x64_;
  layout::KernelLayout lay_;
  std::optional<SampleTemplates> sample_;
  std::optional<GuestPaging> paging_;
  std::set<std::uint64_t> used_;
  std::uint64_t table_cursor_ = 0;
  std::uint64_t data_cursor_ = 0;
  std::uint64_t pool_ = 0;
  std::uint64_t system_eprocess_ = 0;
  std::vector<std::uint64_t> process_roots_;  // other processes' PML4s (x64) / PDPTs (PAE)
};

void Builder::build_memory_map() {
  auto& m = t_.memory_map;
  if (spec_.ram_mib != 0 && spec_.ram_mib < 192) {
    throw std::invalid_argument("guest: ram_mib must be 0 or at least 192");
  }
  // Conventional memory without page 0, the rest of the first 3 GiB window up to a PCI hole,
  // and RAM above 4 GiB: the shape firmware memory maps have.
  // With ram_mib, RAM fills the window below the PCI hole first (keeping at least 16 MiB above
  // 4 GiB for the processes' private pages) and the rest goes above 4 GiB.
  const std::uint64_t total = std::uint64_t(spec_.ram_mib) * kMiB;
  const std::uint64_t low_end = spec_.ram_mib ? std::min<std::uint64_t>(total - 16 * kMiB, 0xBFF00000ull)
                                              : 0xBFF00000ull;
  const std::uint64_t high_size = spec_.ram_mib ? total - low_end : 0x40000000ull;
  m.push_back({0x1000, 0x9E000});
  if (spec_.many_runs) {
    // 1-page holes every MiB in [96 MiB, 140 MiB): well clear of the guest's structures.
    std::uint64_t at = 0x100000;
    for (std::uint64_t hole = 0x6000000; hole < 0x8C00000; hole += kMiB) {
      m.push_back({at, hole - at});
      at = hole + kPageSize;
    }
    m.push_back({at, low_end - at});
  } else {
    m.push_back({0x100000, low_end - 0x100000});
  }
  m.push_back({0x100000000ull, high_size});
}

void Builder::build() {
  if (spec_.cpu_count == 0 || spec_.cpu_count > 16) {
    throw std::invalid_argument("guest: 1 to 16 processors");
  }
  if (spec_.sample) {
    if (!x64_) throw std::invalid_argument("guest: the sample is an x64 machine");
    sample_ = load_sample_templates(*spec_.sample);
    t_.from_sample = true;
  }
  t_.arch = spec_.arch;
  t_.build = x64_ ? 19041 : 7601;
  t_.machine = x64_ ? pe_machine::kAmd64 : pe_machine::kI386;
  build_memory_map();

  t_.dtb = x64_ ? x64_addr::kDtb : x86_addr::kDtb;
  used_.insert(t_.dtb);
  g_.memory.fill(t_.dtb, kPageSize, std::byte{0});
  if (!x64_) {
    for (std::uint64_t i = 1; i <= 4; ++i) {
      used_.insert(t_.dtb + i * kPageSize);
      g_.memory.fill(t_.dtb + i * kPageSize, kPageSize, std::byte{0});
    }
  }
  table_cursor_ = t_.dtb + (x64_ ? 0x1000 : 0x5000);
  data_cursor_ = 0x4000000;  // 64 MiB: pool pages
  paging_.emplace(g_.memory, x64_ ? GuestPaging::Mode::x64 : GuestPaging::Mode::pae, t_.dtb,
                  [this] { return alloc_pa(table_cursor_); });
  pool_ = x64_ ? x64_addr::kPoolBase : x86_addr::kPoolBase;

  build_kernel_image();
  if (spec_.decoys) build_decoys();
  build_kuser();
  build_processes();
  build_modules();
  build_cpus();
  build_misc_variables();
  if (spec_.sample_memory) build_sample_memory();
  finish_paging();  // self-map (PteBase) before the KDBG records it
  build_kdbg();
  if (x64_ && spec_.low_stub) build_low_stub();
}

// The memory the real small dump carries, at its real addresses: every data block and the
// stack, and the ETHREAD and EPROCESS copies at the addresses the KPRCB and KTHREAD name.
// Blocks inside the kernel image (the guest's own variables, KDBG and keys live there) and
// blocks on pages the guest already uses are left as the guest has them, except the KPRCBs,
// which the guest places at the sample's addresses on purpose.
void Builder::build_sample_memory() {
  if (!sample_) throw std::invalid_argument("guest: sample_memory needs a sample");
  InputFile file(spec_.sample->string());
  std::vector<std::byte> header(format::kHeaderSize64);
  file.read_exact(0, header, "sample header");
  const TriageDump dump = TriageDump::parse(file, true, header);
  const TriageView view(dump);
  const auto crashing = dump.crashing_processor(view);
  std::set<std::uint64_t> prcbs(sample_->prcbs.begin(), sample_->prcbs.end());
  prcbs.insert(crashing.prcb_va);
  auto unused = [&](std::uint64_t va, std::uint64_t size) {
    for (std::uint64_t p = va & ~(kPageSize - 1); p < va + size; p += kPageSize) {
      if (paging_->translate(p)) return false;
    }
    return true;
  };
  auto place = [&](std::uint64_t va, const std::vector<std::byte>& bytes) {
    ensure_mapped(va, bytes.size());
    write_va(va, bytes);
    t_.sample_regions.push_back({va, bytes.size()});
  };
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> blocks;
  for (const auto& b : dump.data_blocks()) {
    if (b.address >= t_.kernel_base && b.address < t_.kernel_base + t_.kernel_size) continue;
    // The page-table self-map slot (with a sample, the real one, 0x1FB) is the guest's own.
    if (((b.address >> 39) & 0x1FF) == ((x64_addr::kPteBase >> 39) & 0x1FF)) continue;
    blocks.emplace_back(b.address, dump.read_range({b.file_offset, b.size}));
  }
  blocks.emplace_back(dump.top_of_stack(), dump.read_range(dump.stack_range()));
  const auto prcb = dump.read_range(dump.prcb_range());
  const auto ethread = dump.read_range(dump.thread_range());
  const auto eprocess = dump.read_range(dump.process_range());
  const auto& k = *dump.kdbg();
  std::uint64_t thread = 0, process = 0;
  std::memcpy(&thread, prcb.data() + k.OffsetPrcbCurrentThread, 8);
  std::memcpy(&process, ethread.data() + k.OffsetKThreadApcProcess, 8);
  blocks.emplace_back(thread, ethread);
  blocks.emplace_back(process, eprocess);
  blocks.emplace_back(crashing.prcb_va, prcb);
  // Decide on every block before placing any, so one block's pages do not hide another's.
  std::vector<bool> take;
  for (const auto& [va, bytes] : blocks) take.push_back(prcbs.count(va) || unused(va, bytes.size()));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (take[i]) place(blocks[i].first, blocks[i].second);
  }
  t_.sample_thread = thread;
  t_.sample_process = process;
  t_.sample_prcb = crashing.prcb_va;
  t_.sample_cpu = crashing.number;
}

void Builder::build_kernel_image() {
  t_.kernel_base = x64_ ? x64_addr::kKernelBase : x86_addr::kKernelBase;
  t_.kernel_size = x64_ ? x64_addr::kKernelSize : x86_addr::kKernelSize;
  t_.kernel_checksum = x64_ ? x64_addr::kKernelChecksum : x86_addr::kKernelChecksum;
  t_.kernel_timestamp = x64_ ? x64_addr::kKernelTimestamp : x86_addr::kKernelTimestamp;
  if (x64_) {
    // Physically contiguous behind 2 MiB pages, as the loader maps ntoskrnl.
    t_.kernel_pa = 0x2200000;
    std::uint64_t span = (t_.kernel_size + k2M - 1) & ~(k2M - 1);
    for (std::uint64_t off = 0; off < span; off += k2M) {
      paging_->map_2m(t_.kernel_base + off, t_.kernel_pa + off);
      for (std::uint64_t p = 0; p < k2M; p += kPageSize) used_.insert(t_.kernel_pa + off + p);
    }
  } else {
    // x86: KSEG0-style identity offset (VA - 0x80000000), 4 KiB pages.
    t_.kernel_pa = t_.kernel_base - 0x80000000;
    for (std::uint64_t off = 0; off < t_.kernel_size; off += kPageSize) {
      paging_->map_4k(t_.kernel_base + off, t_.kernel_pa + off);
      used_.insert(t_.kernel_pa + off);
    }
  }

  PeSpec pe;
  pe.pe32_plus = x64_;
  pe.machine = t_.machine;
  pe.image_base = x64_ ? 0x140000000ull : 0x400000;
  pe.size_of_image = t_.kernel_size;
  pe.time_date_stamp = t_.kernel_timestamp;
  pe.checksum = t_.kernel_checksum;
  using namespace section_flags;
  const std::uint32_t code = kCode | kExecute | kRead | kNotPaged;
  const std::uint32_t pcode = kCode | kExecute | kRead;
  const std::uint32_t rdata = kInitializedData | kRead | kNotPaged;
  const std::uint32_t data = kInitializedData | kRead | kWrite | kNotPaged;
  const std::uint32_t init = kCode | kExecute | kRead | kDiscardable;
  if (x64_) {
    // Section names as in ntoskrnl.exe of Windows 10 (POOLCODE and ALMOSTRO are what kernel
    // finders key on, §6.4 and §6.6); sizes our own, covering the image.
    pe.entry_point_rva = 0xD40010;
    pe.sections = {{".text", 0x1000, 0x3FF000, code},
                   {"PAGELK", 0x400000, 0x20000, pcode},
                   {"POOLCODE", 0x420000, 0x10000, code},
                   {"PAGEKD", 0x430000, 0x10000, pcode},
                   {"PAGE", 0x440000, 0x5C0000, pcode},
                   {".rdata", 0xA00000, 0x180000, rdata},
                   {".pdata", 0xB80000, 0x80000, rdata},
                   {".data", 0xC00000, 0x100000, data},
                   {"ALMOSTRO", 0xD00000, 0x10000, data},
                   {"CACHEALI", 0xD10000, 0x10000, data},
                   {"PAGEDATA", 0xD20000, 0x20000, kInitializedData | kRead | kWrite},
                   {"INIT", 0xD40000, 0x2C0000, init},
                   {".rsrc", 0x1000000, 0x40000, rdata},
                   {".reloc", 0x1040000, 0x6000, kInitializedData | kRead | kDiscardable}};
    pe.export_rva = x64_addr::kExportRva;
    pe.debug_rva = x64_addr::kDebugRva;
    pe.dll_name = "ntoskrnl.exe";
    pe.exports = {{"KeBugCheckEx", x64_addr::kKeBugCheckExRva},
                  {"PsLoadedModuleList", x64_addr::kPsLoadedModuleListRva},
                  {"PsInitialSystemProcess", x64_addr::kPsInitialSystemProcessRva},
                  {"NtBuildNumber", x64_addr::kNtBuildNumberRva},
                  {"KeNumberProcessors", x64_addr::kKeNumberProcessorsRva},
                  {"KdDebuggerEnabled", 0xC2E010},
                  {"MmGetPhysicalAddress", 0x2A5C40},
                  {"RtlGetVersion", 0x2F1E50},
                  {"KeCapturePersistentThreadState", 0x3B0A10}};
  } else {
    pe.entry_point_rva = 0x3C0010;
    pe.sections = {{".text", 0x1000, 0xFF000, code},
                   {"_PAGELK", 0x100000, 0x3000, pcode},
                   {"POOLMI", 0x103000, 0x1000, code},
                   {"POOLCODE", 0x104000, 0x1000, code},
                   {".data", 0x105000, 0x40000, data},
                   {"ALMOSTRO", 0x145000, 0x1000, data},
                   {"PAGE", 0x146000, 0x268000, pcode},
                   {".edata", 0x3AE000, 0x12000, rdata},
                   {"INIT", 0x3C0000, 0x40000, init},
                   {".rsrc", 0x400000, 0x10000, rdata},
                   {".reloc", 0x410000, 0x2000, kInitializedData | kRead | kDiscardable}};
    pe.export_rva = x86_addr::kExportRva;
    pe.debug_rva = x86_addr::kDebugRva;
    pe.dll_name = "ntkrnlpa.exe";
    pe.exports = {{"KeBugCheckEx", x86_addr::kKeBugCheckExRva},
                  {"PsLoadedModuleList", x86_addr::kPsLoadedModuleListRva},
                  {"PsInitialSystemProcess", x86_addr::kPsInitialSystemProcessRva},
                  {"NtBuildNumber", x86_addr::kNtBuildNumberRva},
                  {"KeNumberProcessors", x86_addr::kKeNumberProcessorsRva}};
  }
  pe::CodeViewPdb cv;
  cv.pdb_name = x64_ ? "ntkrnlmp.pdb" : "ntkrpamp.pdb";
  cv.guid_data1 = static_cast<std::uint32_t>(rng_());
  cv.guid_data2 = static_cast<std::uint16_t>(rng_());
  cv.guid_data3 = static_cast<std::uint16_t>(rng_());
  for (auto& b : cv.guid_data4) b = static_cast<std::uint8_t>(rng_());
  cv.age = 1;
  pe.codeview = cv;
  write_pe(pe, [this](std::uint32_t rva, std::span<const std::byte> b) { write_va(kva(rva), b); });

  t_.kernel_export_name = pe.dll_name;
  t_.pdb_name = cv.pdb_name;
  t_.pdb_guid = cv.guid_string();
  t_.pdb_age = cv.age;
  t_.pdb_symbol_path = cv.symbol_path();
  t_.kernel_image_key = fmt::format("{:08X}{:X}", t_.kernel_timestamp, t_.kernel_size);

  // NtBuildNumber: the build with 0xF in the top nibble (a free build).
  put<std::uint32_t>(kva(x64_ ? x64_addr::kNtBuildNumberRva : x86_addr::kNtBuildNumberRva),
                     0xF0000000u | t_.build);
  put<std::uint32_t>(
      kva(x64_ ? x64_addr::kKeNumberProcessorsRva : x86_addr::kKeNumberProcessorsRva),
      spec_.cpu_count);
  // Something recognisable at the code addresses the guest points registers at.
  const std::uint8_t int3_ret[] = {0xCC, 0xC3};
  write_va(kva(x64_ ? x64_addr::kKeBugCheckExRva : x86_addr::kKeBugCheckExRva),
           std::as_bytes(std::span(int3_ret)));
}

void Builder::build_decoys() {
  // Two 2 MiB steps below the kernel, where a scan that walks down from a hint inside the
  // kernel will not stop but one that walks up from low addresses meets them first.
  std::uint64_t mz_va = 0, pe_va = 0, mz_pa = 0, pe_pa = 0;
  if (x64_) {
    mz_va = t_.kernel_base - k2M;
    pe_va = t_.kernel_base - 2 * k2M;
    mz_pa = t_.kernel_pa - k2M;
    pe_pa = t_.kernel_pa - 2 * k2M;
    paging_->map_2m(mz_va, mz_pa);
    paging_->map_2m(pe_va, pe_pa);
    for (std::uint64_t p = 0; p < k2M; p += kPageSize) {
      used_.insert(mz_pa + p);
      used_.insert(pe_pa + p);
    }
  } else {
    mz_va = t_.kernel_base - 0x200000;
    pe_va = t_.kernel_base - 0x400000;
    mz_pa = alloc_pa(data_cursor_);
    pe_pa = alloc_pa(data_cursor_);
    paging_->map_4k(mz_va, mz_pa);
    paging_->map_4k(pe_va, pe_pa);
    for (std::uint64_t p = kPageSize; p < 0x4000; p += kPageSize) {
      paging_->map_4k(pe_va + p, alloc_pa(data_cursor_));
    }
  }
  // An "MZ" whose e_lfanew leads to no PE signature (a fragment of a freed image).
  std::array<std::uint8_t, 0x48> mz{};
  mz[0] = 'M';
  mz[1] = 'Z';
  mz[0x3C] = 0x40;
  std::memcpy(mz.data() + 0x40, "NOTPE\0\0\0", 8);
  write_va(mz_va, std::as_bytes(std::span(mz)));
  // A valid PE that is not the kernel, with a POOLCODE section to fool a section-name test.
  PeSpec pe;
  pe.pe32_plus = x64_;
  pe.machine = t_.machine;
  pe.size_of_image = 0x4000;
  pe.time_date_stamp = 0x5F1E2D3C;
  pe.sections = {{".text", 0x1000, 0x1000, section_flags::kCode | section_flags::kExecute},
                 {"POOLCODE", 0x2000, 0x1000, section_flags::kCode | section_flags::kExecute},
                 {".rdata", 0x3000, 0x1000, section_flags::kInitializedData}};
  pe.export_rva = 0x3000;
  pe.dll_name = "notkernel.sys";
  pe.exports = {{"DriverEntry", 0x1000}};
  pe.debug_rva = 0x3400;
  pe::CodeViewPdb cv;
  cv.pdb_name = "notkernel.pdb";
  cv.guid_data1 = 0xDEC0DEC0;
  cv.age = 3;
  pe.codeview = cv;
  write_pe(pe, [&](std::uint32_t rva, std::span<const std::byte> b) { write_va(pe_va + rva, b); });
  t_.decoy_bases = {mz_va, pe_va};
}

void Builder::build_kuser() {
  t_.kuser_va = x64_ ? layout::kuser::kX64Va : layout::kuser::kX86Va;
  t_.kuser_pa = alloc_pa(data_cursor_);
  paging_->map_4k(t_.kuser_va, t_.kuser_pa);
  using namespace layout::kuser;
  t_.nt_product_type = 1;  // NtProductWinNt (a workstation)
  t_.suite_mask = 0x110;   // SingleUserTS | TerminalServer, as a desktop reports
  t_.nt_major = x64_ ? 10 : 6;
  t_.nt_minor = x64_ ? 0 : 1;
  t_.system_time = 0x01D9A1B2C3D4E5F6ull + (rng_() & 0xFFFFFF);
  t_.interrupt_time = 0x0000000412345678ull + (rng_() & 0xFFFF);
  auto ksystem_time = [&](std::uint32_t off, std::uint64_t v) {
    put<std::uint32_t>(t_.kuser_va + off, static_cast<std::uint32_t>(v));            // LowPart
    put<std::uint32_t>(t_.kuser_va + off + 4, static_cast<std::uint32_t>(v >> 32));  // High1Time
    put<std::uint32_t>(t_.kuser_va + off + 8, static_cast<std::uint32_t>(v >> 32));  // High2Time
  };
  ksystem_time(kInterruptTime, t_.interrupt_time);
  ksystem_time(kSystemTime, t_.system_time);
  put<std::uint32_t>(t_.kuser_va + kNtBuildNumber, t_.build);
  put<std::uint32_t>(t_.kuser_va + kNtProductType, t_.nt_product_type);
  put<std::uint8_t>(t_.kuser_va + kProductTypeIsValid, 1);
  put<std::uint32_t>(t_.kuser_va + kNtMajorVersion, t_.nt_major);
  put<std::uint32_t>(t_.kuser_va + kNtMinorVersion, t_.nt_minor);
  put<std::uint32_t>(t_.kuser_va + kSuiteMask, t_.suite_mask);
}

void Builder::build_processes() {
  struct Proto {
    std::uint32_t pid;
    const char* name;
  };
  std::vector<Proto> protos{{4, "System"}};
  const Proto users[] = {
      {0x17c, "smss.exe"}, {0x1d4, "csrss.exe"}, {0x1234, "explorer.exe"}, {0x2a8, "services.exe"}};
  for (std::uint32_t i = 0; i < spec_.user_processes && i < std::size(users); ++i) {
    protos.push_back(users[i]);
  }
  std::vector<std::uint64_t> links;
  std::uint64_t user_pa_cursor = 0x100000000ull;  // private pages above 4 GiB
  for (std::size_t i = 0; i < protos.size(); ++i) {
    GuestProcess p;
    p.pid = protos[i].pid;
    p.name = protos[i].name;
    p.eprocess = pool_alloc(lay_.size_eprocess, 0x40);
    if (sample_) {
      write_va(p.eprocess,
               std::span(sample_->eprocess)
                   .first(std::min<std::size_t>(sample_->eprocess.size(), lay_.size_eprocess)));
    }
    put<std::uint8_t>(p.eprocess, layout::kProcessObject);  // Pcb.Header.Type
    if (!x64_) put<std::uint8_t>(p.eprocess + 2, 0x26);     // Header.Size = sizeof(KPROCESS)/4
    if (i == 0) {
      p.dtb = t_.dtb;
    } else if (x64_) {
      p.dtb = alloc_pa(table_cursor_);
      process_roots_.push_back(p.dtb);
    } else {
      // A PAE process: PDPT + 4 directories, five consecutive pages; kernel half copied later.
      p.dtb = 0x200000 + 0x10000 * i;  // below the kernel, clear of other allocations
      for (std::uint64_t k = 0; k <= 4; ++k) {
        used_.insert(p.dtb + k * kPageSize);
        g_.memory.fill(p.dtb + k * kPageSize, kPageSize, std::byte{0});
      }
      process_roots_.push_back(p.dtb);
    }
    put_ptr(p.eprocess + lay_.process_dtb, p.dtb);
    put_ptr(p.eprocess + lay_.eprocess_pid, p.pid);
    std::array<char, 15> name{};
    std::memcpy(name.data(), p.name.data(), std::min<std::size_t>(p.name.size(), 15));
    write_va(p.eprocess + lay_.eprocess_image_name, std::as_bytes(std::span(name)));
    put_ptr(p.eprocess + lay_.eprocess_peb,
            i == 0 ? 0 : (x64_ ? 0xA5F1000000ull + i * 0x1000 : 0x7FFD0000ull + i * 0x1000));
    links.push_back(p.eprocess + lay_.eprocess_links);

    if (i > 0) {
      // One private user page (above 4 GiB physically) and the user view of KUSER_SHARED_DATA,
      // mapped through the process's own tables.
      GuestPaging user(g_.memory, x64_ ? GuestPaging::Mode::x64 : GuestPaging::Mode::pae, p.dtb,
                       [this] { return alloc_pa(table_cursor_); });
      p.user_va = x64_ ? 0x7FF6A1230000ull + i * 0x10000 : 0x00400000ull + i * 0x10000;
      p.user_pa = alloc_pa(user_pa_cursor);
      p.user_marker = fmt::format("pagedump guest user page of {} (pid {})", p.name, p.pid);
      user.map_4k(p.user_va, p.user_pa, pte::kUserRw);
      g_.memory.put_string(p.user_pa, p.user_marker);
      user.map_4k(layout::kuser::kUserVa, t_.kuser_pa, pte::kPresent | pte::kUser | pte::kAccessed);
    }
    t_.processes.push_back(std::move(p));
  }
  system_eprocess_ = t_.processes[0].eprocess;
  t_.ps_active_process_head =
      kva(x64_ ? x64_addr::kPsActiveProcessHeadRva : x86_addr::kPsActiveProcessHeadRva);
  write_circular_list(t_.ps_active_process_head, links);
  put_ptr(kva(x64_ ? x64_addr::kPsInitialSystemProcessRva : x86_addr::kPsInitialSystemProcessRva),
          system_eprocess_);
}

void Builder::build_modules() {
  struct Mod {
    std::string full;
    std::uint64_t base;
    std::uint32_t size, checksum, timestamp;
  };
  std::vector<Mod> mods;
  if (sample_) {
    for (const auto& d : sample_->drivers) {
      mods.push_back({d.full_name, d.base, d.size, d.checksum, d.time_date_stamp});
    }
  } else if (x64_) {
    // The first drivers of the sample's list (name, base, size, checksum).
    mods = {
        {"\\SystemRoot\\system32\\ntoskrnl.exe", t_.kernel_base, t_.kernel_size, t_.kernel_checksum,
         t_.kernel_timestamp},
        {"\\SystemRoot\\system32\\hal.dll", 0xfffff80479440000ull, 0x6000, 0xce9f, 0x3B7B4B20},
        {"\\SystemRoot\\system32\\kd.dll", 0xfffff80479450000ull, 0xb000, 0x4ef6, 0x7A2C16E1},
        {"\\SystemRoot\\System32\\drivers\\CLFS.SYS", 0xfffff80479490000ull, 0x6a000, 0x72c51,
         0x5E0D1B1A},
        {"\\SystemRoot\\System32\\drivers\\tm.sys", 0xfffff80479460000ull, 0x27000, 0x29c42,
         0x31F2C7C2},
        {"\\SystemRoot\\system32\\PSHED.dll", 0xfffff80479500000ull, 0x1a000, 0x201a9, 0x6B0C4F3D}};
  } else {
    mods = {
        {"\\WINDOWS\\system32\\ntkrnlpa.exe", t_.kernel_base, t_.kernel_size, t_.kernel_checksum,
         t_.kernel_timestamp},
        {"\\WINDOWS\\system32\\halmacpi.dll", 0x82a16000, 0x37000, 0x3d7a1, 0x4ce788d3},
        {"\\WINDOWS\\system32\\kdcom.dll", 0x80bcb000, 0x8000, 0x9b6f, 0x4a5bdaa6},
        {"\\SystemRoot\\system32\\DRIVERS\\ACPI.sys", 0x8b653000, 0x4a000, 0x4e5f2, 0x4ce79294}};
  }
  std::vector<std::uint64_t> entries;
  for (std::size_t i = 0; i < mods.size(); ++i) {
    const auto& m = mods[i];
    GuestModule gm;
    gm.full_name = m.full;
    gm.base_name = m.full.substr(m.full.find_last_of('\\') + 1);
    gm.base = m.base;
    gm.size = m.size;
    gm.checksum = m.checksum;
    gm.time_date_stamp = i == 0 ? t_.kernel_timestamp : m.timestamp;
    if (i == 0) gm.checksum = t_.kernel_checksum;
    gm.entry_va = pool_alloc(lay_.size_ldr, 16);
    std::uint64_t e = gm.entry_va;
    put_ptr(e + lay_.ldr_dll_base, gm.base);
    put_ptr(e + lay_.ldr_entry_point, gm.base + 0x1010);
    put<std::uint32_t>(e + lay_.ldr_size_of_image, gm.size);
    unicode_string(e + lay_.ldr_full_name, gm.full_name);
    unicode_string(e + lay_.ldr_base_name, gm.base_name);
    put<std::uint32_t>(e + lay_.ldr_flags, 0x49104000);
    put<std::uint32_t>(e + lay_.ldr_checksum, gm.checksum);
    put<std::uint32_t>(e + lay_.ldr_time_date_stamp, gm.time_date_stamp);
    // The second module (the HAL) gets a real PE header at its base: a PE that is not the
    // kernel, where a module-list walker expects one.
    if (i == 1) {
      ensure_mapped(gm.base, std::min<std::uint32_t>(gm.size, 0x6000));
      PeSpec pe;
      pe.pe32_plus = x64_;
      pe.machine = t_.machine;
      pe.size_of_image = gm.size;
      pe.time_date_stamp = gm.time_date_stamp;
      pe.checksum = gm.checksum;
      pe.sections = {{".text", 0x1000, 0x2000, section_flags::kCode | section_flags::kExecute},
                     {".rdata", 0x3000, 0x1000, section_flags::kInitializedData},
                     {".data", 0x4000, 0x1000, section_flags::kInitializedData}};
      pe.export_rva = 0x3000;
      pe.dll_name = x64_ ? "HAL.dll" : "halmacpi.dll";
      pe.exports = {{"HalReturnToFirmware", 0x1100}, {"KeQueryPerformanceCounter", 0x1200}};
      pe.debug_rva = 0x3800;
      pe::CodeViewPdb cv;
      cv.pdb_name = x64_ ? "hal.pdb" : "halmacpi.pdb";
      cv.guid_data1 = 0x4A1B2C3D;
      cv.age = 1;
      pe.codeview = cv;
      write_pe(
          pe, [&](std::uint32_t rva, std::span<const std::byte> b) { write_va(gm.base + rva, b); });
      gm.image_mapped = true;
    }
    if (i == 0) gm.image_mapped = true;
    entries.push_back(e);
    t_.modules.push_back(std::move(gm));
  }
  t_.ps_loaded_module_list =
      kva(x64_ ? x64_addr::kPsLoadedModuleListRva : x86_addr::kPsLoadedModuleListRva);
  write_circular_list(t_.ps_loaded_module_list, entries);
}

void Builder::build_cpus() {
  t_.ki_processor_block =
      kva(x64_ ? x64_addr::kKiProcessorBlockRva : x86_addr::kKiProcessorBlockRva);
  const std::uint32_t rip_bugcheck = x64_ ? x64_addr::kKeBugCheckExRva : x86_addr::kKeBugCheckExRva;
  const std::uint32_t rip_idle = x64_ ? x64_addr::kIdleRva : x86_addr::kIdleRva;
  for (std::uint32_t i = 0; i < spec_.cpu_count; ++i) {
    GuestCpu c;
    if (x64_) {
      c.prcb = (sample_ && i < sample_->prcbs.size()) ? sample_->prcbs[i] : x64_addr::kPrcbs[i];
      c.pcr = c.prcb - lay_.pcr_prcb;
      ensure_mapped(c.pcr, lay_.size_pcr);
    } else {
      c.pcr = pool_alloc(lay_.size_pcr, kPageSize);
      c.prcb = c.pcr + lay_.pcr_prcb;
    }
    if (sample_) {
      write_va(c.prcb, std::span(sample_->prcb)
                           .first(std::min<std::size_t>(sample_->prcb.size(), lay_.size_prcb)));
    }
    // KPCR: self pointers, the current PRCB and the IDT.
    put_ptr(c.pcr + lay_.pcr_self, c.pcr);
    put_ptr(c.pcr + lay_.pcr_current_prcb, c.prcb);
    c.idt = pool_alloc(kPageSize, kPageSize);
    put_ptr(c.pcr + lay_.pcr_idt, c.idt);
    std::uint64_t gdt = pool_alloc(kPageSize, kPageSize);
    if (x64_) {
      put<std::uint64_t>(c.pcr + 0x0, gdt);  // KPCR.GdtBase [VG]
      // GDT: null, 0x10 ring-0 code (L), 0x18 ring-0 data, 0x20/0x28 ring-3 32-bit code/data,
      // 0x30 ring-3 64-bit code (the selectors §7.1 lists).
      const std::uint64_t gdt_entries[] = {0,
                                           0,
                                           0x00209B0000000000ull,
                                           0x00CF93000000FFFFull,
                                           0x00CFFB000000FFFFull,
                                           0x00CFF3000000FFFFull,
                                           0x0020FB0000000000ull};
      write_va(gdt, std::as_bytes(std::span(gdt_entries)));
    } else {
      put<std::uint32_t>(c.pcr + 0x3C, static_cast<std::uint32_t>(gdt));  // KPCR.GDT [VG]
      const std::uint64_t gdt_entries[] = {0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull,
                                           0x00CFFB000000FFFFull, 0x00CFF3000000FFFFull};
      write_va(gdt, std::as_bytes(std::span(gdt_entries)));
    }
    // IDT: every vector to a handler inside the kernel's .text.
    std::uint64_t handlers = kva(x64_ ? x64_addr::kIdtHandlersRva : x86_addr::kIdtHandlersRva);
    for (std::uint64_t v = 0; v < 256; ++v) {
      std::uint64_t h = handlers + v * 0x40;
      if (x64_) {
        std::uint64_t lo =
            (h & 0xFFFF) | (0x10ull << 16) | (0x8E00ull << 32) | (((h >> 16) & 0xFFFF) << 48);
        put<std::uint64_t>(c.idt + v * 16, lo);
        put<std::uint64_t>(c.idt + v * 16 + 8, h >> 32);
      } else {
        std::uint64_t e =
            (h & 0xFFFF) | (0x08ull << 16) | (0x8E00ull << 32) | (((h >> 16) & 0xFFFF) << 48);
        put<std::uint64_t>(c.idt + v * 8, e);
      }
    }
    // KPRCB: number, current thread, context pointer, ProcessorState.
    put<std::uint32_t>(c.prcb + lay_.prcb_number, i);
    c.thread = pool_alloc(lay_.size_ethread, 0x40);
    if (sample_) {
      write_va(c.thread,
               std::span(sample_->ethread)
                   .first(std::min<std::size_t>(sample_->ethread.size(), lay_.size_ethread)));
    }
    put<std::uint8_t>(c.thread, layout::kThreadObject);
    put_ptr(c.thread + lay_.kthread_apc_process, system_eprocess_);
    put_ptr(c.thread + lay_.kthread_process, system_eprocess_);
    put_ptr(c.prcb + lay_.prcb_current_thread, c.thread);

    std::uint64_t stack = pool_alloc(2 * kPageSize, kPageSize);
    const bool bugcheck_cpu = spec_.crashed && i == 0;
    c.rip = kva(bugcheck_cpu ? rip_bugcheck : rip_idle);
    c.rsp = stack + 2 * kPageSize - 0x1A8 - 0x40 * i;
    c.stack_base = stack + 2 * kPageSize;
    c.stack_limit = stack;
    // KTHREAD stack fields (x64 [KD] StackLimit 0x30, StackBase 0x38, InitialStack 0x28,
    // KernelStack 0x58; x86 Win7 [VG] InitialStack 0x28, StackLimit 0x2c, KernelStack 0x30,
    // StackBase 0x190). InitialStack sits below the base by the floating-point save area.
    put_ptr(c.thread + lay_.kthread_initial_stack, c.stack_base - (x64_ ? 0x1D0 : 0x210));
    put_ptr(c.thread + lay_.kthread_stack_limit, c.stack_limit);
    put_ptr(c.thread + lay_.kthread_kernel_stack, c.rsp);
    put_ptr(c.thread + lay_.kthread_stack_base, c.stack_base);
    std::uint64_t cr3 = t_.dtb | (spec_.pcid && x64_ ? 0x2 : 0);

    CpuState s;
    s.index = i;
    s.arch = x64_ ? CpuArch::x64 : CpuArch::x86;
    for (std::size_t r = 0; r < (x64_ ? 16u : 8u); ++r) {
      s.gpr[r] = x64_ ? 0x1000000000000000ull * (r + 1) + 0x100 * i + r
                      : 0x10000000ull * (r + 1) + 0x100 * i + r;
    }
    s.gpr[CpuState::rsp] = c.rsp;
    s.gpr[CpuState::rbp] = c.rsp + 0x80;
    s.rip = c.rip;
    s.rflags = bugcheck_cpu ? 0x86 : 0x246;
    if (x64_) {
      s.seg[CpuState::cs].selector = 0x10;
      s.seg[CpuState::ss].selector = 0x18;
      s.seg[CpuState::ds].selector = 0x2B;
      s.seg[CpuState::es].selector = 0x2B;
      s.seg[CpuState::fs].selector = 0x53;
      s.seg[CpuState::gs].selector = 0x2B;
      s.seg[CpuState::gs].base = c.pcr;
      s.gs_base = c.pcr;
      s.kernel_gs_base = 0xA5F1200000ull + i * 0x2000;  // a user TEB: swapped out by swapgs
      s.cr0 = 0x80050033;
      s.cr4 = 0x350EF8;
      s.efer = 0xD01;
      s.gdtr = {gdt, 0x6F};
      s.idtr = {c.idt, 0xFFF};
    } else {
      s.seg[CpuState::cs].selector = 0x08;
      s.seg[CpuState::ss].selector = 0x10;
      s.seg[CpuState::ds].selector = 0x23;
      s.seg[CpuState::es].selector = 0x23;
      s.seg[CpuState::fs].selector = 0x30;
      s.seg[CpuState::fs].base = c.pcr;
      s.cr0 = 0x80010031;
      s.cr4 = 0x000406F9;  // PAE
      s.gdtr = {gdt, 0x3FF};
      s.idtr = {c.idt, 0x7FF};
    }
    s.cr3 = cr3;
    s.mxcsr = 0x1F80;

    // The CONTEXT the PRCB points to, and the same registers in ProcessorState.ContextFrame.
    if (x64_) {
      ContextAmd64 ctx{};
      ctx.ContextFlags = context_flags::kAmd64All;
      ctx.MxCsr = 0x1F80;
      ctx.SegCs = 0x10;
      ctx.SegDs = ctx.SegEs = ctx.SegGs = 0x2B;
      ctx.SegFs = 0x53;
      ctx.SegSs = 0x18;
      ctx.EFlags = static_cast<std::uint32_t>(s.rflags);
      std::uint64_t* regs[] = {&ctx.Rax, &ctx.Rcx, &ctx.Rdx, &ctx.Rbx, &ctx.Rsp, &ctx.Rbp,
                               &ctx.Rsi, &ctx.Rdi, &ctx.R8,  &ctx.R9,  &ctx.R10, &ctx.R11,
                               &ctx.R12, &ctx.R13, &ctx.R14, &ctx.R15};
      for (std::size_t r = 0; r < 16; ++r) *regs[r] = s.gpr[r];
      ctx.Rip = s.rip;
      ctx.FltSave.MxCsr = 0x1F80;
      c.context = pool_alloc(sizeof(ctx), 16);
      put(c.context, ctx);
      put(c.prcb + lay_.prcb_proc_state_context, ctx);
      // ProcessorState.SpecialRegisters (KPROCESSOR_STATE +0, [VG]): Cr0, Cr2, Cr3, Cr4.
      std::uint64_t special = c.prcb + lay_.prcb_proc_state_context - 0xF0;
      put<std::uint64_t>(special + 0x00, s.cr0);
      put<std::uint64_t>(special + 0x10, t_.dtb);
      put<std::uint64_t>(special + 0x18, s.cr4);
    } else {
      ContextI386 ctx{};
      ctx.ContextFlags = context_flags::kI386Full;
      ctx.SegCs = 0x08;
      ctx.SegDs = ctx.SegEs = 0x23;
      ctx.SegFs = 0x30;
      ctx.SegSs = 0x10;
      ctx.EFlags = static_cast<std::uint32_t>(s.rflags);
      ctx.Eax = static_cast<std::uint32_t>(s.gpr[CpuState::rax]);
      ctx.Ecx = static_cast<std::uint32_t>(s.gpr[CpuState::rcx]);
      ctx.Edx = static_cast<std::uint32_t>(s.gpr[CpuState::rdx]);
      ctx.Ebx = static_cast<std::uint32_t>(s.gpr[CpuState::rbx]);
      ctx.Esp = static_cast<std::uint32_t>(s.gpr[CpuState::rsp]);
      ctx.Ebp = static_cast<std::uint32_t>(s.gpr[CpuState::rbp]);
      ctx.Esi = static_cast<std::uint32_t>(s.gpr[CpuState::rsi]);
      ctx.Edi = static_cast<std::uint32_t>(s.gpr[CpuState::rdi]);
      ctx.Eip = static_cast<std::uint32_t>(s.rip);
      c.context = pool_alloc(sizeof(ctx), 16);
      put(c.context, ctx);
      put(c.prcb + lay_.prcb_proc_state_context, ctx);
      // KPROCESSOR_STATE i386: SpecialRegisters after the CONTEXT ([GC]): Cr0, Cr2, Cr3, Cr4.
      std::uint64_t special = c.prcb + lay_.prcb_proc_state_context + sizeof(ContextI386);
      put<std::uint32_t>(special + 0x0, static_cast<std::uint32_t>(s.cr0));
      put<std::uint32_t>(special + 0x8, static_cast<std::uint32_t>(t_.dtb));
      put<std::uint32_t>(special + 0xC, static_cast<std::uint32_t>(s.cr4));
    }
    put_ptr(c.prcb + lay_.prcb_context, c.context);
    put_ptr(t_.ki_processor_block + std::uint64_t(i) * lay_ptr(), c.prcb);
    if (spec_.cpu_state) g_.cpu_states.push_back(s);
    t_.cpus.push_back(c);
  }
  t_.offset_prcb_context = lay_.prcb_context;
  t_.offset_prcb_proc_state_context = lay_.prcb_proc_state_context;
  t_.offset_eprocess_dtb = lay_.process_dtb;
  t_.offset_eprocess_pid = lay_.eprocess_pid;
  t_.offset_eprocess_links = lay_.eprocess_links;
  t_.offset_eprocess_name = lay_.eprocess_image_name;
}

void Builder::build_misc_variables() {
  // KiBugcheckData: the code then four parameters, pointer-sized.
  t_.ki_bugcheck_data = kva(x64_ ? x64_addr::kKiBugcheckDataRva : x86_addr::kKiBugcheckDataRva);
  if (spec_.crashed) {
    // KMODE_EXCEPTION_NOT_HANDLED (the 0x1000007E form), as in the sample.
    t_.bugcheck_code = 0x1000007E;
    t_.bugcheck_parameters = {kdbg_ptr(0xffffffffc0000005ull), t_.cpus[0].rip,
                              t_.cpus[0].rsp + 0x200, t_.cpus[0].context};
  }
  put_ptr(t_.ki_bugcheck_data, t_.bugcheck_code);
  for (std::size_t i = 0; i < 4; ++i) {
    put_ptr(t_.ki_bugcheck_data + (i + 1) * lay_ptr(), t_.bugcheck_parameters[i]);
  }

  // MmPfnDatabase: the variable and its value (the array itself is not laid out).
  t_.mm_pfn_database_va = kva(x64_ ? x64_addr::kMmPfnDatabaseRva : x86_addr::kMmPfnDatabaseRva);
  t_.mm_pfn_database = x64_ ? x64_addr::kPfnDatabase : x86_addr::kPfnDatabase;
  put_ptr(t_.mm_pfn_database_va, t_.mm_pfn_database);
  // The first pages of the PFN array and of two more system regions exist, as on a running
  // machine: a PML4 with only a handful of kernel entries would not look like Windows to a
  // PML4-shape scan (MemProcFS wants at least 6 supervisor entries, §6.6).
  ensure_mapped(t_.mm_pfn_database, 2 * kPageSize);
  if (x64_) {
    ensure_mapped(0xffffa58000000000ull, kPageSize);  // paged pool
    ensure_mapped(0xffffb40000000000ull, kPageSize);  // system cache
  }

  // MmPhysicalMemoryBlock -> PHYSICAL_MEMORY_DESCRIPTOR matching the memory map.
  t_.mm_physical_memory_block_va =
      kva(x64_ ? x64_addr::kMmPhysicalMemoryBlockRva : x86_addr::kMmPhysicalMemoryBlockRva);
  const auto& runs = t_.memory_map;
  std::uint64_t pages = 0;
  for (const auto& r : runs) pages += r.size / kPageSize;
  if (x64_) {
    std::uint64_t d = pool_alloc(sizeof(PhysicalMemoryDescriptor64Head) + 16 * runs.size(), 16);
    put(d, PhysicalMemoryDescriptor64Head{static_cast<std::uint32_t>(runs.size()), 0, pages});
    for (std::size_t i = 0; i < runs.size(); ++i) {
      put(d + 0x10 + 16 * i,
          PhysicalMemoryRun64{runs[i].base / kPageSize, runs[i].size / kPageSize});
    }
    t_.physical_memory_descriptor = d;
  } else {
    std::uint64_t d = pool_alloc(sizeof(PhysicalMemoryDescriptor32Head) + 8 * runs.size(), 8);
    put(d, PhysicalMemoryDescriptor32Head{static_cast<std::uint32_t>(runs.size()),
                                          static_cast<std::uint32_t>(pages)});
    for (std::size_t i = 0; i < runs.size(); ++i) {
      put(d + 8 + 8 * i, PhysicalMemoryRun32{static_cast<std::uint32_t>(runs[i].base / kPageSize),
                                             static_cast<std::uint32_t>(runs[i].size / kPageSize)});
    }
    t_.physical_memory_descriptor = d;
  }
  put_ptr(t_.mm_physical_memory_block_va, t_.physical_memory_descriptor);

  t_.nt_build_lab_va = kva(x64_ ? x64_addr::kNtBuildLabRva : x86_addr::kNtBuildLabRva);
  t_.nt_build_lab = x64_ ? "19041.1.amd64fre.vb_release.191206-1406"
                         : "7601.17514.x86fre.win7sp1_rtm.101119-1850";
  write_va(t_.nt_build_lab_va,
           std::as_bytes(std::span(t_.nt_build_lab.c_str(), t_.nt_build_lab.size() + 1)));
}

void Builder::finish_paging() {
  if (x64_) {
    std::set<std::uint32_t> used_slots;
    for (std::uint32_t i = 0x100; i < 0x200; ++i) {
      if (g_.memory.get<std::uint64_t>(t_.dtb + i * 8) & pte::kPresent) used_slots.insert(i);
    }
    used_slots.insert(static_cast<std::uint32_t>((t_.mm_pfn_database >> 39) & 0x1FF));
    std::uint32_t index = 0;
    if (sample_) {
      index = static_cast<std::uint32_t>((x64_addr::kPteBase >> 39) & 0x1FF);  // the real 0x1FB
    } else {
      std::vector<std::uint32_t> free;
      for (std::uint32_t i = 0x100; i < 0x200; ++i) {
        if (!used_slots.count(i)) free.push_back(i);
      }
      index = free[rng_() % free.size()];
    }
    if (used_slots.count(index)) throw std::logic_error("guest: self-map slot in use");
    paging_->install_self_map(index);
    t_.self_map_index = index;
    t_.pte_base = 0xFFFF000000000000ull | (std::uint64_t(index) << 39);
    // Each process's PML4 shares the kernel half and maps itself at the same slot.
    for (const std::uint64_t pml4 : process_roots_) {
      for (std::uint32_t i = 0x100; i < 0x200; ++i) {
        g_.memory.put<std::uint64_t>(pml4 + i * 8, g_.memory.get<std::uint64_t>(t_.dtb + i * 8));
      }
      g_.memory.put<std::uint64_t>(pml4 + index * 8, pml4 | pte::kKernel);
    }
  } else {
    paging_->install_pae_self_map();
    t_.pte_base = 0xC0000000;
    for (const std::uint64_t pdpt : process_roots_) {
      // PAE: the kernel's 2 GiB (PDPT entries 2 and 3) through the kernel's own directories
      // would alias the self-map; give the process copies of directories 2 and 3 instead.
      for (std::uint64_t d = 2; d < 4; ++d) {
        for (std::uint64_t e = 0; e < 512; ++e) {
          g_.memory.put<std::uint64_t>(
              pdpt + 0x1000 * (d + 1) + e * 8,
              g_.memory.get<std::uint64_t>(t_.dtb + 0x1000 * (d + 1) + e * 8));
        }
      }
      for (std::uint64_t i = 0; i < 4; ++i) {
        g_.memory.put<std::uint64_t>(pdpt + 0x4000 + i * 8,
                                     (pdpt + 0x1000 * (i + 1)) | pte::kKernel);
      }
    }
  }
}

void Builder::build_kdbg() {
  const std::uint32_t kdbg_rva = x64_ ? x64_addr::kKdbgRva : x86_addr::kKdbgRva;
  t_.kdbg_va = kva(kdbg_rva);
  t_.kdbg_pa = pa_of(t_.kdbg_va);
  t_.kdbg_size = x64_ ? kdbg_size::kWin10_1809 : kdbg_size::kWin7;
  t_.debugger_data_list_va =
      kva(x64_ ? x64_addr::kDebuggerDataListRva : x86_addr::kDebuggerDataListRva);
  t_.version_block_va = kva(x64_ ? x64_addr::kVersionBlockRva : x86_addr::kVersionBlockRva);

  KdDebuggerData64 k{};
  if (sample_) {
    k = load_kdbg(sample_->kdbg);  // the real block; the fields the guest owns are set below
  } else if (x64_) {
    // The 19041 Offset*/Size* values Windows wrote into the sample's KDBG (reference §5.5).
    k.OffsetKThreadNextProcessor = 0x218;
    k.OffsetKThreadTeb = 0xf0;
    k.OffsetKThreadKernelStack = 0x58;
    k.OffsetKThreadInitialStack = 0x28;
    k.OffsetKThreadApcProcess = 0xb8;
    k.OffsetKThreadState = 0x184;
    k.OffsetEprocessPeb = 0x550;
    k.OffsetEprocessParentCID = 0x540;
    k.OffsetPrcbDpcRoutine = 0x312a;
    k.OffsetPrcbMhz = 0x44;
    k.OffsetPrcbCpuType = 0x40;
    k.OffsetPrcbVendorString = 0x8590;
    k.OffsetPrcbProcStateSpecialReg = 0x100;
    k.GdtR0Code = 0x10;
    k.GdtR0Data = 0x18;
    k.GdtR3Code = 0x33;
    k.GdtR3Data = 0x2b;
    k.GdtTss = 0x40;
    k.Gdt64R3CmCode = 0x23;
    k.Gdt64R3CmTeb = 0x53;
    k.OffsetKThreadStackLimit = 0x30;
    k.OffsetKThreadStackBase = 0x38;
    k.OffsetKThreadQueueListEntry = 0x208;
    k.OffsetEThreadIrpList = 0x4b0;
    k.OffsetPrcbIdleThread = 0x18;
    k.OffsetPrcbNormalDpcState = 0x312c;
    k.OffsetPrcbDpcStack = 0x3110;
    k.OffsetPrcbIsrStack = 0x85d8;
    k.SizeKDPC_STACK_FRAME = 0x50;
    k.OffsetKPriQueueThreadListHead = 0x2a0;
    k.OffsetKThreadWaitReason = 0x283;
    k.Flags = 1;
  } else {
    k.OffsetKThreadKernelStack = 0x30;
    k.OffsetKThreadInitialStack = 0x28;
    k.OffsetKThreadApcProcess = 0x50;
    k.OffsetEprocessPeb = 0x1a8;
    k.OffsetEprocessParentCID = 0x140;
    k.GdtR0Code = 0x08;
    k.GdtR0Data = 0x10;
    k.GdtR0Pcr = 0x30;
    k.GdtR3Code = 0x1b;
    k.GdtR3Data = 0x23;
    k.GdtR3Teb = 0x3b;
    k.GdtTss = 0x28;
    k.Flags = 1;  // PaeEnabled
  }
  k.Header.OwnerTag = kKdbgOwnerTag;
  k.Header.Size = t_.kdbg_size;
  k.KernBase = kdbg_ptr(t_.kernel_base);
  k.PsLoadedModuleList = kdbg_ptr(t_.ps_loaded_module_list);
  k.PsActiveProcessHead = kdbg_ptr(t_.ps_active_process_head);
  k.KiBugcheckData = kdbg_ptr(t_.ki_bugcheck_data);
  k.MmPfnDatabase = kdbg_ptr(t_.mm_pfn_database_va);
  k.KiProcessorBlock = kdbg_ptr(t_.ki_processor_block);
  k.MmPhysicalMemoryBlock = kdbg_ptr(t_.mm_physical_memory_block_va);
  k.NtBuildLab = kdbg_ptr(t_.nt_build_lab_va);
  k.MmPageSize = kPageSize;
  k.SizeEProcess = static_cast<std::uint16_t>(lay_.size_eprocess);
  k.OffsetEprocessDirectoryTableBase = static_cast<std::uint16_t>(lay_.process_dtb);
  k.SizePrcb = static_cast<std::uint16_t>(lay_.size_prcb);
  k.OffsetPrcbCurrentThread = static_cast<std::uint16_t>(lay_.prcb_current_thread);
  k.OffsetPrcbProcStateContext = static_cast<std::uint16_t>(lay_.prcb_proc_state_context);
  k.OffsetPrcbNumber = static_cast<std::uint16_t>(lay_.prcb_number);
  k.SizeEThread = static_cast<std::uint16_t>(lay_.size_ethread);
  k.SizePcr = static_cast<std::uint16_t>(lay_.size_pcr);
  k.OffsetPcrSelfPcr = static_cast<std::uint16_t>(lay_.pcr_self);
  k.OffsetPcrCurrentPrcb = static_cast<std::uint16_t>(lay_.pcr_current_prcb);
  k.OffsetPcrContainedPrcb = static_cast<std::uint16_t>(lay_.pcr_prcb);
  k.OffsetPrcbContext = static_cast<std::uint16_t>(lay_.prcb_context);
  if (x64_) k.PteBase = t_.pte_base;

  std::vector<std::byte> block(t_.kdbg_size);
  std::memcpy(block.data(), &k, t_.kdbg_size);
  // Header.List: on x64 a LIST_ENTRY64 through KdpDebuggerDataListHead; on x86 a 32-bit
  // LIST_ENTRY in the first 8 bytes and zeros after (Vol2's 32-bit scan signature, §6.2).
  if (x64_) {
    store<std::uint64_t>(block, 0, t_.debugger_data_list_va);
    store<std::uint64_t>(block, 8, t_.debugger_data_list_va);
  } else {
    store<std::uint64_t>(block, 0, 0);
    store<std::uint64_t>(block, 8, 0);
    store<std::uint32_t>(block, 0, static_cast<std::uint32_t>(t_.debugger_data_list_va));
    store<std::uint32_t>(block, 4, static_cast<std::uint32_t>(t_.debugger_data_list_va));
  }
  link(t_.debugger_data_list_va, t_.kdbg_va, t_.kdbg_va);
  t_.kdbg_plain = block;

  t_.kdbg_encoded = x64_ && spec_.kdbg_encoded;
  if (x64_) {
    t_.wait_never_va = kva(x64_addr::kWaitNeverRva);
    t_.wait_always_va = kva(x64_addr::kWaitAlwaysRva);
    t_.keys.encoded_flag_va = kva(x64_addr::kEncodedFlagRva);
    t_.keys.wait_never = rng_() | 0x8000000000000000ull;
    t_.keys.wait_always = rng_();
    if ((t_.keys.wait_never & 63) == 0) t_.keys.wait_never |= 0x13;  // a real rotation
    put<std::uint64_t>(t_.wait_never_va, t_.keys.wait_never);
    put<std::uint64_t>(t_.wait_always_va, t_.keys.wait_always);
    put<std::uint8_t>(t_.keys.encoded_flag_va, t_.kdbg_encoded ? 1 : 0);
    KdCopyDataBlockLayout l;
    l.code_rva = x64_addr::kKdCopyDataBlockRva;
    l.encoded_flag_rva = x64_addr::kEncodedFlagRva;
    l.kdbg_rva = kdbg_rva;
    l.wait_never_rva = x64_addr::kWaitNeverRva;
    l.wait_always_rva = x64_addr::kWaitAlwaysRva;
    l.kdbg_size = t_.kdbg_size;
    t_.kd_copy_data_block_va = kva(l.code_rva);
    write_va(t_.kd_copy_data_block_va, assemble_kd_copy_data_block(l));
  } else {
    t_.keys = {};
  }
  std::vector<std::byte> in_memory = block;
  if (t_.kdbg_encoded) kdbg_encode(in_memory, t_.keys);
  write_va(t_.kdbg_va, in_memory);

  DbgkdGetVersion64 v{};
  v.MajorVersion = kMajorVersionFree;
  v.MinorVersion = static_cast<std::uint16_t>(t_.build);
  v.ProtocolVersion = 6;
  v.KdSecondaryVersion = 2;
  v.Flags = version_flags::kMp | version_flags::kData | (x64_ ? version_flags::kPtr64 : 0);
  v.MachineType = t_.machine;
  v.MaxPacketType = 0x0C;
  v.MaxStateChange = 3;
  v.MaxManipulate = 0x33;
  v.KernBase = kdbg_ptr(t_.kernel_base);
  v.PsLoadedModuleList = kdbg_ptr(t_.ps_loaded_module_list);
  v.DebuggerDataList = kdbg_ptr(t_.debugger_data_list_va);
  put(t_.version_block_va, v);
}

void Builder::build_low_stub() {
  // PROCESSOR_START_BLOCK (§6.6): a real-mode `jmp` then CompletionFlag = 1, LmTarget (a
  // kernel VA) at +0x70 and ProcessorState.SpecialRegisters.Cr3 at +0xA0.
  const std::uint64_t pa = layout::low_stub::kPa;
  used_.insert(pa);
  const std::uint8_t head[8] = {0xE9, 0x6D, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00};
  g_.memory.write(pa, std::as_bytes(std::span(head)));
  g_.memory.put<std::uint64_t>(pa + layout::low_stub::kLmTarget, kva(x64_addr::kLmTargetRva));
  g_.memory.put<std::uint64_t>(pa + layout::low_stub::kCr3, t_.dtb);
  t_.low_stub_pa = pa;
}

}  // namespace

Guest build_guest(const GuestSpec& spec) {
  Guest g;
  Builder(spec, g).build();
  return g;
}

}  // namespace pagedump::synth
