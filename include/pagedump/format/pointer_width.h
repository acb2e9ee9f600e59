// The dump structures of one pointer width, named alike, so that code that fills or reads them
// is written once for 64-bit (PAGEDU64) and 32-bit (PAGEDUMP) dumps. The structures themselves,
// and the static_asserts on their offsets, stay in dump_header.h and triage.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/dump_header.h"
#include "pagedump/format/triage.h"

namespace pagedump::format {

struct Width64 {
  using Pointer = std::uint64_t;
  using DumpHeader = DumpHeader64;
  using MemoryDescriptorHead = PhysicalMemoryDescriptor64Head;
  using MemoryRun = PhysicalMemoryRun64;
  using TriageDump = TriageDump64;
  using MmStorage = DumpMmStorage64;
  using UnloadedDriver = DumpUnloadedDriver64;
  using DriverEntry = DumpDriverEntry64;
  static constexpr std::size_t kUnloadedDriversHeader = kUnloadedDriversHeader64;
  static constexpr std::uint32_t kValidDump = kValidDump64;
  static constexpr std::size_t kMaxRuns = kMaxRuns64;
};

struct Width32 {
  using Pointer = std::uint32_t;
  using DumpHeader = DumpHeader32;
  using MemoryDescriptorHead = PhysicalMemoryDescriptor32Head;
  using MemoryRun = PhysicalMemoryRun32;
  using TriageDump = TriageDump32;
  using MmStorage = DumpMmStorage32;
  using UnloadedDriver = DumpUnloadedDriver32;
  using DriverEntry = DumpDriverEntry32;
  static constexpr std::size_t kUnloadedDriversHeader = kUnloadedDriversHeader32;
  static constexpr std::uint32_t kValidDump = kValidDump32;
  static constexpr std::size_t kMaxRuns = kMaxRuns32;
};

// Calls f(Width64{}) or f(Width32{}).
template <class F>
decltype(auto) with_width(bool is64, F&& f) {
  return is64 ? f(Width64{}) : f(Width32{});
}

}  // namespace pagedump::format
