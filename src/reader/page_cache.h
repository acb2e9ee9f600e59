// A bounded cache of the physical pages a dump reader has read, between the reader and pread.
// Random virtual reads mostly come back to the same few thousand pages (the kernel's image, its
// lists, the page tables), and a system call per read costs more than the copy: so reads under
// 64 KiB are served from here, keyed by page frame number so that a hit skips the bitmap or run
// look-up as well. Mapping the dump instead was measured and rejected: the kernel maps whole
// large folios around each fault, so a few thousand pages read at random made the resident set
// grow by over a gigabyte (docs/performance.md).
//
// Memory is at most `capacity` bytes, allocated on first use and committed only as pages are
// cached (in 2 MiB huge pages where the system allows): a way takes the next unused slot the
// first time it holds a page, so what is committed is what is cached, rounded up to 2 MiB,
// however the pages spread over the sets, and a dump that is opened and never read costs
// nothing. The slot's number lives in the way's tag word, so a hit reads no more memory than
// the tags and the tick. Not thread-safe: the reader holds one lock over a whole look-up.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

namespace pagedump::reader_detail {

// The reader's lock, held for a cache look-up and a 4 KiB copy (or, on a miss, a pread):
// taking it is one atomic exchange and releasing it a store plus a check for sleepers, where
// std::mutex costs two read-modify-writes and two calls, 5 % of the random-read rate. A
// thread that finds it held sleeps in the kernel (C++20 atomic wait), so a miss that reads the
// file under it does not make the others spin.
class ReadLock {
 public:
  void lock() noexcept {
    while (held_.exchange(1, std::memory_order_acquire) != 0) {
      held_.wait(1, std::memory_order_relaxed);
    }
  }
  void unlock() noexcept {
    held_.store(0, std::memory_order_release);
    held_.notify_one();
  }

 private:
  std::atomic<int> held_{0};  // int: the futex word itself, no proxy
};

class PageCache {
 public:
  static constexpr std::size_t kPage = 4096;
  static constexpr std::size_t kWays = 8;
  static constexpr std::size_t kHugePage = std::size_t(2) << 20;

  // capacity is rounded down to a power-of-two number of 8-page sets; under one set, nothing
  // is cached.
  explicit PageCache(std::size_t capacity);

  // Guards this cache and the bitmap's chunk cache: one lock per read.
  ReadLock lock;

  bool enabled() const noexcept { return sets_ != 0; }

  // The cached bytes of page `pfn`, or nullptr when it is not cached (or the cache is
  // disabled).
  const std::byte* find(std::uint64_t pfn) noexcept {
    if (!enabled()) return nullptr;
    Set& set = index_[pfn & (sets_ - 1)];
    const std::uint64_t key = page_key(pfn);
    for (std::size_t w = 0; w < kWays; ++w) {
      if ((set.tag[w] & ~slot_mask_) == key) {
        set.used[w] = ++tick_;
        return slot(set.tag[w]);
      }
    }
    return nullptr;
  }

  // Caches page `pfn`, which find() has just missed, in place of its set's least recently used
  // page: fill(slot) reads it into a 4 KiB slot, and the page is cached only if it returns
  // true. The caller asks only for a page the file holds, so that reading an absent page
  // evicts nothing; a fill that fails all the same (an I/O error, a file that shrank) leaves
  // the way empty. nullptr when the page is not cached (fill failed, or the cache is
  // disabled).
  template <class Fill>
  const std::byte* insert(std::uint64_t pfn, Fill&& fill) {
    if (!enabled()) return nullptr;
    Set& set = index_[pfn & (sets_ - 1)];
    const std::size_t w = victim(set);
    std::uint64_t own = set.tag[w] & slot_mask_;
    if (own == 0) own = ++slots_used_;
    set.tag[w] = own;  // keeps its slot, holds no page unless the read succeeds
    std::byte* const page = slot(own);
    if (!fill(std::span<std::byte, kPage>(page, kPage))) return nullptr;
    set.tag[w] = page_key(pfn) | own;
    set.used[w] = ++tick_;
    return page;
  }

 private:
  struct Set {
    // (pfn / sets + 1) above slot_bits_, 1 + the way's slot below (0: none yet); 0: empty.
    std::uint64_t tag[kWays] = {};
    std::uint64_t used[kWays] = {};  // tick of the last use, for least-recently-used eviction
  };
  // The set's bits of the PFN are implied by the set: the rest of it, plus one so that no page's
  // key is 0, fits above the slot's bits (PFNs are under 2^52: at most 53 + 4 bits in all).
  std::uint64_t page_key(std::uint64_t pfn) const noexcept {
    return ((pfn >> set_bits_) + 1) << slot_bits_;
  }
  // The memory of slot `tag & slot_mask_` (it exists once victim() has run).
  std::byte* slot(std::uint64_t tag) noexcept {
    return data_.get() + std::size_t((tag & slot_mask_) - 1) * kPage;
  }
  std::size_t victim(const Set& set);  // allocates on first use: the miss path only

  std::size_t sets_ = 0;
  unsigned set_bits_ = 0;   // log2(sets_)
  unsigned slot_bits_ = 0;  // enough for 1 + every slot number: set_bits_ + log2(kWays) + 1
  std::uint64_t slot_mask_ = 0;
  std::uint64_t slots_used_ = 0;  // slots handed out so far, in address order
  std::vector<Set> index_;
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;  // sets_ * kWays pages, allocated on first miss
  std::uint64_t tick_ = 0;
};

}  // namespace pagedump::reader_detail
