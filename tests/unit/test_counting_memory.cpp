// Discovery's view of the image: what it counts, the budget, and the 16 KiB block that serves
// its small reads (exact bytes, one read of the image per block, and the image's own error at
// its exact address where a block cannot be read whole).
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "counting_memory.h"
#include "support/memory_image.h"

namespace pagedump::test {
namespace {

using discovery::CountingMemory;
static_assert(CountingMemory::kBlock == 0x4000, "the tests below count 16 KiB blocks");

MemoryImage patterned(std::uint64_t size) {
  MemoryImage m;
  m.map(0, size);
  for (std::uint64_t p = 0; p < size / kPageSize; ++p) m.write_u64(p * kPageSize, 0x1000 + p);
  return m;
}

std::uint64_t u64_at(const CountingMemory& c, std::uint64_t pa) {
  std::uint64_t v = 0;
  EXPECT_TRUE(c.read_physical(pa, std::as_writable_bytes(std::span(&v, 1))).ok()) << pa;
  return v;
}

TEST(CountingMemory, SmallReadsOfOneBlockAreOneReadOfTheImage) {
  const auto m = patterned(0x40000);
  CountingMemory c(m, 1 << 20);
  // Downwards through the second block, as the kernel-base scan probes.
  for (std::uint64_t p = 0x7; p >= 0x4; --p) EXPECT_EQ(u64_at(c, p * kPageSize), 0x1000 + p);
  EXPECT_EQ(m.read_calls(), 1u);
  EXPECT_EQ(c.bytes_read(), 0x4000u);
  // A whole page, and a read across the block's end (two blocks' worth: read directly).
  std::vector<std::byte> page(kPageSize);
  ASSERT_TRUE(c.read_physical(0x5000, page).ok());
  EXPECT_EQ(page[0], std::byte{0x05});
  EXPECT_EQ(page[1], std::byte{0x10});
  EXPECT_EQ(m.read_calls(), 1u);
  std::array<std::byte, 16> across{};
  ASSERT_TRUE(c.read_physical(0x7FF8, across).ok());
  EXPECT_EQ(across[8], std::byte{0x08});  // page 8's first byte
  EXPECT_EQ(m.read_calls(), 2u);
  EXPECT_EQ(c.bytes_read(), 0x4000u + 16);
}

TEST(CountingMemory, WhereABlockCannotBeReadWholeTheImageSaysWhereItEnds) {
  auto m = patterned(0x40000);
  m.truncate_at(0x6000);  // the file ends in the middle of the second block
  CountingMemory c(m, 1 << 20);
  EXPECT_EQ(u64_at(c, 0x5000), 0x1005u);
  std::uint64_t v = 0;
  const ReadResult r = c.read_physical(0x6000, std::as_writable_bytes(std::span(&v, 1)));
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.address, 0x6000u);
  // The block is tried once; every read in it then goes to the image.
  EXPECT_EQ(u64_at(c, 0x4000), 0x1004u);
  EXPECT_EQ(m.read_calls(), 4u);  // the block, then three direct reads
}

TEST(CountingMemory, ABudgetTooSmallForABlockReadsDirectlyAndStillEnds) {
  const auto m = patterned(0x40000);
  CountingMemory c(m, 0x20);
  EXPECT_EQ(u64_at(c, 0x5000), 0x1005u);
  EXPECT_EQ(u64_at(c, 0x6000), 0x1006u);
  EXPECT_EQ(m.read_calls(), 2u);
  EXPECT_FALSE(c.exhausted());
  std::array<std::byte, 0x20> more{};
  EXPECT_EQ(c.read_physical(0x7000, more).status, ReadStatus::io_error);
  EXPECT_TRUE(c.exhausted());
}

TEST(CountingMemory, ABlockTheImageKnowsToBeZerosIsNotReadButCounts) {
  MemoryImage m;
  m.map(0, 0x40000);
  m.write_u64(0x9008, 0x1122334455667788);  // the third block holds one written page
  m.report_unwritten_as_known_zero();
  CountingMemory c(m, 0xC000);
  for (std::uint64_t pa = 0x7000; pa >= 0x4000; pa -= kPageSize) EXPECT_EQ(u64_at(c, pa), 0u);
  EXPECT_EQ(m.read_calls(), 0u);
  EXPECT_EQ(c.bytes_read(), 0x4000u);
  EXPECT_EQ(u64_at(c, 0x9008), 0x1122334455667788u);
  EXPECT_EQ(u64_at(c, 0xB000), 0u);
  EXPECT_EQ(m.read_calls(), 1u);  // the third block, read whole once
  EXPECT_EQ(c.bytes_read(), 0x8000u);
  // Known zeros use the budget as reads do: a walk over unused RAM still ends.
  EXPECT_EQ(u64_at(c, 0x0), 0u);
  EXPECT_EQ(c.bytes_read(), 0xC000u);
  std::uint64_t v = 0;
  EXPECT_EQ(c.read_physical(0xE000, std::as_writable_bytes(std::span(&v, 1))).status,
            ReadStatus::io_error);
  EXPECT_TRUE(c.exhausted());
}

}  // namespace
}  // namespace pagedump::test
