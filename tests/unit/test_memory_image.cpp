// The test support image itself: ranges, holes, truncation and sparse storage.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "pagedump/error.h"
#include "support/memory_image.h"

using namespace pagedump;
using pagedump::test::MemoryImage;

TEST(MemoryImage, RangesMergeAndHolesReadAsNotPresent) {
  MemoryImage image;
  image.map(0x2000, 0x1000);
  image.map(0x0, 0x1000);
  image.map(0x1000, 0x1000);  // touches both: one range
  image.map(0x10000, 0x800);
  ASSERT_EQ(image.ranges().size(), 2u);
  EXPECT_EQ(image.ranges()[0], (PhysicalRange{0, 0x3000}));
  EXPECT_EQ(image.ranges()[1], (PhysicalRange{0x10000, 0x800}));
  EXPECT_EQ(image.total_bytes(), 0x3800u);

  std::vector<std::byte> buf(0x10);
  EXPECT_TRUE(image.read_physical(0x2ff0, buf).ok());
  const ReadResult r = image.read_physical(0x2ff8, buf);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0x3000u);
  EXPECT_EQ(image.read_physical(0x107f8, buf).address, 0x10800u);
  EXPECT_THROW(image.write_u64(0x3000, 1), std::logic_error);
}

TEST(MemoryImage, WritesReadBackAndUnmapForgetsThem) {
  MemoryImage image;
  image.map(0x100000000, 0x400000000);  // 16 GiB declared, nothing stored
  image.write_u64(0x100000ffc, 0x1122334455667788);
  EXPECT_EQ(image.read_u64(0x100000ffc), 0x1122334455667788u);
  EXPECT_EQ(image.read_u32(0x101000000), 0u);
  image.unmap(0x100001000, 0x1000);
  ASSERT_EQ(image.ranges().size(), 2u);
  EXPECT_EQ(image.ranges()[0], (PhysicalRange{0x100000000, 0x1000}));
  EXPECT_EQ(image.ranges()[1], (PhysicalRange{0x100002000, 0x3fffff000 - 0x1000}));
  EXPECT_THROW(image.read_u64(0x100000ffc), Error);  // now crosses into the hole
  image.map(0x100001000, 0x1000);
  EXPECT_EQ(image.read_u64(0x100000ffc), 0x55667788u);  // the unmapped half reads as zeros
}

TEST(MemoryImage, TruncationReportsTheFirstMissingAddress) {
  MemoryImage image;
  image.map(0, 0x10000);
  image.truncate_at(0x8000);
  std::vector<std::byte> buf(0x20);
  const ReadResult r = image.read_physical(0x7ff0, buf);
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.address, 0x8000u);
  EXPECT_EQ(r.file_offset, 0x8000u);
  image.truncate_at(std::nullopt);
  EXPECT_TRUE(image.read_physical(0x7ff0, buf).ok());
}

// PhysicalMemory::known_zero: the whole span must lie in one known-zero extent.
TEST(MemoryImage, KnownZeroIsTheWholeSpanOrNothing) {
  MemoryImage image;
  image.map(0, 0x10000);
  image.write_u64(0x5008, 1);
  EXPECT_FALSE(image.known_zero(0x1000, 0x1000));  // unwritten, but not reported as zeros
  image.report_unwritten_as_known_zero();
  EXPECT_TRUE(image.known_zero(0x1000, 0x4000));   // pages 1 to 4, none written
  EXPECT_FALSE(image.known_zero(0x1000, 0x5000));  // reaches the written page 5
  EXPECT_FALSE(image.known_zero(0x5000, 0x1000));  // the written page itself
  EXPECT_TRUE(image.known_zero(0x6000, 0xA000));   // up to the range's end
  EXPECT_FALSE(image.known_zero(0x6000, 0xB000));  // past it
}
