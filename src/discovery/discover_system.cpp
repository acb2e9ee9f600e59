// The discovery pipeline: page-table root, kernel base, KDBG, then the facts that hang off the
// KDBG. Each step logs what it tried; a failure explains every strategy.
#include <algorithm>

#include "discovery_context.h"

namespace pagedump {
namespace discovery {
namespace {

[[noreturn]] void fail(const Context& ctx, const std::string& what) {
  std::string msg = "no Windows kernel found: " + what;
  for (const auto& line : ctx.sys.log) msg += "\n  " + line;
  throw Error(ErrorKind::not_present, msg);
}

// Windows 10 1607+ randomises the self-map; the KDBG's PteBase names the index Windows uses,
// which tells the System DTB apart from other self-mapped roots (e.g. another process's).
void prefer_pte_base_agreement(Context& ctx, const std::vector<DtbCandidate>& candidates,
                               std::size_t chosen) {
  const auto& k = ctx.sys.kdbg;
  if (!ctx.is64() || k.Header.Size < format::kdbg_size::kWin10_1607 || k.PteBase == 0) return;
  const int want = static_cast<int>((k.PteBase >> 39) & 0x1FF);
  const auto& c = candidates[chosen];
  if (c.self_map_index < 0 || c.self_map_index == want) return;
  for (const auto& other : candidates) {
    if (other.self_map_index != want || other.paging != PagingMode::x64_4level) continue;
    auto space = make_kernel_space(ctx.memory, other.paging, other.dtb);
    std::uint16_t mz = 0;
    if (space->read_virtual(ctx.sys.kernel_base, std::as_writable_bytes(std::span(&mz, 1))) &&
        mz == 0x5A4D) {
      ctx.log("dtb: switching from {:#x} to {:#x}, whose self-map index {:#x} agrees with the "
              "KDBG's PteBase {:#x}",
              c.dtb, other.dtb, want, k.PteBase);
      const auto kernel_hints = ctx.kernel_hints;
      use_dtb(ctx, other);
      ctx.kernel_hints = kernel_hints;
      ctx.sys.dtb_method += " (self-map agrees with KDBG.PteBase)";
      return;
    }
  }
  ctx.log("dtb: self-map index {:#x} of {:#x} disagrees with KDBG.PteBase {:#x}; no better root",
          c.self_map_index, c.dtb, k.PteBase);
}

}  // namespace
}  // namespace discovery

DiscoveredSystem discover_system(const PhysicalMemory& image, const DiscoveryOptions& options) {
  using namespace discovery;
  Context ctx(image, options);
  const auto candidates = find_dtb_candidates(ctx);
  if (candidates.empty()) fail(ctx, "no page-table root maps KUSER_SHARED_DATA");
  std::size_t chosen = candidates.size();
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    use_dtb(ctx, candidates[i]);
    if (find_kernel_base(ctx)) {
      chosen = i;
      break;
    }
    ctx.log("kernel: not found through {:#x} ({})", candidates[i].dtb, candidates[i].method);
  }
  if (chosen == candidates.size()) fail(ctx, "no candidate page-table root maps ntoskrnl");
  if (!find_kdbg(ctx)) fail(ctx, "the kernel's debugger data block (KDBG) was not found");
  prefer_pte_base_agreement(ctx, candidates, chosen);

  find_version_and_shared_data(ctx);
  find_physical_memory_runs(ctx);
  find_processors(ctx);
  find_bugcheck(ctx);
  find_modules(ctx);
  find_processes(ctx);
  find_unloaded_drivers(ctx);
  ctx.sys.bytes_read = ctx.memory.bytes_read();
  return std::move(ctx.sys);
}

}  // namespace pagedump
