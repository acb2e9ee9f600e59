// Small memory dumps (triage dumps, DumpType 4) from a captured image, laid out as Windows
// lays them out (reference §5): the header with MiniDumpFields and the physical memory block
// left as fill, TRIAGE_DUMP64 at 0x2000 (TRIAGE_DUMP32 at 0x1000), then MM storage, unloaded
// drivers, the KPRCB, EPROCESS and ETHREAD of the bugcheck processor's thread, its kernel
// stack, the decoded KDBG copy, the driver list and its string pool, the data-block table and
// the blocks, zero padding and 'TRGD'.
//
// Size: current Windows sizes a small dump by its content (the 19041 sample is 1.4 MB); the
// file is capped by max_size. A classic dump (NT 5.x, --classic, or max_size 65536) is exactly
// 64 KiB. What does not fit is left out in this order: data blocks (last added first), the far
// end of the stack, the tail of the driver list; the header, context, exception, KPRCB,
// process and thread are never left out. Leaving anything out sets TRIAGE_OPTION_OVERFLOWED.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump {

inline constexpr std::uint64_t kSmallDumpDefaultMaxSize = 2 * 1024 * 1024;
inline constexpr std::uint64_t kClassicSmallDumpSize = 64 * 1024;

struct SmallDumpOptions {
  std::string output;        // the file to write; ignored when minidump_dir is set
  std::string minidump_dir;  // write MiniMMDDYY-NN.dmp there, never replacing one
  bool force = false;        // replace an existing output (not with minidump_dir)
  bool quiet = false;
  std::optional<std::uint64_t> max_size;  // default: 2 MiB, classic 64 KiB for NT 5.x
  bool classic = false;                   // exactly 64 KiB
  std::optional<std::uint32_t> cpu;       // default: the bugcheck processor, else the first
  std::optional<Bugcheck> bugcheck;       // overrides the machine's own / 0xE2
  std::string source_format;              // named in the comment
};

DumpWriteResult write_small_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                 const SmallDumpOptions& options);

// "MiniMMDDYY-NN.dmp" for a FILETIME (UTC) and a number 1..99.
std::string minidump_file_name(std::uint64_t filetime, unsigned number);

}  // namespace pagedump
