// Kernel memory dumps (DumpType 6, a bitmap dump signed 'SDMP', reference §4): the kernel's
// memory without the processes' private memory. Stored are every page mapped in the kernel
// half of the System directory table base (VAs at or above MmSystemRangeStart), every
// page-table page read on the way, and KUSER_SHARED_DATA; optionally one process's user pages
// and their tables (an "active" kernel dump). Header, bugcheck, overlays, space check, atomic
// output and progress are those of the complete dump.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump {

struct KernelDumpOptions {
  std::string output;
  bool force = false;
  bool quiet = false;
  std::optional<Bugcheck> bugcheck;
  std::optional<std::uint32_t> bugcheck_cpu;
  std::string source_format;
  std::optional<std::uint64_t> include_process;  // PID whose user pages are added
  std::function<std::uint64_t(const std::string& output)> free_space;  // as CompleteDumpOptions
  bool sync = true;                                                     // as CompleteDumpOptions
};

// Where the kernel half starts when the KDBG's MmSystemRangeStart cannot be read: x64
// 0xFFFF800000000000, x86 0x80000000 (a /3GB system has a higher start; its pages between
// 2 and 3 GiB are then stored too, which is harmless).
std::uint64_t default_system_range_start(Architecture arch) noexcept;

// Throws Error(not_present) when include_process names no discovered process; pages the
// image does not hold (device memory mapped by the kernel) are left out with a note.
DumpWriteResult write_kernel_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                  const KernelDumpOptions& options);

}  // namespace pagedump
