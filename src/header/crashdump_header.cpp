// KeInitializeCrashDumpHeader over a discovered system (reference §8).
#include "pagedump/crashdump_header.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>

#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/pointer_width.h"
#include "pagedump/sources/open_image.h"

namespace pagedump {
namespace {

using namespace format;

template <class Header>
void fill_common(Header& h, const DiscoveredSystem& s) {
  h.Signature = kSignaturePage;
  h.MajorVersion = s.major_version;
  h.MinorVersion = s.build;
  h.MachineImageType = s.machine_image_type;
  h.NumberProcessors = s.number_processors();
  h.DumpType = static_cast<std::uint32_t>(DumpType::full);
  h.SystemTime = s.system_time;
  h.SystemUpTime = s.interrupt_time;
  h.ProductType = s.product_type;
  h.SuiteMask = s.suite_mask;
  h.KdSecondaryVersion = s.kd_secondary_version;
}

// One body for both widths; the 32-bit header's fields are narrowed to what it stores.
template <class W>
void fill_width(typename W::DumpHeader& h, const DiscoveredSystem& s, bool with_runs) {
  using Pointer = typename W::Pointer;
  fill_common(h, s);
  h.ValidDump = W::kValidDump;
  h.DirectoryTableBase = static_cast<Pointer>(s.directory_table_base);
  h.PfnDataBase = static_cast<Pointer>(s.kdbg.MmPfnDatabase);
  h.PsLoadedModuleList = static_cast<Pointer>(s.kdbg.PsLoadedModuleList);
  h.PsActiveProcessHead = static_cast<Pointer>(s.kdbg.PsActiveProcessHead);
  h.KdDebuggerDataBlock = static_cast<Pointer>(s.kdbg_va);
  if constexpr (std::is_same_v<W, Width32>) h.PaeEnabled = s.pae_enabled ? 1 : 0;
  if (!with_runs) return;
  typename W::MemoryDescriptorHead d;
  std::memcpy(&d, h.PhysicalMemoryBlock, sizeof d);  // keeps the 64-bit pad's fill
  d.NumberOfRuns = static_cast<std::uint32_t>(s.physical_memory_runs.size());
  d.NumberOfPages = 0;
  for (std::size_t i = 0; i < s.physical_memory_runs.size(); ++i) {
    const typename W::MemoryRun run{static_cast<Pointer>(s.physical_memory_runs[i].first),
                                    static_cast<Pointer>(s.physical_memory_runs[i].second)};
    std::memcpy(h.PhysicalMemoryBlock + sizeof d + i * sizeof run, &run, sizeof run);
    d.NumberOfPages += run.PageCount;
  }
  std::memcpy(h.PhysicalMemoryBlock, &d, sizeof d);
}

}  // namespace

uint32_t crash_dump_header_size(const DiscoveredSystem& system) noexcept {
  return system.architecture == Architecture::x64 ? kHeaderSize64 : kHeaderSize32;
}

PAGEDUMP_NTSTATUS ke_initialize_crash_dump_header(const DiscoveredSystem& s, uint32_t dump_type,
                                                  uint32_t flags, void* buffer,
                                                  uint32_t buffer_size,
                                                  uint32_t* buffer_needed) noexcept {
  const bool is64 = s.architecture == Architecture::x64;
  const uint32_t size = crash_dump_header_size(s);
  if (buffer_needed) *buffer_needed = size;
  if (dump_type != PAGEDUMP_DUMP_TYPE_FULL || flags != 0) return PAGEDUMP_STATUS_INVALID_PARAMETER;
  if (!buffer || buffer_size < size) return PAGEDUMP_STATUS_BUFFER_TOO_SMALL;
  if (s.physical_memory_runs.empty() ||
      s.physical_memory_runs.size() > (is64 ? kMaxRuns64 : kMaxRuns32)) {
    return PAGEDUMP_STATUS_NOT_SUPPORTED;
  }
  fill_system_header(s, std::span(static_cast<std::byte*>(buffer), size), true);
  return PAGEDUMP_STATUS_SUCCESS;
}

void fill_system_header(const DiscoveredSystem& s, std::span<std::byte> bytes,
                        bool with_runs) noexcept {
  fill_page_pattern(bytes);
  // The structs are the on-disk layout: fill a copy of the fill, then store it back.
  with_width(s.architecture == Architecture::x64, [&](auto width) {
    using W = decltype(width);
    typename W::DumpHeader h;
    if (bytes.size() < sizeof h) return;
    std::memcpy(&h, bytes.data(), sizeof h);
    fill_width<W>(h, s, with_runs);
    std::memcpy(bytes.data(), &h, sizeof h);
  });
}

}  // namespace pagedump

struct pagedump_system {
  pagedump::DiscoveredSystem system;
};

namespace {
void copy_message(const char* what, char* error, size_t error_size) {
  if (!error || error_size == 0) return;
  const size_t n = std::min(std::strlen(what), error_size - 1);
  std::memcpy(error, what, n);
  error[n] = '\0';
}
}  // namespace

extern "C" PAGEDUMP_NTSTATUS pagedump_system_open(const char* image_path,
                                                  pagedump_system** system, char* error,
                                                  size_t error_size) {
  if (!image_path || !system) {
    copy_message("image_path and system must not be NULL", error, error_size);
    return PAGEDUMP_STATUS_INVALID_PARAMETER;
  }
  *system = nullptr;
  try {
    auto image = pagedump::open_image(image_path);
    auto result = std::make_unique<pagedump_system>();
    result->system = pagedump::discover_system(*image);
    *system = result.release();
    return PAGEDUMP_STATUS_SUCCESS;
  } catch (const pagedump::Error& e) {
    copy_message(e.what(), error, error_size);
    return e.kind() == pagedump::ErrorKind::not_present ? PAGEDUMP_STATUS_NOT_FOUND
                                                        : PAGEDUMP_STATUS_INVALID_PARAMETER;
  } catch (const std::exception& e) {
    copy_message(e.what(), error, error_size);
    return PAGEDUMP_STATUS_INVALID_PARAMETER;
  }
}

extern "C" void pagedump_system_close(pagedump_system* system) { delete system; }

extern "C" PAGEDUMP_NTSTATUS pagedump_ke_initialize_crash_dump_header(
    const pagedump_system* system, uint32_t DumpType, uint32_t Flags, void* Buffer,
    uint32_t BufferSize, uint32_t* BufferNeeded) {
  if (!system) return PAGEDUMP_STATUS_INVALID_PARAMETER;
  return pagedump::ke_initialize_crash_dump_header(system->system, DumpType, Flags, Buffer,
                                                   BufferSize, BufferNeeded);
}
