// The discovery pipeline: page-table root, kernel base, KDBG, then the facts that hang off the
// KDBG. Each step logs what it tried; a failure explains every strategy.
#include <algorithm>

#include "discovery_context.h"

namespace pagedump {
namespace discovery {
namespace {

[[noreturn]] void fail(const Context& ctx, const std::string& what) {
  std::string msg = "no Windows kernel found: " + what;
  if (ctx.memory.exhausted()) {
    msg += fmt::format(" (discovery gave up after reading {:#x} bytes of the image, its budget: "
                       "the page tables or structures loop or alias)",
                       ctx.memory.budget());
  }
  for (const auto& line : ctx.sys.log) msg += "\n  " + line;
  throw Error(ErrorKind::not_present, msg);
}

bool maps_kernel(const Context& ctx, const DtbCandidate& c) {
  auto space = make_kernel_space(ctx.memory, c.paging, c.dtb);
  std::uint16_t mz = 0;
  return space->read_virtual(ctx.sys.kernel_base, std::as_writable_bytes(std::span(&mz, 1))) &&
         mz == 0x5A4D;
}

void switch_dtb(Context& ctx, const DtbCandidate& c, const std::string& why) {
  ctx.log("dtb: switching from {:#x} to {:#x}: {}", ctx.sys.directory_table_base, c.dtb, why);
  use_dtb(ctx, c);
  ctx.sys.dtb_method = c.method + " (" + why + ")";
}

// Windows 10 1607+ randomises the self-map index; the KDBG's PteBase names the one this boot
// uses, which tells the live root apart from stale or foreign page tables.
void prefer_pte_base_agreement(Context& ctx, const DtbCandidate& chosen) {
  const auto& k = ctx.sys.kdbg;
  if (!ctx.is64() || k.Header.Size < format::kdbg_size::kWin10_1607 || k.PteBase == 0) return;
  const int want = static_cast<int>((k.PteBase >> 39) & 0x1FF);
  if (chosen.self_map_index < 0 || chosen.self_map_index == want) return;
  const bool found = for_each_dtb_candidate(
      ctx,
      [&](const DtbCandidate& c) {
        if (!maps_kernel(ctx, c)) return false;
        switch_dtb(ctx, c, fmt::format("its self-map index {:#x} agrees with KDBG.PteBase {:#x}",
                                       want, k.PteBase));
        return true;
      },
      want);
  if (!found) {
    ctx.log("dtb: self-map index {:#x} of {:#x} disagrees with KDBG.PteBase {:#x}; no better "
            "root found",
            chosen.self_map_index, chosen.dtb, k.PteBase);
  }
}

// Every process's page tables map the kernel, so a scan may first meet a process's PML4; the
// System process (PID 4) names its own, which is what the dump header must hold.
void prefer_system_process_dtb(Context& ctx) {
  for (const auto& p : ctx.sys.processes) {
    if (p.pid != 4) continue;
    const std::uint64_t mask = ctx.is64() ? 0x000FFFFFFFFFF000ull
                               : ctx.sys.paging == PagingMode::x86_pae ? 0xFFFFFFE0ull
                                                                       : 0xFFFFF000ull;
    const std::uint64_t dtb = p.directory_table_base & mask;
    if (dtb == ctx.sys.directory_table_base || dtb == 0) {
      if (dtb) ctx.sys.dtb_method += ", confirmed by the System process";
      return;
    }
    DtbCandidate c{dtb, ctx.sys.paging, "System process (PID 4) DirectoryTableBase", -1, {}};
    if (maps_kernel(ctx, c)) {
      switch_dtb(ctx, c, fmt::format("the scan's {:#x} belongs to another process",
                                     ctx.sys.directory_table_base));
    }
    return;
  }
}

}  // namespace
}  // namespace discovery

DiscoveredSystem discover_system(const PhysicalMemory& image, const DiscoveryOptions& options) {
  using namespace discovery;
  Context ctx(image, options);
  std::optional<DtbCandidate> chosen;
  std::uint32_t failed_roots = 0;
  for_each_dtb_candidate(ctx, [&](const DtbCandidate& c) {
    use_dtb(ctx, c);
    if (find_kernel_base(ctx)) {
      chosen = c;
      return true;
    }
    ctx.log("kernel: not found through {:#x} ({})", c.dtb, c.method);
    if (++failed_roots >= options.max_roots_without_kernel || ctx.memory.exhausted()) {
      ctx.log("dtb: giving up after {} page-table roots that lead to no kernel", failed_roots);
      return true;  // stop: `chosen` stays empty
    }
    return false;
  });
  if (!chosen) fail(ctx, "no page-table root leads to ntoskrnl");
  if (!find_kdbg(ctx)) fail(ctx, "the kernel's debugger data block (KDBG) was not found");
  prefer_pte_base_agreement(ctx, *chosen);

  find_version_and_shared_data(ctx);
  find_physical_memory_runs(ctx);
  find_processors(ctx);
  find_bugcheck(ctx);
  find_modules(ctx);
  find_processes(ctx);
  prefer_system_process_dtb(ctx);
  find_unloaded_drivers(ctx);
  if (ctx.memory.exhausted()) fail(ctx, "the read budget ran out while reading kernel structures");
  ctx.sys.bytes_read = ctx.memory.bytes_read();
  return std::move(ctx.sys);
}

}  // namespace pagedump
