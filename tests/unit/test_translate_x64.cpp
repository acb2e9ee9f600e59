// x64 4-level translation over page tables built by PageTableBuilder in a sparse MemoryImage.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

using namespace pagedump;
using pagedump::test::MemoryImage;
using pagedump::test::PageTableBuilder;

namespace {

std::string read_string(const AddressSpace& as, std::uint64_t va, std::size_t n) {
  std::string s(n, '\0');
  const ReadResult r = as.read_virtual(va, std::as_writable_bytes(std::span(s.data(), n)));
  EXPECT_TRUE(r.ok()) << describe(r, "virtual");
  return s;
}

// Root at 0x1ad000 (where recent Windows puts the System DTB); tables follow it in order.
class X64 : public ::testing::Test {
 protected:
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::x64_4level, 0x1ad000, 0x40000};
};

}  // namespace

TEST_F(X64, Maps4KPageToExactAddressAndEntry) {
  pt.map(0xfffff80012345000, 0x7654000, 0x1000);
  image.map(0x7654000, 0x1000);
  image.write(0x7654678, "hello");
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());

  const Translation t = as.translate(0xfffff80012345678);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x7654678u);
  EXPECT_EQ(t.page_size, 0x1000u);
  EXPECT_EQ(t.level, 1);
  EXPECT_EQ(t.entry, 0x7654063u);
  // Root 0x1ad000, PDPT 0x1ae000, PD 0x1af000, PT 0x1b0000; PTE index 0x145.
  EXPECT_EQ(t.entry_pa, 0x1b0a28u);
  EXPECT_EQ(describe(t, as.mode()),
            "VA 0xfffff80012345678 -> PA 0x7654678 (4 KiB page, PTE 0x7654063 at PA 0x1b0a28)");
  EXPECT_EQ(read_string(as, 0xfffff80012345678, 5), "hello");
}

TEST_F(X64, ReadsAPointerOfEitherWidthAndNothingWhereUnmapped) {
  pt.map(0xfffff80012345000, 0x7654000, 0x1000);
  image.map(0x7654000, 0x1000);
  image.write_u64(0x7654ff8, 0xfffff80087654321);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());

  EXPECT_EQ(as.read_pointer(0xfffff80012345ff8, true), 0xfffff80087654321u);
  // A 32-bit pointer is the low four bytes, zero-extended.
  EXPECT_EQ(as.read_pointer(0xfffff80012345ff8, false), 0x87654321u);
  // The next page is not mapped: the 8-byte read fails, the 4 bytes before it do not.
  EXPECT_EQ(as.read_pointer(0xfffff80012345ffc, true), std::nullopt);
  EXPECT_EQ(as.read_pointer(0xfffff80012345ffc, false), 0xfffff800u);
  EXPECT_EQ(as.read_pointer(0xfffff80012346000, false), std::nullopt);
}

TEST_F(X64, Maps2MAnd1GPagesAbove4G) {
  pt.map(0xfffff80000200000, 0x123400000, kLargePage2M, kLargePage2M);
  pt.map(0xfffff88000000000, 0x240000000, kHugePage1G, kHugePage1G);
  image.map(0x123412000, 0x1000);
  image.write(0x123412345, "two-meg");
  image.map(0x27abcd000, 0x1000);
  image.write(0x27abcdef0, "one-gig");
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());

  const Translation m2 = as.translate(0xfffff80000212345);
  ASSERT_TRUE(m2.ok()) << describe(m2, as.mode());
  EXPECT_EQ(m2.pa, 0x123412345u);
  EXPECT_EQ(m2.page_size, kLargePage2M);
  EXPECT_EQ(m2.level, 2);
  EXPECT_EQ(m2.entry, 0x1234000E3u);
  EXPECT_EQ(read_string(as, 0xfffff80000212345, 7), "two-meg");

  const Translation g1 = as.translate(0xfffff8803abcdef0);
  ASSERT_TRUE(g1.ok()) << describe(g1, as.mode());
  EXPECT_EQ(g1.pa, 0x27abcdef0u);
  EXPECT_EQ(g1.page_size, kHugePage1G);
  EXPECT_EQ(g1.level, 3);
  EXPECT_EQ(g1.entry, 0x2400000E3u);
  EXPECT_EQ(read_string(as, 0xfffff8803abcdef0, 7), "one-gig");
}

TEST_F(X64, IgnoresNxSoftwareAndPatBits) {
  pt.map(0xfffff80000001000, 0x5000, 0x1000);
  pt.map(0xfffff80000200000, 0x40000000, kLargePage2M, kLargePage2M);
  pt.map(0xfffff88000000000, 0x80000000, kHugePage1G, kHugePage1G);
  // XD (63), protection keys / software bits 52..62, software bits 9..11; PAT (bit 12) in the
  // large-page entries.
  const std::uint64_t high = 0xFFF0000000000E00ull;
  pt.set_entry(0xfffff80000001000, 1, 0x5063 | high);
  pt.set_entry(0xfffff80000200000, 2, 0x400010E3 | high);
  pt.set_entry(0xfffff88000000000, 3, 0x800010E3 | high);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());

  EXPECT_EQ(as.translate(0xfffff80000001abc).pa, 0x5abcu);
  EXPECT_EQ(as.translate(0xfffff80000201abc).pa, 0x40001abcu);
  EXPECT_EQ(as.translate(0xfffff88000001abc).pa, 0x80001abcu);
  EXPECT_EQ(as.translate(0xfffff80000001abc).entry, 0x5063 | high);
}

TEST_F(X64, DtbPcidAndHighBitsAreMasked) {
  pt.map(0xfffff80000001000, 0x5000, 0x1000);
  // 0x1ad002: a DumpIt header's DirectoryTableBase with PCID 2 (reference §2.2); bit 63 is the
  // CR3 "no flush" bit.
  for (std::uint64_t dtb : {0x1ad002ull, 0x1adfffull, 0x80000000001ad001ull}) {
    AddressSpace as(image, PagingMode::x64_4level, dtb);
    EXPECT_EQ(as.dtb(), dtb);
    EXPECT_EQ(as.root_table(), 0x1ad000u);
    const Translation t = as.translate(0xfffff80000001010);
    ASSERT_TRUE(t.ok()) << describe(t, as.mode());
    EXPECT_EQ(t.pa, 0x5010u);
  }
}

TEST_F(X64, NonCanonicalAddressesAreNotMapped) {
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  for (std::uint64_t va : {0x0000800000000000ull, 0xFFFF7FFFFFFFF000ull, 0x1234567812345678ull}) {
    const Translation t = as.translate(va);
    EXPECT_EQ(t.status, ReadStatus::not_mapped);
    EXPECT_EQ(t.fault, TranslationFault::outside_address_space);
    EXPECT_EQ(t.level, 0);
    EXPECT_FALSE(as.in_address_space(va));
  }
  EXPECT_EQ(describe(as.translate(0x0000800000000000), as.mode()),
            "VA 0x800000000000 is not canonical (bits 63..47 differ)");
  EXPECT_TRUE(as.in_address_space(0x00007FFFFFFFFFFF));
  EXPECT_TRUE(as.in_address_space(0xFFFF800000000000));
  std::byte b[4];
  const ReadResult r = as.read_virtual(0xFFFF7FFFFFFFFFFE, b);
  EXPECT_EQ(r.status, ReadStatus::not_mapped);
  EXPECT_EQ(r.address, 0xFFFF7FFFFFFFFFFEu);
}

TEST_F(X64, InvalidEntryAndMissingTableAreDistinct) {
  pt.map(0xfffff80012345000, 0x7654000, 0x1000);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());

  // An empty PML4 slot: the walk stops at level 4.
  Translation t = as.translate(0xffff800000000000);
  EXPECT_EQ(t.status, ReadStatus::not_mapped);
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 4);
  EXPECT_EQ(t.entry_pa, 0x1ad800u);
  EXPECT_EQ(describe(t, as.mode()),
            "PML4E at PA 0x1ad800 for VA 0xffff800000000000 is not present (0x0)");

  // A Windows transition PTE (bit 11 set, P clear) still holds a PFN: not a translation.
  pt.set_entry(0xfffff80012346000, 1, 0x7655000 | 0x800 | 0x60);
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0xfffff80012346000);
  EXPECT_EQ(t.fault, TranslationFault::entry_not_valid);
  EXPECT_EQ(t.level, 1);
  EXPECT_EQ(t.entry, 0x7655860u);

  // The PT page itself absent from the image: not_present, at the PTE's address.
  image.unmap(0x1b0000, 0x1000);
  as.clear_cache();  // the image changed under the page tables
  t = as.translate(0xfffff80012345678);
  EXPECT_EQ(t.status, ReadStatus::not_present);
  EXPECT_EQ(t.fault, TranslationFault::table_unreadable);
  EXPECT_EQ(t.level, 1);
  EXPECT_EQ(t.entry_pa, 0x1b0a28u);
  EXPECT_EQ(describe(t, as.mode()),
            "PTE for VA 0xfffff80012345678 is at PA 0x1b0a28, which cannot be read: physical "
            "address 0x1b0a28 is not in the image");
  std::byte b[8];
  ReadResult r = as.read_virtual(0xfffff80012345ff8, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0xfffff80012345ff8u);

  // ... or beyond the end of a short image file.
  image.map(0x1b0000, 0x1000);
  as.clear_cache();  // the image changed under the page tables
  image.truncate_at(0x1b0000);
  t = as.translate(0xfffff80012345678);
  EXPECT_EQ(t.status, ReadStatus::truncated);
  EXPECT_EQ(t.fault, TranslationFault::table_unreadable);
  EXPECT_EQ(t.file_offset, 0x1b0a28u);
}

// failing_range: the whole span of the entry that failed, at each level; a success or a
// non-canonical VA is only itself.
TEST_F(X64, FailingRangeIsTheSpanOfTheEntryThatFailed) {
  pt.map(0xfffff80012345000, 0x7654000, 0x1000);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  using P = std::pair<std::uint64_t, std::uint64_t>;
  auto range = [&](std::uint64_t va) {
    const AddressSpace::VaRange r = as.failing_range(as.translate(va));
    return P(r.first, r.last);
  };
  // Empty PML4 slot 0x1f1: 512 GiB.
  EXPECT_EQ(range(0xfffff88123456789), P(0xfffff88000000000, 0xfffff8ffffffffff));
  // Empty PDPTE (the PDPT of slot 0x1f0 has one entry): 1 GiB.
  EXPECT_EQ(range(0xfffff80123456789), P(0xfffff80100000000, 0xfffff8013fffffff));
  // Empty PDE: 2 MiB.
  EXPECT_EQ(range(0xfffff80012545678), P(0xfffff80012400000, 0xfffff800125fffff));
  // Empty PTE: 4 KiB.
  EXPECT_EQ(range(0xfffff80012346789), P(0xfffff80012346000, 0xfffff80012346fff));
  // A success, and a non-canonical VA.
  EXPECT_EQ(range(0xfffff80012345678), P(0xfffff80012345678, 0xfffff80012345678));
  EXPECT_EQ(range(0x0000800000000000), P(0x0000800000000000, 0x0000800000000000));
  // An unreadable PT: the PTE's 4 KiB only (other entries of a short table may be readable).
  image.unmap(0x1b0000, 0x1000);
  as.clear_cache();
  EXPECT_EQ(range(0xfffff80012345678), P(0xfffff80012345000, 0xfffff80012345fff));
}

TEST_F(X64, PageSizeBitInPml4eIsReserved) {
  pt.map(0xfffff80000000000, 0x5000, 0x1000);
  pt.set_entry(0xfffff80000000000, 4, pt.read_entry(0xfffff80000000000, 4) | 0x80);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  const Translation t = as.translate(0xfffff80000000000);
  EXPECT_EQ(t.status, ReadStatus::not_mapped);
  EXPECT_EQ(t.fault, TranslationFault::reserved_encoding);
  EXPECT_EQ(t.level, 4);
}

TEST_F(X64, ReadsAcrossPagesAndStopsAtFirstFailingAddress) {
  const std::uint64_t va = 0xfffff80000010000;
  pt.map(va, 0x5000, 0x1000);
  pt.map(va + 0x1000, 0x3000, 0x1000);  // the next VA page lies lower in PA
  image.map(0x3000, 0x1000);
  image.map(0x5000, 0x1000);
  image.write(0x5ff8, "AAAAAAAA");
  image.write(0x3000, "BBBBBBBB");
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  EXPECT_EQ(read_string(as, va + 0xff8, 16), "AAAAAAAABBBBBBBB");

  std::vector<std::byte> buf(0x20);
  ReadResult r = as.read_virtual(va + 0x1ff0, buf);
  EXPECT_EQ(r.status, ReadStatus::not_mapped);
  EXPECT_EQ(r.address, va + 0x2000);

  // Mapped, but only half of the data page is in the image.
  pt.map(va + 0x2000, 0x8000, 0x1000);
  image.map(0x8000, 0x800);
  as.clear_cache();  // the image changed under the page tables
  as.clear_cache();
  EXPECT_TRUE(as.read_virtual(va + 0x1ff0, buf).ok());
  buf.resize(0x200);
  r = as.read_virtual(va + 0x2700, buf);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, va + 0x2800);

  // From a 4 KiB page into a 2 MiB page.
  pt.map(0xfffff800001ff000, 0x9000, 0x1000);
  pt.map(0xfffff80000200000, 0x123400000, kLargePage2M, kLargePage2M);
  image.map(0x9000, 0x1000);
  image.map(0x123400000, 0x1000);
  image.write(0x9ff8, "44444444");
  image.write(0x123400000, "22222222");
  as.clear_cache();  // the image changed under the page tables
  EXPECT_EQ(read_string(as, 0xfffff800001ffff8, 16), "4444444422222222");
}

TEST_F(X64, SelfMapExposesEveryLevelOfEntries) {
  // Windows 10 1607+ picks the self-map index at random in the upper half; 0x1ED was the fixed
  // one before.
  std::mt19937 rng(1607);
  std::vector<unsigned> indices{0x1ED, 0x100, 0x1FF};
  for (int i = 0; i < 4; ++i) indices.push_back(0x100 + rng() % 0x100);
  const std::uint64_t kernel_va = 0xfffff80012345000;
  const std::uint64_t user_va = 0x00007ff612345000;
  for (unsigned index : indices) {
    SCOPED_TRACE(index);
    MemoryImage img;
    PageTableBuilder b(img, PagingMode::x64_4level, 0x1ad000, 0x40000);
    b.map(kernel_va, 0x7654000, 0x1000);
    b.map(user_va, 0x1234000, 0x1000);
    const std::uint64_t base = b.add_self_map(index);
    EXPECT_EQ(base, 0xFFFF000000000000ull | std::uint64_t{index} << 39);
    AddressSpace as(img, PagingMode::x64_4level, b.dtb());
    for (std::uint64_t va : {kernel_va, user_va}) {
      for (int level = 1; level <= 4; ++level) {
        const std::uint64_t entry_va = b.self_map_entry_va(index, va, level);
        std::uint64_t value = 0;
        const ReadResult r =
            as.read_virtual(entry_va, std::as_writable_bytes(std::span(&value, 1)));
        ASSERT_TRUE(r.ok()) << describe(r, "virtual");
        EXPECT_EQ(value, b.read_entry(va, level)) << "level " << level;
        const Translation through = as.translate(entry_va);
        EXPECT_EQ(through.pa, b.entry_address(va, level));
        EXPECT_EQ(through.page_size, 0x1000u);
      }
    }
    EXPECT_EQ(as.translate(kernel_va).entry, 0x7654063u);
  }
  // The classic fixed self-map: MiGetPteAddress(va) = ((va >> 9) & 0x7FFFFFFFF8) + PTE_BASE.
  MemoryImage img;
  PageTableBuilder b(img, PagingMode::x64_4level, 0x1ad000, 0x40000);
  EXPECT_EQ(b.self_map_entry_va(0x1ED, kernel_va, 1), 0xFFFFF6FC00091A28ull);
  EXPECT_EQ(b.self_map_entry_va(0x1ED, kernel_va, 4), 0xFFFFF6FB7DBEDF80ull);
  // A randomised one: KDBG.PteBase 0xfffffd8000000000 in the 19041 triage sample is index 0x1FB;
  // the PTE of that machine's kernel base 0xfffff8047ba00000 is then at 0xfffffdfc023dd000.
  EXPECT_EQ(b.add_self_map(0x1FB), 0xfffffd8000000000ull);
  EXPECT_EQ(b.self_map_entry_va(0x1FB, 0xfffff8047ba00000, 1), 0xfffffdfc023dd000ull);
}

TEST_F(X64, CacheServesRepeatsUntilCleared) {
  pt.map(0xfffff80000001000, 0x5000, 0x1000);
  pt.map(0xfffff80000200000, 0x40000000, kLargePage2M, kLargePage2M);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  EXPECT_EQ(as.translate(0xfffff80000001000).pa, 0x5000u);
  EXPECT_EQ(as.translate(0xfffff80000200000).pa, 0x40000000u);
  const std::uint64_t reads = image.read_calls();
  EXPECT_EQ(as.translate(0xfffff80000001ff8).pa, 0x5ff8u);
  EXPECT_EQ(as.translate(0xfffff800003fffff).pa, 0x401fffffu);
  EXPECT_EQ(image.read_calls(), reads);

  pt.set_entry(0xfffff80000001000, 1, 0x6063);
  EXPECT_EQ(as.translate(0xfffff80000001000).pa, 0x5000u);  // cached until told
  as.clear_cache();
  EXPECT_EQ(as.translate(0xfffff80000001000).pa, 0x6000u);
  // A failed translation is not a cached leaf, but the table page it read is cached like any
  // other: a change to it is seen once the cache is cleared.
  pt.set_entry(0xfffff80000001000, 1, 0);
  as.clear_cache();
  EXPECT_FALSE(as.translate(0xfffff80000001000).ok());
  pt.set_entry(0xfffff80000001000, 1, 0x7063);
  EXPECT_FALSE(as.translate(0xfffff80000001000).ok());
  as.clear_cache();
  EXPECT_EQ(as.translate(0xfffff80000001000).pa, 0x7000u);
}

TEST_F(X64, CacheHoldsSixtyFourLargePagesOfAKernelImage) {
  // A kernel image, HAL and pool mapped with 2 MiB pages, as Windows maps them: read at random,
  // the 64 pages after the first walk each are served from the cache, in any order.
  const std::uint64_t base = 0xfffff8047ba00000;
  for (std::uint64_t i = 0; i < 64; ++i) {
    pt.map(base + i * kLargePage2M, 0x40000000 + i * kLargePage2M, kLargePage2M, kLargePage2M);
  }
  pt.map(base + 64 * kLargePage2M, 0x50000000, kLargePage2M, kLargePage2M);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  for (std::uint64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(as.translate(base + i * kLargePage2M + 0x123).pa, 0x40000123 + i * kLargePage2M);
  }
  EXPECT_EQ(as.walks(), 64u);
  std::mt19937 rng(1);
  for (int n = 0; n < 1000; ++n) {
    const std::uint64_t i = rng() % 64, off = (rng() % 512) * 0x1000;
    ASSERT_EQ(as.translate(base + i * kLargePage2M + off).pa, 0x40000000 + i * kLargePage2M + off);
  }
  EXPECT_EQ(as.walks(), 64u);
  // The 65th span takes the slot of the first: one walk each, then the first walks again.
  EXPECT_EQ(as.translate(base + 64 * kLargePage2M).pa, 0x50000000u);
  EXPECT_EQ(as.translate(base).pa, 0x40000000u);
  EXPECT_EQ(as.walks(), 66u);
  // A copy starts with its own, empty cache and count.
  const AddressSpace copy(as);
  EXPECT_EQ(copy.walks(), 0u);
  EXPECT_EQ(copy.translate(base + kLargePage2M).pa, 0x40000000 + kLargePage2M);
  EXPECT_EQ(copy.walks(), 1u);
  EXPECT_EQ(as.walks(), 66u);
}

TEST_F(X64, CacheSlotsSharedByDistantAddressesNeverMixTheirTables) {
  // The translation cache keeps 4 KiB leaves in 32 slots chosen by VA page, large ones in 64
  // by 2 MiB of VA, and the last-level table of a 2 MiB span in 16 slots: these addresses
  // collide in every one of them (32 pages apart, 16, 32 and 64 spans of 2 MiB apart), each
  // through its own page table, and must come out as their own.
  const std::uint64_t a = 0xfffff80000001000;
  const std::uint64_t b = a + 32 * 0x1000;         // same 4 KiB slot, same table
  const std::uint64_t c = a + 16 * kLargePage2M;   // same table slot, another table
  const std::uint64_t d = a + 32 * kLargePage2M;   // again, and a third table
  const std::uint64_t big = 0xfffff80000000000 + 64 * kLargePage2M;  // a 2 MiB page in slot 0
  pt.map(a, 0x5000, 0x1000);
  pt.map(b, 0x6000, 0x1000);
  pt.map(c, 0x7000, 0x1000);
  pt.map(d, 0x8000, 0x1000);
  pt.map(big, 0x40000000, kLargePage2M, kLargePage2M);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(as.translate(a + 0x10).pa, 0x5010u);
    EXPECT_EQ(as.translate(c + 0x20).pa, 0x7020u);
    EXPECT_EQ(as.translate(b + 0x30).pa, 0x6030u);
    EXPECT_EQ(as.translate(d + 0x40).pa, 0x8040u);
    EXPECT_EQ(as.translate(big + 0x1234).pa, 0x40001234u);
    EXPECT_EQ(as.translate(a + 0x2000).status, ReadStatus::not_mapped);  // same table, no entry
    EXPECT_EQ(as.translate(c + 0x1000).status, ReadStatus::not_mapped);
  }
}
