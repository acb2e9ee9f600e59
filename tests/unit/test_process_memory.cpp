// The tool's heap policy (tools/pagedump/process_memory.h), counted in page faults. It changes
// the whole process's allocator, so it has an executable of its own.
#include <sys/mman.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "process_memory.h"

using namespace pagedump::cli;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizedAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizedAllocator = true;
#else
constexpr bool kSanitizedAllocator = false;
#endif
#else
constexpr bool kSanitizedAllocator = false;
#endif

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

constexpr std::size_t kPage = 4096;
constexpr std::size_t kBlock = std::size_t(3) << 20;

// The whole pages of [p, p + n).
std::pair<char*, std::size_t> inner_pages(void* p, std::size_t n) {
  const auto a = (reinterpret_cast<std::uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
  const auto b = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(kPage - 1);
  return {reinterpret_cast<char*>(a), b - a};
}

std::size_t resident_pages(void* p, std::size_t n) {
  auto [start, size] = inner_pages(p, n);
  std::vector<unsigned char> v(size / kPage);
  EXPECT_EQ(mincore(start, size, v.data()), 0);
  std::size_t count = 0;
  for (unsigned char c : v) count += c & 1;
  return count;
}

// Gives the block's pages back to the system: the next touch faults each one in again.
void drop_pages(void* p, std::size_t n) {
  auto [start, size] = inner_pages(p, n);
  ASSERT_EQ(madvise(start, size, MADV_DONTNEED), 0);
  ASSERT_EQ(resident_pages(p, n), 0u);
}

long faults_filling(void* p, std::size_t n) {
  const long before = minor_faults();
  std::memset(p, 0xA5, n);
  return minor_faults() - before;
}

}  // namespace

TEST(ProcessMemory, FreedBuffersAreReusedAndCommittedHeapIsUsedWithoutFaults) {
  if (kSanitizedAllocator) GTEST_SKIP() << "the sanitizer's allocator ignores mallopt";
  keep_freed_buffers();
  // A 3 MiB buffer, freed and asked for again, is the same memory with its pages in place
  // (glibc's default maps it, unmaps it at free and faults all 768 pages in again).
  void* first = std::malloc(kBlock);
  ASSERT_NE(first, nullptr);
  const std::size_t pages = inner_pages(first, kBlock).second / kPage;  // 767 or 768
  drop_pages(first, kBlock);
  EXPECT_GE(faults_filling(first, kBlock), long(pages));
  std::free(first);
  void* again = std::malloc(kBlock);
  ASSERT_EQ(again, first);
  EXPECT_LE(faults_filling(again, kBlock), 4);

  // commit_heap of that much, after the pages were dropped: one call commits them, and the
  // buffer that follows uses them without a fault (it took 768 above).
  drop_pages(again, kBlock);
  std::free(again);
  commit_heap(kBlock);
  void* committed = std::malloc(kBlock);
  ASSERT_EQ(committed, first);
  EXPECT_EQ(resident_pages(committed, kBlock), pages);
  EXPECT_LE(faults_filling(committed, kBlock), 4);
  std::free(committed);
}
