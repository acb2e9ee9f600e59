#include "pagedump/physical_memory.h"

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/virtual_memory.h"

namespace pagedump {

std::string describe(const ReadResult& r, std::string_view space) {
  switch (r.status) {
    case ReadStatus::ok: return "ok";
    case ReadStatus::not_present:
      return fmt::format("{} address {:#x} is not in the image", space, r.address);
    case ReadStatus::truncated:
      return fmt::format("{} address {:#x} should be at file offset {:#x}, beyond the end of the "
                         "file (truncated)",
                         space, r.address, r.file_offset);
    case ReadStatus::not_mapped:
      return fmt::format("{} address {:#x} is not mapped", space, r.address);
    case ReadStatus::io_error:
      return fmt::format("{} address {:#x}: read error at file offset {:#x}", space, r.address,
                         r.file_offset);
  }
  return "unknown read status";
}

static ErrorKind kind_of(ReadStatus s) {
  switch (s) {
    case ReadStatus::truncated: return ErrorKind::truncated;
    case ReadStatus::io_error: return ErrorKind::io;
    default: return ErrorKind::not_present;
  }
}

void PhysicalMemory::read_physical_or_throw(std::uint64_t pa, std::span<std::byte> out) const {
  ReadResult r = read_physical(pa, out);
  if (!r) throw Error(kind_of(r.status), describe(r, "physical"));
}

bool PhysicalMemory::known_zero(std::uint64_t pa, std::uint64_t size) const {
  const StoredExtent stored = stored_extent(pa, pa + size);
  return stored.known_zero && stored.end >= pa + size;
}

std::uint64_t PhysicalMemory::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& r : ranges()) total += r.size;
  return total;
}

bool PhysicalMemory::contains(std::uint64_t pa) const {
  for (const auto& r : ranges()) {
    if (pa >= r.base && pa - r.base < r.size) return true;
  }
  return false;
}

void VirtualMemory::read_virtual_or_throw(std::uint64_t va, std::span<std::byte> out) const {
  ReadResult r = read_virtual(va, out);
  if (!r) throw Error(kind_of(r.status), describe(r, "virtual"));
}

std::optional<std::uint64_t> VirtualMemory::read_pointer(std::uint64_t va, bool is64) const {
  std::uint64_t v = 0;  // little-endian: the low 4 bytes are a 32-bit pointer
  if (!read_virtual(va, std::as_writable_bytes(std::span(&v, 1)).first(is64 ? 8 : 4))) {
    return std::nullopt;
  }
  return v;
}

}  // namespace pagedump
