// Directory table base of the System process, by layered strategies (reference §6.6). Each
// candidate must map KUSER_SHARED_DATA with a plausible NtMajorVersion before it is offered;
// the kernel-base search then decides between candidates (a KVA-shadow user CR3 maps
// KUSER_SHARED_DATA but not the kernel image).
#include <algorithm>
#include <array>
#include <cstring>

#include "discovery_context.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint64_t kPfnMask64 = 0x000FFFFFFFFFF000ull;
constexpr std::uint64_t kScanLimit = 1ull << 30;  // System's tables are allocated early
constexpr std::size_t kChunk = 16 * kPageSize;

bool kuser_maps(const PhysicalMemory& mem, PagingMode paging, std::uint64_t dtb) {
  auto space = make_kernel_space(mem, paging, dtb);
  const std::uint64_t kuser =
      paging == PagingMode::x64_4level ? kKuserSharedDataX64 : kKuserSharedDataX86;
  std::uint32_t major = 0;
  if (!space->read_virtual(kuser + 0x26C, std::as_writable_bytes(std::span(&major, 1)))) {
    return false;
  }
  return major == 5 || major == 6 || major == 10;
}

void offer(Context& ctx, std::vector<DtbCandidate>& out, DtbCandidate c) {
  for (const auto& o : out) {
    if (o.dtb == c.dtb && o.paging == c.paging) return;
  }
  if (kuser_maps(ctx.memory, c.paging, c.dtb)) {
    ctx.log("dtb: {} gives {:#x}: maps KUSER_SHARED_DATA", c.method, c.dtb);
    out.push_back(std::move(c));
  } else {
    ctx.log("dtb: {} gives {:#x}: rejected, KUSER_SHARED_DATA does not map", c.method, c.dtb);
  }
}

// Calls f(pa, page) for every page below `limit` the image holds, reading in chunks.
template <class F>
void for_each_low_page(const PhysicalMemory& mem, std::uint64_t begin, std::uint64_t limit, F f) {
  std::vector<std::byte> buf(kChunk);
  for (const auto& r : mem.ranges()) {
    std::uint64_t pa = std::max((r.base + kPageSize - 1) & ~(kPageSize - 1), begin);
    const std::uint64_t end = std::min(r.end(), limit);
    while (pa + kPageSize <= end) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, (end - pa) & ~(kPageSize - 1)));
      if (!mem.read_physical(pa, std::span(buf).first(n))) {
        pa += kPageSize;  // an unreadable chunk: go page by page past it
        continue;
      }
      for (std::size_t off = 0; off < n; off += kPageSize) {
        if (!f(pa + off, std::span<const std::byte>(buf).subspan(off, kPageSize))) return;
      }
      pa += n;
    }
  }
}

std::uint64_t u64_at(std::span<const std::byte> page, std::size_t off) {
  std::uint64_t v;
  std::memcpy(&v, page.data() + off, 8);
  return v;
}
std::uint32_t u32_at(std::span<const std::byte> page, std::size_t off) {
  std::uint32_t v;
  std::memcpy(&v, page.data() + off, 4);
  return v;
}

void from_captured_cpus(Context& ctx, std::vector<DtbCandidate>& out) {
  for (const auto& cpu : ctx.memory.cpus()) {
    if (cpu.cr3 == 0) continue;
    const bool la57 = cpu.cr4 & (1ull << 12);
    if (la57) {
      throw Error(ErrorKind::unsupported,
                  fmt::format("cpu {} uses 5-level paging (CR4.LA57): not supported yet",
                              cpu.index));
    }
    const bool kernel = cpu.kernel_mode() ||
                        (cpu.gs_base.value_or(cpu.seg[CpuState::gs].base) >> 63) != 0;
    const bool long_mode = cpu.efer ? (*cpu.efer & (1ull << 10)) != 0 : cpu.arch == CpuArch::x64;
    const bool pae = cpu.cr4 & (1ull << 5);
    if (!kernel) {
      ctx.log("dtb: cpu {} CR3 {:#x} skipped: the processor is in user mode", cpu.index, cpu.cr3);
      continue;
    }
    DtbCandidate c;
    c.method = fmt::format("cpu {} CR3 (kernel mode)", cpu.index);
    if (long_mode) {
      c.paging = PagingMode::x64_4level;
      c.dtb = cpu.cr3 & kPfnMask64;  // PCID bits and the no-flush bit are not part of it
    } else if (pae) {
      c.paging = PagingMode::x86_pae;
      c.dtb = cpu.cr3 & 0xFFFFFFE0ull;
    } else {
      c.paging = PagingMode::x86_legacy;
      c.dtb = cpu.cr3 & 0xFFFFF000ull;
    }
    offer(ctx, out, std::move(c));
  }
}

// PROCESSOR_START_BLOCK in the first MiB: jmp signature, LmTarget, CR3 (reference §6.6).
void from_low_stub(Context& ctx, std::vector<DtbCandidate>& out) {
  bool seen = false;
  for_each_low_page(ctx.memory, 0x1000, 0x100000, [&](std::uint64_t pa, auto page) {
    if ((u64_at(page, 0) & 0xFFFFFFFFFFFF00FFull) != 0x00000001000600E9ull) return true;
    const std::uint64_t lm_target = u64_at(page, 0x70);
    const std::uint64_t cr3 = u64_at(page, 0xA0);
    if ((lm_target & 0xFFFFF80000000003ull) != 0xFFFFF80000000000ull) return true;
    if ((cr3 & 0xFFFFFF0000000FFFull) != 0) return true;
    seen = true;
    DtbCandidate c;
    c.dtb = cr3;
    c.method = fmt::format("x64 low stub (PROCESSOR_START_BLOCK at {:#x})", pa);
    c.kernel_hint = lm_target;
    offer(ctx, out, std::move(c));
    return true;
  });
  if (!seen) ctx.log("dtb: x64 low stub: no PROCESSOR_START_BLOCK in the first MiB");
}

// A PML4 whose kernel half holds an entry pointing back at the page itself (Windows maps its
// page tables through it; the index is randomised since Windows 10 1607).
void from_pml4_scan(Context& ctx, std::vector<DtbCandidate>& out) {
  std::size_t found = 0;
  for_each_low_page(ctx.memory, 0, kScanLimit, [&](std::uint64_t pa, auto page) {
    for (std::size_t i = 256; i < 512; ++i) {
      const std::uint64_t e = u64_at(page, i * 8);
      if ((e & 0x81) != 0x01 || (e & kPfnMask64) != pa) continue;
      // Windows keeps the self-map supervisor-only, and user entries never reference it.
      if (e & 0x4) continue;
      std::size_t kernel_entries = 0;
      for (std::size_t k = 256; k < 512; ++k) kernel_entries += (u64_at(page, k * 8) & 1);
      if (kernel_entries < 2) continue;
      DtbCandidate c;
      c.dtb = pa;
      c.self_map_index = static_cast<int>(i);
      c.method = fmt::format("PML4 self-reference scan (index {:#x})", i);
      ++found;
      offer(ctx, out, std::move(c));
      break;
    }
    return found < 64;
  });
  if (!found) ctx.log("dtb: PML4 self-reference scan: no candidate below 1 GiB");
}

// PAE: a page-aligned PDPT of 4 present entries and nothing else, whose fourth page directory
// maps the four directories themselves at 0xC0000000 (Windows' PAE self-map).
void from_pae_scan(Context& ctx, std::vector<DtbCandidate>& out) {
  std::size_t found = 0;
  for_each_low_page(ctx.memory, 0, kScanLimit, [&](std::uint64_t pa, auto page) {
    std::array<std::uint64_t, 4> pdpte{};
    for (std::size_t i = 0; i < 4; ++i) {
      pdpte[i] = u64_at(page, i * 8);
      if ((pdpte[i] & 0xFFF00000000001E7ull) != 0x1) return true;  // P set, reserved clear
    }
    for (std::size_t off = 32; off < kPageSize; off += 8) {
      if (u64_at(page, off) != 0) return true;
    }
    std::array<std::byte, 32> pd3{};
    if (!ctx.memory.read_physical(pdpte[3] & 0xFFFFFFFFFF000ull, pd3)) return true;
    for (std::size_t i = 0; i < 4; ++i) {
      const std::uint64_t e = u64_at(pd3, i * 8);
      if ((e & 1) == 0 || (e & 0xFFFFFFFFFF000ull) != (pdpte[i] & 0xFFFFFFFFFF000ull)) return true;
    }
    DtbCandidate c;
    c.dtb = pa;
    c.paging = PagingMode::x86_pae;
    c.method = "x86 PAE PDPT scan (self-mapped page directories)";
    ++found;
    offer(ctx, out, std::move(c));
    return found < 64;
  });
  if (!found) ctx.log("dtb: x86 PAE scan: no candidate below 1 GiB");
}

// Non-PAE: the page directory maps itself at 0xC0000000 (PDE 0x300).
void from_legacy_scan(Context& ctx, std::vector<DtbCandidate>& out) {
  std::size_t found = 0;
  for_each_low_page(ctx.memory, 0, kScanLimit, [&](std::uint64_t pa, auto page) {
    const std::uint32_t self = u32_at(page, 0xC00);
    if ((self & 0xFFFFF083u) != ((pa & 0xFFFFF000u) | 3u) || pa > 0xFFFFFFFFull) return true;
    std::size_t supervisor = 0;
    for (std::size_t i = 0x200; i < 0x400; ++i) {
      const std::uint32_t e = u32_at(page, i * 4);
      supervisor += (e & 0x7) == 0x3;
    }
    if (supervisor < 16) return true;
    DtbCandidate c;
    c.dtb = pa;
    c.paging = PagingMode::x86_legacy;
    c.method = "x86 non-PAE page directory scan (self-map at PDE 0x300)";
    ++found;
    offer(ctx, out, std::move(c));
    return found < 64;
  });
  if (!found) ctx.log("dtb: x86 non-PAE scan: no candidate below 1 GiB");
}

}  // namespace

std::vector<DtbCandidate> find_dtb_candidates(Context& ctx) {
  std::vector<DtbCandidate> out;
  from_captured_cpus(ctx, out);
  from_low_stub(ctx, out);
  from_pml4_scan(ctx, out);
  const bool have_x64 = std::any_of(out.begin(), out.end(),
                                    [](const auto& c) { return c.paging == PagingMode::x64_4level; });
  if (!have_x64) {
    from_pae_scan(ctx, out);
    from_legacy_scan(ctx, out);
  }
  return out;
}

void use_dtb(Context& ctx, const DtbCandidate& c) {
  ctx.sys.paging = c.paging;
  ctx.sys.architecture = c.paging == PagingMode::x64_4level ? Architecture::x64 : Architecture::x86;
  ctx.sys.directory_table_base = c.dtb;
  ctx.sys.dtb_method = c.method;
  ctx.sys.pae_enabled = c.paging == PagingMode::x86_pae;
  ctx.space = make_kernel_space(ctx.memory, c.paging, c.dtb);
  ctx.kernel_hints.clear();
  if (c.kernel_hint) ctx.kernel_hints.push_back(*c.kernel_hint);
}

}  // namespace pagedump::discovery
