// Reads a bounded sample of a PhysicalMemory the way commands do: the first and last page of
// each of the first ranges, a read straddling each range's end, and every CPU state.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

#include "pagedump/physical_memory.h"

namespace pagedump::fuzz {

inline void exercise_memory(const PhysicalMemory& m) {
  std::array<std::byte, 2 * kPageSize> buf{};
  const auto ranges = m.ranges();
  const std::size_t n = std::min<std::size_t>(ranges.size(), 32);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = ranges[i];
    (void)m.read_physical(r.base, std::span(buf).first(kPageSize));
    if (r.size >= kPageSize) {
      (void)m.read_physical(r.base + r.size - kPageSize, buf);  // runs past the end
    }
  }
  (void)m.read_physical(0, std::span(buf).first(kPageSize));
  (void)m.read_physical(~std::uint64_t(0) - 8, std::span(buf).first(16));
  for (const auto& cpu : m.cpus()) (void)cpu;
}

}  // namespace pagedump::fuzz
