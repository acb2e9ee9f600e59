// The Crashdump Support Test's cycle on a captured image, with no machine to reboot: for each
// dump type write the dump with bugcheck 0xE2 (a manually initiated crash), then verify it
// expecting 0xE2. Writers come through a seam so that a type whose writer is not linked in
// reports "not available" instead of failing the build.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"
#include "pagedump/verify/verifier.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump::verify {

struct CrashtestWriteRequest {
  std::string output;
  Bugcheck bugcheck;
  std::string source_format;
  bool quiet = true;
};

using CrashtestWriter = std::function<DumpWriteResult(const PhysicalMemory& image, const DiscoveredSystem& system,
                                                      const CrashtestWriteRequest& request)>;

// One writer per type; an empty function means "not available yet".
struct CrashtestWriters {
  CrashtestWriter complete, kernel, small;
};
// The library's writers: complete (runs or bitmap), kernel (bitmap, DumpType 6) and small
// (triage, DumpType 4).
CrashtestWriters default_crashtest_writers();

struct CrashtestOptions {
  std::string out_dir;   // created if missing
  std::string base_name = "crashtest";  // files are BASE-complete.dmp, BASE-kernel.dmp, BASE-small.dmp
  std::string source_format;
  std::string symbols;   // passed to verify
  bool force = true;     // replace earlier outputs
};

enum class CrashtestResult { pass, fail, not_available };
std::string_view to_string(CrashtestResult r) noexcept;

struct CrashtestRow {
  std::string type;  // "complete", "kernel", "small"
  std::string file;
  std::uint64_t size = 0;
  CrashtestResult result = CrashtestResult::fail;
  std::string first_failure;  // "id: message", or why the dump was not written
  std::optional<VerifyReport> report;
};

inline constexpr std::uint32_t kCrashtestBugcheck = 0xE2;

// Runs the cycle; never throws for a dump that fails (that is a row), throws Error for an
// out_dir that cannot be created.
std::vector<CrashtestRow> run_crashtest(const PhysicalMemory& image, const DiscoveredSystem& system,
                                        const CrashtestOptions& options,
                                        const CrashtestWriters& writers = default_crashtest_writers());

// The Support Test's space check: nullopt when the folder can hold physical memory plus the
// header, else the message it gives.
std::optional<std::string> complete_dump_space_problem(const DiscoveredSystem& system, const std::string& output);

}  // namespace pagedump::verify
