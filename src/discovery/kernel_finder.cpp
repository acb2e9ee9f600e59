// Kernel base: first from hints (the low stub's LmTarget, a processor's IDT handlers, its
// KPCR's IDT), scanning down from each for an MZ/PE image that is the kernel; then a scan of
// the kernel's usual range (reference §6.6). A PE that is not the kernel (a decoy, a driver,
// a fragment) is logged and skipped, never accepted.
#include <algorithm>

#include "discovery_context.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint64_t kHintScanBytes = 64ull << 20;

bool has_mz(const Context& ctx, std::uint64_t va) {
  std::uint16_t mz = 0;
  return ctx.read(va, std::as_writable_bytes(std::span(&mz, 1))) && mz == 0x5A4D;
}

// Tries the image at `va`; on success fills the system and returns true.
bool try_candidate(Context& ctx, std::uint64_t va, const std::string& method,
                   std::size_t& rejected) {
  std::string why;
  auto id = read_image_identity(*ctx.space, va, why);
  if (id && is_kernel_image(*id)) {
    ctx.sys.kernel_base = va;
    ctx.sys.kernel_size = id->size_of_image;
    ctx.sys.kernel_base_method = method;
    if (id->pdb) ctx.sys.kernel_pdb = *id->pdb;
    ctx.log("kernel: {:#x} is ntoskrnl ({}), found by {}", va,
            id->pdb ? id->pdb->name : id->export_name, method);
    return true;
  }
  if (++rejected <= 16) {
    ctx.log("kernel: MZ at {:#x} is not the kernel: {}", va,
            id ? fmt::format("export name '{}', PDB '{}'", id->export_name,
                             id->pdb ? id->pdb->name : std::string("none"))
               : why);
  }
  return false;
}

// The scans probe every page (or 2 MiB) of a range; where a table entry above the leaf is not
// valid, every VA under it fails the same way, so the scan steps over its whole span. The VAs
// tried are those of a probe at each step: an image that maps little of the range (a small or
// partial capture) costs a few reads per unmapped PML4E / PDPTE / PDE instead of one per VA.
bool scan_down_from(Context& ctx, std::uint64_t hint, const std::string& method) {
  std::size_t rejected = 0;
  const std::uint64_t top = hint & ~(kPageSize - 1);
  const std::uint64_t floor = ctx.is64() ? 0xFFFF800000000000ull : 0x80000000ull;
  for (std::uint64_t off = 0; off < kHintScanBytes && top - off >= floor;) {
    const std::uint64_t va = top - off;
    if (const Translation t = ctx.space->translate(va); !t) {
      const std::uint64_t first = ctx.space->failing_range(t).first;  // page-aligned, <= va
      if (first < kPageSize) break;
      off = top - first + kPageSize;
      continue;
    }
    if (has_mz(ctx, va) && try_candidate(ctx, va, method, rejected)) return true;
    off += kPageSize;
  }
  return false;
}

void add_idt_hints(Context& ctx, std::uint64_t idt, std::vector<std::uint64_t>& hints) {
  for (std::uint64_t vec = 0; vec < 32; ++vec) {
    if (ctx.is64()) {
      std::array<std::uint32_t, 4> gate{};
      if (!ctx.read(idt + vec * 16, std::as_writable_bytes(std::span(gate)))) return;
      const std::uint64_t handler = (gate[0] & 0xFFFF) | (gate[1] & 0xFFFF0000ull) |
                                    (std::uint64_t(gate[2]) << 32);
      if (ctx.is_kernel_va(handler)) hints.push_back(handler);
    } else {
      std::array<std::uint32_t, 2> gate{};
      if (!ctx.read(idt + vec * 8, std::as_writable_bytes(std::span(gate)))) return;
      const std::uint64_t handler = (gate[0] & 0xFFFF) | (gate[1] & 0xFFFF0000u);
      if (ctx.is_kernel_va(handler)) hints.push_back(handler);
    }
    if (hints.size() > 64) return;
  }
}

std::vector<std::uint64_t> collect_hints(Context& ctx) {
  std::vector<std::uint64_t> hints = ctx.kernel_hints;
  for (const auto& cpu : ctx.memory.cpus()) {
    if (ctx.is_kernel_va(cpu.idtr.base)) add_idt_hints(ctx, cpu.idtr.base, hints);
    // The KPCR (GS base in kernel mode, KERNEL_GS_BASE in user mode; FS base on x86) holds
    // the IDT base at +0x38 on both architectures.
    std::vector<std::uint64_t> pcrs;
    if (ctx.is64()) {
      if (cpu.kernel_gs_base) pcrs.push_back(*cpu.kernel_gs_base);
      if (cpu.gs_base) pcrs.push_back(*cpu.gs_base);
      pcrs.push_back(cpu.seg[CpuState::gs].base);
    } else {
      pcrs.push_back(cpu.seg[CpuState::fs].base);
    }
    for (std::uint64_t pcr : pcrs) {
      if (!ctx.is_kernel_va(pcr)) continue;
      if (auto idt = ctx.read_ptr(pcr + 0x38); idt && ctx.is_kernel_va(*idt)) {
        add_idt_hints(ctx, *idt, hints);
      }
    }
    if (ctx.is_kernel_va(cpu.rip)) hints.push_back(cpu.rip);
  }
  // Distinct 2 MiB regions only: nearby hints scan the same pages.
  std::vector<std::uint64_t> unique;
  for (auto h : hints) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](auto u) { return (u >> 21) == (h >> 21); })) {
      unique.push_back(h);
    }
  }
  return unique;
}

bool scan_range(Context& ctx, std::uint64_t begin, std::uint64_t end, std::uint64_t step,
                const std::string& method) {
  std::size_t rejected = 0;
  for (std::uint64_t va = begin; va < end;) {
    if (const Translation t = ctx.space->translate(va); !t) {
      const std::uint64_t last = ctx.space->failing_range(t).last;  // >= va
      if (last >= end - 1) break;
      va = begin + ((last - begin) / step + 1) * step;  // the first probe past it
      continue;
    }
    if (has_mz(ctx, va) && try_candidate(ctx, va, method, rejected)) return true;
    va += step;
  }
  return false;
}

}  // namespace

bool find_kernel_base(Context& ctx) {
  for (std::uint64_t hint : collect_hints(ctx)) {
    if (scan_down_from(ctx, hint, fmt::format("MZ/PE scan down from hint {:#x}", hint))) {
      return true;
    }
  }
  if (ctx.is64()) {
    // KASLR places ntoskrnl on a 2 MiB boundary in this range (Windows 10+); older kernels sit
    // on 4 KiB boundaries inside mapped 2 MiB regions near its start.
    if (scan_range(ctx, 0xFFFFF80000000000ull, 0xFFFFF80800000000ull, 2ull << 20,
                   "2 MiB-aligned MZ/PE scan of 0xfffff80000000000-0xfffff807ffffffff")) {
      return true;
    }
    return scan_range(ctx, 0xFFFFF80000000000ull, 0xFFFFF80010000000ull, kPageSize,
                      "MZ/PE scan of 0xfffff80000000000-0xfffff8000fffffff");
  }
  return scan_range(ctx, 0x80000000ull, 0x88000000ull, kPageSize,
                    "MZ/PE scan of 0x80000000-0x87ffffff");
}

}  // namespace pagedump::discovery
