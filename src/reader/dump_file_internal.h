// Helpers shared by the dump reader's source files (not installed).
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/physical_memory.h"
#include "pagedump/reader/dump_file.h"

namespace pagedump::reader_detail {

inline constexpr std::uint64_t kPageShift = 12;
// Highest PFN count whose byte addresses still fit in 64 bits.
inline constexpr std::uint64_t kMaxPfnEnd = std::uint64_t(1) << 52;

// "path: message": every reader error starts with the file it is about.
template <class... Args>
[[noreturn]] void fail(ErrorKind kind, const std::string& path, fmt::format_string<Args...> f,
                       Args&&... args) {
  throw Error(kind, path + ": " + fmt::format(f, std::forward<Args>(args)...));
}

// Four bytes as text for messages: printable ASCII as is, the rest as \xNN.
std::string printable_tag(std::uint32_t value);
std::string printable_bytes(const std::byte* data, std::size_t n);

}  // namespace pagedump::reader_detail

namespace pagedump {

// The bitmap is never held whole: a rank index (present pages before each chunk of 32768
// PFNs) plus one cached chunk answer lookups.
struct DumpFile::BitmapIndex {
  static constexpr std::uint64_t kChunkBytes = 4096;
  static constexpr std::uint64_t kChunkBits = kChunkBytes * 8;

  std::uint64_t bits_offset = 0;
  std::uint64_t bit_count = 0;
  std::vector<std::uint64_t> rank;  // present pages before chunk i; rank.back() = total

  mutable std::mutex mutex;
  mutable std::uint64_t cached = ~std::uint64_t(0);
  mutable std::vector<std::byte> chunk = std::vector<std::byte>(kChunkBytes);

  std::uint64_t chunks() const { return (bit_count + kChunkBits - 1) / kChunkBits; }
  std::uint64_t chunk_bytes(std::uint64_t c) const {
    std::uint64_t total = (bit_count + 7) / 8;
    return std::min(kChunkBytes, total - c * kChunkBytes);
  }
};

}  // namespace pagedump
