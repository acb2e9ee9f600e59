// A bounded cache of the physical pages a dump reader has read, between the reader and pread.
// Random virtual reads mostly come back to the same few thousand pages (the kernel's image, its
// lists, the page tables), and a system call per read costs more than the copy: so reads under
// 64 KiB are served from here, keyed by page frame number so that a hit skips the bitmap or run
// look-up as well. Mapping the dump instead was measured and rejected: the kernel maps whole
// large folios around each fault, so a few thousand pages read at random made the resident set
// grow by over a gigabyte (docs/performance.md).
//
// Memory is at most `capacity` bytes, allocated on first use and committed only as pages are
// cached (in 2 MiB huge pages where the system allows: ways are laid out way-major and empty
// ways filled first, so what is committed follows the fullest set: a few hundred pages commit
// a way or two, 4 MiB each, and a few thousand spread over every set commit the whole
// capacity), so a dump that is opened and never read costs nothing. Not thread-safe: the reader holds one lock over a whole look-up.
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

  // The cached bytes of page `pfn`; on a miss, fill(slot) is called to read the page into a
  // 4 KiB slot and the page is cached only if it returns true. nullptr when it is not cached
  // (fill failed, or the cache is disabled).
  template <class Fill>
  const std::byte* get(std::uint64_t pfn, Fill&& fill) {
    if (!enabled()) return nullptr;
    Set& set = index_[pfn & (sets_ - 1)];
    for (std::size_t w = 0; w < kWays; ++w) {
      if (set.tag[w] == pfn + 1) {
        set.used[w] = ++tick_;
        return slot(pfn, w);
      }
    }
    const std::size_t w = victim(set);
    std::byte* const page = slot(pfn, w);
    set.tag[w] = 0;  // stays empty if the read fails
    if (!fill(std::span<std::byte, kPage>(page, kPage))) return nullptr;
    set.tag[w] = pfn + 1;
    set.used[w] = ++tick_;
    return page;
  }

 private:
  struct Set {
    std::uint64_t tag[kWays] = {};   // pfn + 1; 0: empty
    std::uint64_t used[kWays] = {};  // tick of the last use, for least-recently-used eviction
  };
  // The slot of way w in pfn's set (the memory exists once victim() has run).
  std::byte* slot(std::uint64_t pfn, std::size_t w) noexcept {
    return data_.get() + (w * sets_ + (pfn & (sets_ - 1))) * kPage;
  }
  std::size_t victim(const Set& set);  // allocates on first use: the miss path only

  std::size_t sets_ = 0;
  std::vector<Set> index_;
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;  // sets_ * kWays pages, allocated on first miss
  std::uint64_t tick_ = 0;
};

}  // namespace pagedump::reader_detail
