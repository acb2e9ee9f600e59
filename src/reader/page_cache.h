// A bounded cache of a dump file's 4 KiB blocks, between the reader and pread. Random virtual
// reads mostly come back to the same few thousand pages (the kernel's image, its lists, the
// page tables), and a system call per read costs more than the copy: so small reads are served
// from here, large ones go straight to the file. Mapping the dump instead was measured and
// rejected: the kernel maps whole large folios around each fault, so a few thousand pages
// read at random made the resident set grow by over a gigabyte (docs/performance.md).
//
// Memory is at most `capacity` bytes, allocated on first use and committed only as blocks
// are filled (in 2 MiB huge pages where the system allows), so a dump that is opened and
// never read costs nothing. Not thread-safe: the
// reader holds one lock over the whole lookup of a page (bitmap rank and cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "pagedump/io/input_file.h"

namespace pagedump::reader_detail {

class PageCache {
 public:
  static constexpr std::uint64_t kBlock = 4096;
  static constexpr std::size_t kWays = 8;
  static constexpr std::size_t kDefaultBytes = std::size_t(32) << 20;
  static constexpr std::size_t kHugePage = std::size_t(2) << 20;

  // capacity is rounded down to a power-of-two number of 8-block sets; 0 disables caching.
  PageCache(const InputFile& file, std::size_t capacity = kDefaultBytes);

  // As InputFile::read_at: up to out.size() bytes at offset, short only at the end of the file.
  std::size_t read(std::uint64_t offset, std::span<std::byte> out);

  std::size_t capacity() const noexcept { return sets_ * kWays * kBlock; }

 private:
  struct Set {
    std::uint64_t tag[kWays] = {};   // block number + 1; 0: empty
    std::uint64_t used[kWays] = {};  // tick of the last use, for least-recently-used eviction
  };
  // The cached copy of `block`, filled from the file on a miss; nullptr when the block is
  // not a whole block of the file (its end), which is never cached. Caller holds mutex_.
  const std::byte* lookup(std::uint64_t block);

  const InputFile& file_;
  std::size_t sets_ = 0;
  std::vector<Set> index_;
  struct Free { void operator()(std::byte* p) const { std::free(p); } };
  std::unique_ptr<std::byte, Free> data_;  // sets_ * kWays blocks, allocated on first use
  std::uint64_t tick_ = 0;
};

}  // namespace pagedump::reader_detail
