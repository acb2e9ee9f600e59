// 32-bit x86 translation: PAE (PDPT, 2 MiB pages, PAs beyond 4 GiB) and non-PAE (4 MiB PSE
// pages with PSE-36 high address bits).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

using namespace pagedump;
using pagedump::test::MemoryImage;
using pagedump::test::PageTableBuilder;

namespace {

std::uint32_t read_u32_virtual(const AddressSpace& as, std::uint64_t va) {
  std::uint32_t v = 0;
  const ReadResult r = as.read_virtual(va, std::as_writable_bytes(std::span(&v, 1)));
  EXPECT_TRUE(r.ok()) << describe(r, "virtual");
  return v;
}

// PAE: the PDPT is 32-byte aligned, not page-aligned: root page 0x300000, PDPT at 0x300020.
class Pae : public ::testing::Test {
 protected:
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::x86_pae, 0x300000, 0x20000, {.pae_pdpt_offset = 0x20}};
};

class NonPae : public ::testing::Test {
 protected:
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::x86_legacy, 0x39000, 0x20000};
};

}  // namespace

TEST_F(Pae, Maps4KPageAbove4GThroughUnalignedPdpt) {
  ASSERT_EQ(pt.dtb(), 0x300020u);
  pt.map(0x80123000, 0x987654000, 0x1000);
  image.map(0x987654000, 0x1000);
  image.write_u32(0x987654456, 0xCAFEF00D);
  // Bits 3..4 (PWT, PCD) and anything above bit 31 are not part of the PDPT address.
  for (std::uint64_t dtb : {0x300020ull, 0x300038ull, 0x100300020ull}) {
    AddressSpace as(image, PagingMode::x86_pae, dtb);
    EXPECT_EQ(as.root_table(), 0x300020u);
    const Translation t = as.translate(0x80123456);
    ASSERT_TRUE(t.ok()) << describe(t, as.mode());
    EXPECT_EQ(t.pa, 0x987654456u);
    EXPECT_EQ(t.page_size, 0x1000u);
    EXPECT_EQ(t.level, 1);
    EXPECT_EQ(t.entry, 0x987654063u);
    EXPECT_EQ(t.entry_pa, 0x302918u);  // PD 0x301000, PT 0x302000, PTE index 0x123
    EXPECT_EQ(read_u32_virtual(as, 0x80123456), 0xCAFEF00Du);
  }
  // The PDPTE carries only P: its other low bits are reserved under PAE.
  EXPECT_EQ(pt.entry_address(0x80123000, 3), 0x300030u);
  EXPECT_EQ(pt.read_entry(0x80123000, 3), 0x301001u);
}

TEST_F(Pae, Maps2MPages) {
  pt.map(0xC0400000, 0x123400000, kLargePage2M, kLargePage2M);
  AddressSpace as(image, PagingMode::x86_pae, pt.dtb());
  const Translation t = as.translate(0xC0412345);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x123412345u);
  EXPECT_EQ(t.page_size, kLargePage2M);
  EXPECT_EQ(t.level, 2);
  EXPECT_EQ(t.entry, 0x1234000E3u);
  pt.set_entry(0xC0400000, 2, 0x1234010E3 | 0x8000000000000000ull);  // PAT and XD
  as.clear_cache();
  EXPECT_EQ(as.translate(0xC0412345).pa, 0x123412345u);
}

TEST_F(Pae, FailuresNameTheEntry) {
  pt.map(0x80123000, 0x5000, 0x1000);
  AddressSpace as(image, PagingMode::x86_pae, pt.dtb());
  Translation t = as.translate(0x1000);
  EXPECT_EQ(t.status, ReadStatus::not_mapped);
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 3);
  EXPECT_EQ(t.entry_pa, 0x300020u);
  EXPECT_EQ(describe(t, as.mode()), "PDPTE at PA 0x300020 for VA 0x1000 is not present (0x0)");

  t = as.translate(0x100000000);
  EXPECT_EQ(t.fault, TranslationFault::outside_address_space);
  EXPECT_EQ(describe(t, as.mode()), "VA 0x100000000 is beyond the 32-bit address space");

  t = as.translate(0x80200000);  // PDE 1 of the same PD is empty
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 2);
  EXPECT_EQ(t.entry_pa, 0x301008u);

  pt.set_entry(0x80123000, 3, 0x301081);  // PS in a PDPTE is reserved
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0x80123000);
  EXPECT_EQ(t.fault, TranslationFault::reserved_encoding);
  EXPECT_EQ(t.level, 3);

  pt.set_entry(0x80123000, 3, 0x301001);
  image.unmap(0x301000, 0x1000);  // the PD page is not in the image
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0x80123000);
  EXPECT_EQ(t.status, ReadStatus::not_present);
  EXPECT_EQ(t.level, 2);
  EXPECT_EQ(t.entry_pa, 0x301000u);
}

TEST_F(Pae, ReadAcrossPagesStopsAtUnmapped) {
  pt.map(0x7ffdf000, 0x11000, 0x1000);
  image.map(0x11000, 0x1000);
  image.write_u32(0x11ffc, 0x11223344);
  AddressSpace as(image, PagingMode::x86_pae, pt.dtb());
  std::byte buf[8];
  const ReadResult r = as.read_virtual(0x7ffdfffc, buf);
  EXPECT_EQ(r.status, ReadStatus::not_mapped);
  EXPECT_EQ(r.address, 0x7ffe0000u);
  pt.map(0x7ffe0000, 0x22000, 0x1000);
  image.map(0x22000, 0x1000);
  image.write_u32(0x22000, 0x55667788);
  as.clear_cache();  // the image changed under the page tables
  ASSERT_TRUE(as.read_virtual(0x7ffdfffc, buf).ok());
  std::uint64_t v;
  std::memcpy(&v, buf, 8);
  EXPECT_EQ(v, 0x5566778811223344u);
}

TEST_F(NonPae, Maps4KAnd4MPages) {
  pt.map(0x80123000, 0x7654000, 0x1000);
  pt.map(0x80400000, 0xC00000, kLargePage4M, kLargePage4M);
  image.map(0x7654000, 0x1000);
  image.write_u32(0x7654ffc, 0xA5A5A5A5);
  for (std::uint64_t dtb : {0x39000ull, 0x39018ull, 0x100039000ull}) {
    AddressSpace as(image, PagingMode::x86_legacy, dtb);
    EXPECT_EQ(as.root_table(), 0x39000u);
    Translation t = as.translate(0x80123ffc);
    ASSERT_TRUE(t.ok()) << describe(t, as.mode());
    EXPECT_EQ(t.pa, 0x7654ffcu);
    EXPECT_EQ(t.level, 1);
    EXPECT_EQ(t.entry, 0x7654063u);
    EXPECT_EQ(t.entry_pa, 0x3a48cu);  // PDE 0x200 -> PT 0x3a000, PTE index 0x123
    EXPECT_EQ(read_u32_virtual(as, 0x80123ffc), 0xA5A5A5A5u);

    t = as.translate(0x80412345);
    ASSERT_TRUE(t.ok()) << describe(t, as.mode());
    EXPECT_EQ(t.pa, 0xC12345u);
    EXPECT_EQ(t.page_size, kLargePage4M);
    EXPECT_EQ(t.level, 2);
    EXPECT_EQ(t.entry, 0xC000E3u);
    EXPECT_EQ(t.entry_pa, 0x39804u);
  }
}

TEST_F(NonPae, Pse36HighAddressBits) {
  pt.map(0x81000000, 0x1234800000, kLargePage4M, kLargePage4M);
  // PA bits 32..39 (0x12) live in PDE bits 13..20.
  EXPECT_EQ(pt.read_entry(0x81000000, 2), 0x348240E3u);
  AddressSpace as(image, PagingMode::x86_legacy, pt.dtb());
  const Translation t = as.translate(0x81012345);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x1234812345u);
  // PAT (bit 12) is not an address bit; 0xFF in bits 13..20 is PA 0xFF'xxxx'xxxx.
  pt.set_entry(0x81000000, 2, 0xFFC000E3 | 0x1000 | 0xFF << 13);
  as.clear_cache();
  EXPECT_EQ(as.translate(0x813FFFFF).pa, 0xFFFFFFFFFFu);
}

TEST_F(NonPae, SelfMapAt0x300ExposesPtesAndPdes) {
  pt.map(0x80123000, 0x7654000, 0x1000);
  EXPECT_EQ(pt.add_self_map(0x300), 0xC0000000u);
  AddressSpace as(image, PagingMode::x86_legacy, pt.dtb());
  EXPECT_EQ(pt.self_map_entry_va(0x300, 0x80123000, 1), 0xC020048Cu);  // PTE_BASE + (va>>10)
  EXPECT_EQ(pt.self_map_entry_va(0x300, 0x80123000, 2), 0xC0300800u);  // PDE_BASE + (va>>20)
  EXPECT_EQ(read_u32_virtual(as, 0xC020048C), 0x7654063u);
  EXPECT_EQ(read_u32_virtual(as, 0xC0300800), 0x3a063u);
  EXPECT_EQ(read_u32_virtual(as, 0xC0300C00), 0x39063u);  // the self-map PDE itself
}

TEST_F(NonPae, MissingPtAndInvalidPde) {
  pt.map(0x80123000, 0x7654000, 0x1000);
  AddressSpace as(image, PagingMode::x86_legacy, pt.dtb());
  Translation t = as.translate(0x10000);
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 2);
  EXPECT_EQ(t.entry_pa, 0x39000u);
  EXPECT_EQ(describe(t, as.mode()), "PDE at PA 0x39000 for VA 0x10000 is not present (0x0)");
  image.unmap(0x3a000, 0x1000);
  t = as.translate(0x80123000);
  EXPECT_EQ(t.status, ReadStatus::not_present);
  EXPECT_EQ(t.fault, TranslationFault::table_unreadable);
  EXPECT_EQ(t.level, 1);
  EXPECT_EQ(t.entry_pa, 0x3a48cu);
}
