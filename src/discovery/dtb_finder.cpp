// Directory table base of the System process, by layered strategies (reference §6.6): a
// captured processor's CR3 in kernel mode, the x64 low stub, then one pass over low physical
// memory looking for an x64 PML4 with a self-reference, an x86 PAE PDPT whose directories
// map themselves, or an x86 page directory with its self-map. A candidate is offered only if
// KUSER_SHARED_DATA maps through it with a plausible NtMajorVersion; the caller then accepts
// the first through which the kernel is found, so the scan reads no further than needed.
#include <algorithm>
#include <array>
#include <cstring>

#include "discovery_context.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint64_t kPfnMask64 = 0x000FFFFFFFFFF000ull;
constexpr std::uint64_t kScanLimit = 1ull << 30;  // System's tables are allocated early
constexpr std::size_t kChunk = 16 * kPageSize;

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

class Offerer {
 public:
  Offerer(Context& ctx, const std::function<bool(const DtbCandidate&)>& try_it)
      : ctx_(ctx), try_it_(try_it) {}
  // True when the candidate was accepted (the search is over).
  bool offer(DtbCandidate c) {
    for (const auto& s : seen_) {
      if (s.first == c.dtb && s.second == c.paging) return false;
    }
    seen_.emplace_back(c.dtb, c.paging);
    if (!kuser_maps(ctx_.memory, c.paging, c.dtb)) {
      ctx_.log("dtb: {} gives {:#x}: rejected, KUSER_SHARED_DATA does not map", c.method, c.dtb);
      return false;
    }
    ctx_.log("dtb: {} gives {:#x}: maps KUSER_SHARED_DATA", c.method, c.dtb);
    return try_it_(c);
  }

 private:
  Context& ctx_;
  const std::function<bool(const DtbCandidate&)>& try_it_;
  std::vector<std::pair<std::uint64_t, PagingMode>> seen_;
};

// Calls f(pa, page) for every page in [begin, limit) the image holds, reading in chunks;
// f returns true to stop.
template <class F>
bool for_each_low_page(const PhysicalMemory& mem, std::uint64_t begin, std::uint64_t limit, F f) {
  const auto buf = std::make_unique_for_overwrite<std::byte[]>(kChunk);
  for (const auto& r : mem.ranges()) {
    std::uint64_t pa = std::max((r.base + kPageSize - 1) & ~(kPageSize - 1), begin);
    const std::uint64_t end = std::min(r.end(), limit);
    while (pa + kPageSize <= end) {
      // Every shape looked for here has nonzero bytes (a jump, present entries), so the pages
      // a sparse image holds as holes are passed over without being read.
      const StoredExtent stored = mem.stored_extent(pa, end);
      if (stored.known_zero && stored.end >= pa + kPageSize) {
        pa = stored.end & ~(kPageSize - 1);
        continue;
      }
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(kChunk, (end - pa) & ~(kPageSize - 1)));
      const std::span<std::byte> chunk(buf.get(), n);
      if (!mem.read_physical(pa, chunk)) {
        pa += kPageSize;  // an unreadable chunk: go page by page past it
        continue;
      }
      for (std::size_t off = 0; off < n; off += kPageSize) {
        if (f(pa + off, std::span<const std::byte>(chunk).subspan(off, kPageSize))) return true;
      }
      pa += n;
    }
  }
  return false;
}

bool from_captured_cpus(Context& ctx, Offerer& offerer) {
  for (const auto& cpu : ctx.memory.cpus()) {
    if (cpu.cr3 == 0) continue;
    if (cpu.cr4 & (1ull << 12)) {
      throw Error(ErrorKind::unsupported,
                  fmt::format("cpu {} uses 5-level paging (CR4.LA57): not supported yet",
                              cpu.index));
    }
    const bool kernel = cpu.kernel_mode() ||
                        (cpu.gs_base.value_or(cpu.seg[CpuState::gs].base) >> 63) != 0;
    if (!kernel) {
      ctx.log("dtb: cpu {} CR3 {:#x} skipped: the processor is in user mode (its CR3 may be a "
              "process's or the KVA-shadow user one)",
              cpu.index, cpu.cr3);
      continue;
    }
    const bool long_mode = cpu.efer ? (*cpu.efer & (1ull << 10)) != 0 : cpu.arch == CpuArch::x64;
    DtbCandidate c;
    c.method = fmt::format("cpu {} CR3 (kernel mode)", cpu.index);
    if (long_mode) {
      c.paging = PagingMode::x64_4level;
      c.dtb = cpu.cr3 & kPfnMask64;  // PCID bits and the no-flush bit are not part of it
    } else if (cpu.cr4 & (1ull << 5)) {
      c.paging = PagingMode::x86_pae;
      c.dtb = cpu.cr3 & 0xFFFFFFE0ull;
    } else {
      c.paging = PagingMode::x86_legacy;
      c.dtb = cpu.cr3 & 0xFFFFF000ull;
    }
    if (offerer.offer(std::move(c))) return true;
  }
  return false;
}

// PROCESSOR_START_BLOCK in the first MiB: jmp signature, LmTarget, CR3 (reference §6.6).
bool from_low_stub(Context& ctx, Offerer& offerer) {
  bool seen = false;
  const bool found = for_each_low_page(ctx.memory, 0x1000, 0x100000, [&](std::uint64_t pa, auto page) {
    if ((u64_at(page, 0) & 0xFFFFFFFFFFFF00FFull) != 0x00000001000600E9ull) return false;
    const std::uint64_t lm_target = u64_at(page, 0x70);
    const std::uint64_t cr3 = u64_at(page, 0xA0);
    if ((lm_target & 0xFFFFF80000000003ull) != 0xFFFFF80000000000ull) return false;
    if ((cr3 & 0xFFFFFF0000000FFFull) != 0) return false;
    seen = true;
    DtbCandidate c;
    c.dtb = cr3;
    c.method = fmt::format("x64 low stub (PROCESSOR_START_BLOCK at {:#x})", pa);
    c.kernel_hint = lm_target;
    return offerer.offer(std::move(c));
  });
  if (!seen) ctx.log("dtb: x64 low stub: no PROCESSOR_START_BLOCK in the first MiB");
  return found;
}

std::optional<DtbCandidate> pml4_candidate(std::uint64_t pa, std::span<const std::byte> page) {
  for (std::size_t i = 256; i < 512; ++i) {
    const std::uint64_t e = u64_at(page, i * 8);
    // Present, not a large page, supervisor-only, pointing back at this page.
    if ((e & 0x85) != 0x01 || (e & kPfnMask64) != pa) continue;
    std::size_t kernel_entries = 0;
    for (std::size_t k = 256; k < 512; ++k) kernel_entries += (u64_at(page, k * 8) & 1);
    if (kernel_entries < 2) return std::nullopt;
    DtbCandidate c;
    c.dtb = pa;
    c.self_map_index = static_cast<int>(i);
    c.method = fmt::format("PML4 self-reference scan (index {:#x})", i);
    return c;
  }
  return std::nullopt;
}

// PAE: a page-aligned PDPT of 4 present entries and nothing else, whose fourth directory maps
// the four directories themselves at 0xC0000000 (Windows' PAE self-map).
std::optional<DtbCandidate> pae_candidate(const PhysicalMemory& mem, std::uint64_t pa,
                                          std::span<const std::byte> page) {
  std::array<std::uint64_t, 4> pdpte{};
  for (std::size_t i = 0; i < 4; ++i) {
    pdpte[i] = u64_at(page, i * 8);
    if ((pdpte[i] & 0xFFF00000000001E7ull) != 0x1) return std::nullopt;  // P set, reserved clear
  }
  for (std::size_t off = 32; off < kPageSize; off += 8) {
    if (u64_at(page, off) != 0) return std::nullopt;
  }
  std::array<std::byte, 32> pd3{};
  if (!mem.read_physical(pdpte[3] & 0xFFFFFFFFFF000ull, pd3)) return std::nullopt;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::uint64_t e = u64_at(pd3, i * 8);
    if ((e & 1) == 0 || (e & 0xFFFFFFFFFF000ull) != (pdpte[i] & 0xFFFFFFFFFF000ull)) {
      return std::nullopt;
    }
  }
  DtbCandidate c;
  c.dtb = pa;
  c.paging = PagingMode::x86_pae;
  c.method = "x86 PAE PDPT scan (self-mapped page directories)";
  return c;
}

// Non-PAE: the page directory maps itself at 0xC0000000 (PDE 0x300).
std::optional<DtbCandidate> legacy_candidate(std::uint64_t pa, std::span<const std::byte> page) {
  if (pa > 0xFFFFF000ull) return std::nullopt;
  const std::uint32_t self = u32_at(page, 0xC00);
  if ((self & 0xFFFFF083u) != ((pa & 0xFFFFF000u) | 3u)) return std::nullopt;
  std::size_t supervisor = 0;
  for (std::size_t i = 0x200; i < 0x400; ++i) supervisor += (u32_at(page, i * 4) & 0x7) == 0x3;
  if (supervisor < 16) return std::nullopt;
  DtbCandidate c;
  c.dtb = pa;
  c.paging = PagingMode::x86_legacy;
  c.method = "x86 non-PAE page directory scan (self-map at PDE 0x300)";
  return c;
}

}  // namespace

bool for_each_dtb_candidate(Context& ctx, const std::function<bool(const DtbCandidate&)>& try_it,
                            int only_self_map_index) {
  Offerer offerer(ctx, try_it);
  if (only_self_map_index < 0) {
    if (from_captured_cpus(ctx, offerer)) return true;
    if (from_low_stub(ctx, offerer)) return true;
  }
  std::size_t pml4 = 0, pae = 0, legacy = 0;
  const bool found = for_each_low_page(ctx.memory, 0, kScanLimit, [&](std::uint64_t pa, auto page) {
    if (auto c = pml4_candidate(pa, page)) {
      if (only_self_map_index >= 0 && c->self_map_index != only_self_map_index) return false;
      ++pml4;
      return offerer.offer(std::move(*c));
    }
    if (only_self_map_index >= 0) return false;
    if (auto c = pae_candidate(ctx.memory, pa, page)) {
      ++pae;
      return offerer.offer(std::move(*c));
    }
    if (auto c = legacy_candidate(pa, page)) {
      ++legacy;
      return offerer.offer(std::move(*c));
    }
    return false;
  });
  if (!found) {
    ctx.log("dtb: scan of the first GiB: {} self-referencing PML4s, {} PAE PDPTs, {} non-PAE "
            "page directories, none led to the kernel",
            pml4, pae, legacy);
  }
  return found;
}

void use_dtb(Context& ctx, const DtbCandidate& c) {
  ctx.sys.paging = c.paging;
  ctx.sys.architecture =
      c.paging == PagingMode::x64_4level ? Architecture::x64 : Architecture::x86;
  ctx.sys.directory_table_base = c.dtb;
  ctx.sys.dtb_method = c.method;
  ctx.sys.pae_enabled = c.paging == PagingMode::x86_pae;
  ctx.space = make_kernel_space(ctx.memory, c.paging, c.dtb);
  ctx.kernel_hints.clear();
  if (c.kernel_hint) ctx.kernel_hints.push_back(*c.kernel_hint);
}

}  // namespace pagedump::discovery
