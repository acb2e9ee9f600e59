// Version, KUSER_SHARED_DATA, the kernel's physical memory descriptor and its bugcheck data.
#include <algorithm>
#include <cstring>

#include "discovery_context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/version_block.h"

namespace pagedump::discovery {
namespace {

// KUSER_SHARED_DATA offsets, identical on x86 and x64 since NT 5.
constexpr std::uint64_t kInterruptTime = 0x08;   // KSYSTEM_TIME
constexpr std::uint64_t kSystemTime = 0x14;      // KSYSTEM_TIME
constexpr std::uint64_t kNtBuildNumber = 0x260;  // high nibble: 0xF free, 0xC checked
constexpr std::uint64_t kNtProductType = 0x264;
constexpr std::uint64_t kNtMajorVersion = 0x26C;
constexpr std::uint64_t kSuiteMask = 0x2D0;
constexpr std::uint32_t kMaxRuns = 4096;

std::optional<std::uint64_t> read_ksystem_time(const Context& ctx, std::uint64_t va) {
  // LowPart, High1Time, High2Time: consistent when High1Time == High2Time.
  auto t = ctx.read_as<std::array<std::uint32_t, 3>>(va);
  if (!t || (*t)[1] != (*t)[2]) return std::nullopt;
  return (std::uint64_t((*t)[1]) << 32) | (*t)[0];
}

bool find_version_block(Context& ctx) {
  const auto& k = ctx.sys.kdbg;
  const std::uint64_t center = ctx.sys.kdbg_va & ~(kPageSize - 1);
  std::vector<std::byte> page(kPageSize);
  // One page each side first, then sixteen (reference §6.5).
  for (std::uint64_t radius : {1ull, 16ull}) {
    for (std::uint64_t i = 0; i <= 2 * radius; ++i) {
      const std::uint64_t va = center - radius * kPageSize + i * kPageSize;
      if (radius == 16 && va + kPageSize > center - kPageSize && va <= center + kPageSize) continue;
      if (!ctx.read(va, page)) continue;
      for (std::size_t off = 0; off + sizeof(format::DbgkdGetVersion64) <= kPageSize; off += 8) {
        auto v = format::load<format::DbgkdGetVersion64>(page, off);
        if (v.KernBase != k.KernBase || v.PsLoadedModuleList != k.PsLoadedModuleList) continue;
        const std::uint16_t major = v.MajorVersion & 0xFF;
        if (major != format::kMajorVersionFree && major != format::kMajorVersionChecked) continue;
        ctx.sys.version_block_va = va + off;
        ctx.sys.build = v.MinorVersion;
        ctx.sys.major_version = major;
        ctx.sys.machine_image_type = v.MachineType;
        ctx.sys.kd_secondary_version = v.KdSecondaryVersion;
        ctx.sys.version_method = fmt::format("KdVersionBlock at {:#x}", va + off);
        return true;
      }
    }
  }
  return false;
}

}  // namespace

void find_version_and_shared_data(Context& ctx) {
  const std::uint64_t kuser = ctx.is64() ? kKuserSharedDataX64 : kKuserSharedDataX86;
  ctx.sys.machine_image_type = ctx.is64() ? format::machine::kAmd64 : format::machine::kI386;
  const bool have_block = find_version_block(ctx);
  if (!have_block) {
    auto build = ctx.read_as<std::uint32_t>(kuser + kNtBuildNumber);
    if (!build) throw Error(ErrorKind::not_present, "KUSER_SHARED_DATA.NtBuildNumber is unreadable");
    ctx.sys.build = *build & 0xFFFF;
    ctx.sys.major_version = (*build >> 28) == 0xC ? format::kMajorVersionChecked
                                                  : format::kMajorVersionFree;
    ctx.sys.version_method = "KUSER_SHARED_DATA.NtBuildNumber (no KdVersionBlock near the KDBG)";
  }
  ctx.log("version: build {} ({}), by {}", ctx.sys.build,
          ctx.sys.major_version == format::kMajorVersionChecked ? "checked" : "free",
          ctx.sys.version_method);
  ctx.sys.product_type = ctx.read_as<std::uint32_t>(kuser + kNtProductType).value_or(0);
  ctx.sys.suite_mask = ctx.read_as<std::uint32_t>(kuser + kSuiteMask).value_or(0);
  ctx.sys.system_time = read_ksystem_time(ctx, kuser + kSystemTime).value_or(0);
  ctx.sys.interrupt_time = read_ksystem_time(ctx, kuser + kInterruptTime).value_or(0);
  (void)kNtMajorVersion;
}

void find_physical_memory_runs(Context& ctx) {
  const std::uint64_t var = ctx.kva(ctx.sys.kdbg.MmPhysicalMemoryBlock);
  auto desc = var ? ctx.read_ptr(var) : std::nullopt;
  if (!desc || !*desc) {
    ctx.log("memory: KDBG.MmPhysicalMemoryBlock {:#x} is unreadable", var);
    return;
  }
  const std::uint64_t head = ctx.is64() ? 16 : 8;
  const std::uint64_t run_size = ctx.is64() ? 16 : 8;
  auto count = ctx.read_as<std::uint32_t>(*desc);
  if (!count || *count == 0 || *count > kMaxRuns) {
    ctx.log("memory: descriptor at {:#x} has an implausible run count", *desc);
    return;
  }
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < *count; ++i) {
    std::uint64_t base = 0, pages = 0;
    const std::uint64_t at = *desc + head + i * run_size;
    if (ctx.is64()) {
      auto r = ctx.read_as<std::array<std::uint64_t, 2>>(at);
      if (!r) break;
      base = (*r)[0];
      pages = (*r)[1];
    } else {
      auto r = ctx.read_as<std::array<std::uint32_t, 2>>(at);
      if (!r) break;
      base = (*r)[0];
      pages = (*r)[1];
    }
    ctx.sys.physical_memory_runs.emplace_back(base, pages);
    total += pages;
  }
  ctx.log("memory: {} runs, {} pages, from MmPhysicalMemoryBlock at {:#x}",
          ctx.sys.physical_memory_runs.size(), total, *desc);
  // Compare with what the image holds: every run should be inside the source's ranges.
  for (auto [base, pages] : ctx.sys.physical_memory_runs) {
    const std::uint64_t pa = base * kPageSize, end = (base + pages) * kPageSize;
    bool inside = false;
    for (const auto& r : ctx.memory.ranges()) inside |= pa >= r.base && end <= r.end();
    if (!inside) {
      ctx.sys.physical_memory_notes.push_back(fmt::format(
          "run {:#x}-{:#x} of the kernel's descriptor is not wholly in the image's ranges", pa,
          end));
    }
  }
}

void find_bugcheck(Context& ctx) {
  const std::uint64_t va = ctx.kva(ctx.sys.kdbg.KiBugcheckData);
  if (!va) return;
  Bugcheck b;
  if (ctx.is64()) {
    auto d = ctx.read_as<std::array<std::uint64_t, 5>>(va);
    if (!d) return;
    b.code = static_cast<std::uint32_t>((*d)[0]);
    for (int i = 0; i < 4; ++i) b.parameters[i] = (*d)[i + 1];
  } else {
    auto d = ctx.read_as<std::array<std::uint32_t, 5>>(va);
    if (!d) return;
    b.code = (*d)[0];
    for (int i = 0; i < 4; ++i) b.parameters[i] = (*d)[i + 1];
  }
  if (b.code != 0) {
    ctx.sys.bugcheck = b;
    ctx.log("bugcheck: KiBugcheckData at {:#x} holds {:#x}", va, b.code);
  } else {
    ctx.log("bugcheck: KiBugcheckData at {:#x} is empty (the machine had not crashed)", va);
  }
}

}  // namespace pagedump::discovery
