#include "page_cache.h"

#include <bit>
#include <new>

#include <sys/mman.h>

namespace pagedump::reader_detail {

PageCache::PageCache(std::size_t capacity) {
  const std::size_t sets = capacity / (kWays * kPage);
  sets_ = sets ? std::bit_floor(sets) : 0;
  set_bits_ = sets_ ? static_cast<unsigned>(std::countr_zero(sets_)) : 0;
  slot_bits_ = set_bits_ + static_cast<unsigned>(std::countr_zero(kWays)) + 1;
  slot_mask_ = (std::uint64_t(1) << slot_bits_) - 1;
  index_.resize(sets_);
}

std::size_t PageCache::victim(const Set& set) {
  if (!data_) {
    // In huge pages where the system allows them: a copy out of the cache then seldom misses
    // the TLB, which was worth a fifth of the random-read rate (docs/performance.md). Not
    // value-initialised: memory is committed only as pages are cached.
    const std::size_t bytes = sets_ * kWays * kPage;
    const std::size_t align = bytes % kHugePage == 0 ? kHugePage : kPage;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
    if (align == kHugePage) ::madvise(p, bytes, MADV_HUGEPAGE);
    data_.reset(static_cast<std::byte*>(p));
  }
  // Empty ways have tick 0: a set fills before it evicts.
  std::size_t v = 0;
  for (std::size_t w = 1; w < kWays; ++w) {
    if (set.used[w] < set.used[v]) v = w;
  }
  return v;
}

}  // namespace pagedump::reader_detail
