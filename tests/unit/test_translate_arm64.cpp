// ARM64 4 KiB-granule translation with one root for both halves, as Windows sets it up.
#include <gtest/gtest.h>

#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

using namespace pagedump;
using pagedump::test::MemoryImage;
using pagedump::test::PageTableBuilder;

namespace {

class Arm64 : public ::testing::Test {
 protected:
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::arm64_4k, 0x40000000, 0x20000};
};

}  // namespace

TEST_F(Arm64, MapsPagesAndBlocks) {
  pt.map(0xFFFF800012345000, 0x47654000, 0x1000);
  pt.map(0xFFFF800000200000, 0x880200000, kLargePage2M, kLargePage2M);
  pt.map(0xFFFF808000000000, 0x100000000, kHugePage1G, kHugePage1G);
  image.map(0x47654000, 0x1000);
  image.write_u64(0x47654678, 0x0123456789ABCDEF);
  // TTBR: ASID 5 in bits 48..63 and CnP in bit 0 are not part of the table address.
  AddressSpace as(image, PagingMode::arm64_4k, 0x0005000040000001);
  EXPECT_EQ(as.root_table(), 0x40000000u);

  Translation t = as.translate(0xFFFF800012345678);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x47654678u);
  EXPECT_EQ(t.page_size, 0x1000u);
  EXPECT_EQ(t.level, 1);
  EXPECT_EQ(t.entry, 0x47654403u);
  EXPECT_EQ(t.entry_pa, 0x40003a28u);  // L1 0x40001000, L2 0x40002000, L3 0x40003000
  std::uint64_t v = 0;
  ASSERT_TRUE(as.read_virtual(0xFFFF800012345678, std::as_writable_bytes(std::span(&v, 1))));
  EXPECT_EQ(v, 0x0123456789ABCDEFu);

  t = as.translate(0xFFFF800000212345);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x880212345u);
  EXPECT_EQ(t.page_size, kLargePage2M);
  EXPECT_EQ(t.level, 2);
  EXPECT_EQ(t.entry, 0x880200401u);

  t = as.translate(0xFFFF808012345678);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x112345678u);
  EXPECT_EQ(t.page_size, kHugePage1G);
  EXPECT_EQ(t.level, 3);
  EXPECT_EQ(t.entry, 0x100000401u);
}

TEST_F(Arm64, AttributesAndAccessFlagDoNotChangeTheAddress) {
  pt.map(0xFFFF800012345000, 0x47654000, 0x1000);
  // AF clear; PXN, UXN, software bits 55..58, PBHA 59..62, bit 63 and contiguous bit 52 set.
  pt.set_entry(0xFFFF800012345000, 1, 0x47654003 | 0xFFF0000000000000ull);
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());
  const Translation t = as.translate(0xFFFF800012345010);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x47654010u);
}

TEST_F(Arm64, ReservedAndInvalidDescriptors) {
  pt.map(0xFFFF800012345000, 0x47654000, 0x1000);
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());

  Translation t = as.translate(0xFFFF900000000000);
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 4);
  EXPECT_EQ(describe(t, as.mode()),
            "level 0 descriptor at PA 0x40000900 for VA 0xffff900000000000 is not valid (0x0)");

  pt.set_entry(0xFFFF800012346000, 1, 0x47655401);  // type 01 at level 3: reserved
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0xFFFF800012346000);
  EXPECT_EQ(t.status, ReadStatus::not_mapped);
  EXPECT_EQ(t.fault, TranslationFault::reserved_encoding);
  EXPECT_EQ(t.level, 1);

  pt.set_entry(0xFFFF880000000000, 4, 0x80000401);  // a block at level 0: reserved (no LPA2)
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0xFFFF880000000000);
  EXPECT_EQ(t.fault, TranslationFault::reserved_encoding);
  EXPECT_EQ(t.level, 4);
  EXPECT_EQ(describe(t, as.mode()),
            "level 0 descriptor at PA 0x40000880 for VA 0xffff880000000000 uses an encoding "
            "reserved at this level (block or reserved descriptor type) (0x80000401)");
}

TEST_F(Arm64, OneRootServesBothHalves) {
  pt.map(0x0000000012345000, 0x47655000, 0x1000);  // user half
  pt.map(0xFFFF800012345000, 0x47654000, 0x1000);  // kernel half
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());
  EXPECT_EQ(as.translate(0x0000000012345008).pa, 0x47655008u);
  EXPECT_EQ(as.translate(0xFFFF800012345008).pa, 0x47654008u);
  // Bits 63..48 select TTBR0 or TTBR1, which share the root: these alias.
  EXPECT_EQ(as.translate(0xFFFF000012345008).pa, 0x47655008u);
  EXPECT_EQ(as.translate(0x0000800012345008).pa, 0x47654008u);

  for (std::uint64_t va : {0x0001000000000000ull, 0xFFFEFFFFFFFFF000ull, 0x8000000000000000ull}) {
    const Translation t = as.translate(va);
    EXPECT_EQ(t.fault, TranslationFault::outside_address_space);
    EXPECT_FALSE(as.in_address_space(va));
  }
  EXPECT_EQ(describe(as.translate(0x0001000000000000), as.mode()),
            "VA 0x1000000000000 is outside both 48-bit halves (bits 63..48 differ)");
}

TEST_F(Arm64, SelfMapLikeWindows) {
  pt.map(0xFFFF800012345000, 0x47654000, 0x1000);
  const unsigned index = 0x1A3;
  pt.add_self_map(index);
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());
  for (int level = 1; level <= 4; ++level) {
    std::uint64_t value = 0;
    const std::uint64_t va = pt.self_map_entry_va(index, 0xFFFF800012345000, level);
    ASSERT_TRUE(as.read_virtual(va, std::as_writable_bytes(std::span(&value, 1))));
    EXPECT_EQ(value, pt.read_entry(0xFFFF800012345000, level)) << "level " << level;
  }
}
