// Virtual memory views: page-table translation over physical memory, or the VA map a
// triage dump carries. Reads never invent bytes for unmapped or absent pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "pagedump/physical_memory.h"

namespace pagedump {

class VirtualMemory {
 public:
  virtual ~VirtualMemory() = default;
  // On failure, result.address is the first virtual address that could not be read.
  virtual ReadResult read_virtual(std::uint64_t va, std::span<std::byte> out) const = 0;
  void read_virtual_or_throw(std::uint64_t va, std::span<std::byte> out) const;
  // A pointer of the dump's width at va: 8 bytes, or 4 zero-extended; nullopt when unreadable.
  std::optional<std::uint64_t> read_pointer(std::uint64_t va, bool is64) const;
};

}  // namespace pagedump
