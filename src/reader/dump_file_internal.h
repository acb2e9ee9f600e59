// Helpers shared by the dump reader's source files (not installed).
#pragma once

#include <array>
#include <algorithm>
#include <cstdint>
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
// PFNs) plus a few cached chunks, each with the count of present pages before each of its
// 64-bit words, answer lookups with one popcount.
struct DumpFile::BitmapIndex {
  static constexpr std::uint64_t kChunkBytes = 4096;
  static constexpr std::uint64_t kChunkBits = kChunkBytes * 8;
  static constexpr std::size_t kWords = kChunkBytes / 8;
  static constexpr std::size_t kCachedChunks = 8;  // 8 x 5 KiB

  struct Chunk {
    std::uint64_t index = ~std::uint64_t(0);
    std::array<std::uint64_t, kWords> words{};   // bit k of the chunk: bit k % 64 of word k / 64
    std::array<std::uint16_t, kWords> before{};  // present pages in the chunk before word w
  };

  std::uint64_t bits_offset = 0;
  std::uint64_t bit_count = 0;
  std::vector<std::uint64_t> rank;  // present pages before chunk i; rank.back() = total

  mutable std::array<Chunk, kCachedChunks> cache;  // guarded by the page cache's lock
  mutable std::size_t next_victim = 0;

  std::uint64_t chunks() const { return (bit_count + kChunkBits - 1) / kChunkBits; }
  std::uint64_t chunk_bytes(std::uint64_t c) const {
    std::uint64_t total = (bit_count + 7) / 8;
    return std::min(kChunkBytes, total - c * kChunkBytes);
  }
  // Chunk c, read from the file unless cached. The caller holds the page cache's lock.
  const Chunk& load(std::uint64_t c, const InputFile& file) const;
};

}  // namespace pagedump
