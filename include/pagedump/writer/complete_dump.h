// Complete memory dumps from a captured image: DumpType 1 (runs) when the kernel's runs fit in
// the header, otherwise (or on request) DumpType 5, a full bitmap dump ('FDMP'). The source is
// only read; what debuggers need corrected (an encoded KDBG, processor contexts) is written
// into the output's pages, never into the image (reference §3, §4, §7, §8).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"

namespace pagedump {

enum class CompleteDumpLayout { automatic, runs, bitmap };

struct CompleteDumpOptions {
  std::string output;
  bool force = false;   // replace an existing output
  bool quiet = false;   // no progress line
  CompleteDumpLayout layout = CompleteDumpLayout::automatic;
  bool omit_zero_pages = false;          // bitmap layout only
  std::optional<Bugcheck> bugcheck;      // overrides the machine's own / 0xE2
  std::optional<std::uint32_t> bugcheck_cpu;  // whose context goes into the header (default 0)
  std::string source_format;             // named in the comment
  // Flush the dump to disk before it gets its name (durable against power loss; costs the
  // disk's write time). false (--no-sync): as fast as the page cache takes it, like cp.
  bool sync = true;
  // How much room the target's folder has; statvfs by default. Embedders (and tests) can
  // answer for a quota or a device they manage.
  std::function<std::uint64_t(const std::string& output)> free_space;
};

struct DumpWriteResult {
  std::string output;
  std::uint32_t dump_type = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t pages = 0;
  double seconds = 0;
  Bugcheck bugcheck;
  std::vector<std::string> notes;  // what was adjusted or could not be (for --json / verbose)
};

DumpWriteResult write_complete_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                    const CompleteDumpOptions& options);

// The capture step: `header` was made earlier by KeInitializeCrashDumpHeader (pagedump
// header). Refuses, asking for a new header, when the image's memory no longer matches it.
DumpWriteResult attach_complete_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                     std::span<const std::byte> header,
                                     const CompleteDumpOptions& options);

}  // namespace pagedump
