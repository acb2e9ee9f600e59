#include "page_cache.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

namespace pagedump::reader_detail {

PageCache::PageCache(const InputFile& file, std::size_t capacity) : file_(file) {
  const std::size_t sets = capacity / (kWays * kBlock);
  sets_ = sets ? std::bit_floor(sets) : 0;
}

const std::byte* PageCache::lookup(std::uint64_t block) {
  if (!data_) {
    index_.resize(sets_);
    // Not value-initialised: memory is touched only as blocks are filled.
    // In huge pages where the system allows them: a copy out of the cache then seldom misses
    // the TLB, which was worth a fifth of the random-read rate (docs/performance.md). The
    // cost is that memory is committed 2 MiB at a time, still within the capacity.
    const std::size_t bytes = sets_ * kWays * kBlock;
    const std::size_t align = bytes % kHugePage == 0 ? kHugePage : kBlock;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
    if (align == kHugePage) ::madvise(p, bytes, MADV_HUGEPAGE);
    data_.reset(static_cast<std::byte*>(p));
  }
  const std::size_t s = static_cast<std::size_t>(block & (sets_ - 1));
  Set& set = index_[s];
  // Way-major: way w of every set lies in one stretch, and empty ways are filled first, so
  // the memory committed follows the number of blocks cached, not where they fall.
  auto slot_of = [&](std::size_t w) { return data_.get() + (w * sets_ + s) * kBlock; };
  for (std::size_t w = 0; w < kWays; ++w) {
    if (set.tag[w] == block + 1) {
      set.used[w] = ++tick_;
      return slot_of(w);
    }
  }
  std::size_t victim = 0;
  for (std::size_t w = 1; w < kWays; ++w) {
    if (set.used[w] < set.used[victim]) victim = w;
  }
  std::byte* const slot = slot_of(victim);
  set.tag[victim] = 0;  // stays empty if the read fails or comes up short
  if (file_.read_at(block * kBlock, std::span(slot, kBlock)) != kBlock) return nullptr;
  set.tag[victim] = block + 1;
  set.used[victim] = ++tick_;
  return slot;
}

std::size_t PageCache::read(std::uint64_t offset, std::span<std::byte> out) {
  if (sets_ == 0) return file_.read_at(offset, out);
  if (offset % kBlock + out.size() <= kBlock) {  // the common case: within one block
    const std::byte* cached = lookup(offset / kBlock);
    if (!cached) return file_.read_at(offset, out);
    std::memcpy(out.data(), cached + offset % kBlock, out.size());
    return out.size();
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = offset + done;
    const std::uint64_t in_block = at % kBlock;
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(out.size() - done, kBlock - in_block));
    const std::byte* cached = lookup(at / kBlock);
    if (!cached) return done + file_.read_at(at, out.subspan(done));  // the file's last block
    std::memcpy(out.data() + done, cached + in_block, n);
    done += n;
  }
  return done;
}

}  // namespace pagedump::reader_detail
