// AddressSpace::for_each_mapping: exact results on small layouts, the Windows self-map, and
// bounded work on hostile tables that point back to themselves at every level.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

using namespace pagedump;
using pagedump::test::MemoryImage;
using pagedump::test::PageTableBuilder;

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kKernelHalf = 0xFFFF800000000000ull;

struct Collected {
  std::vector<Mapping> mappings;
  std::vector<TablePage> tables;
  WalkSummary summary;
};

Collected collect(const AddressSpace& as, std::uint64_t first, std::uint64_t last) {
  Collected c;
  c.summary = as.for_each_mapping(
      first, last,
      [&](const Mapping& m) {
        c.mappings.push_back(m);
        return true;
      },
      [&](const TablePage& t) {
        c.tables.push_back(t);
        return true;
      });
  return c;
}

void expect_ascending(const std::vector<Mapping>& mappings) {
  for (std::size_t i = 1; i < mappings.size(); ++i) {
    EXPECT_LT(mappings[i - 1].va, mappings[i].va) << "mapping " << i;
  }
}

// An independent, unbounded x64 walk (no repeat check): fine on layouts without aliasing.
void naive_x64(const MemoryImage& image, std::uint64_t table, int level, std::uint64_t va,
               std::uint64_t first, std::vector<Mapping>& out) {
  for (std::uint64_t i = 0; i < 512; ++i) {
    std::uint64_t eva = va + (i << (12 + 9 * (level - 1)));
    if (level == 4 && i >= 256) eva |= 0xFFFF000000000000ull;
    const std::uint64_t span = std::uint64_t{1} << (12 + 9 * (level - 1));
    if (eva + (span - 1) < first) continue;
    const std::uint64_t e = image.read_u64(table + i * 8);
    if (!(e & 1)) continue;
    if (level == 1 || ((level == 2 || level == 3) && (e & 0x80))) {
      const std::uint64_t pa = e & 0x000FFFFFFFFFF000ull & ~(span - 1);
      out.push_back(Mapping{eva, pa, span, level, e});
    } else {
      naive_x64(image, e & 0x000FFFFFFFFFF000ull, level - 1, eva, first, out);
    }
  }
}

// Root 0x1ad000. A user page (tables 0x1ae000..0x1b0000), two kernel 4 KiB pages and a 2 MiB
// page (tables 0x1b1000..0x1b3000), a 1 GiB page (PDPT 0x1b4000).
class SmallX64 : public ::testing::Test {
 protected:
  void SetUp() override {
    pt.map(0x00007ff612345000, 0x1234000, 0x1000);
    pt.map(0xfffff80000001000, 0x5000, 0x2000);
    pt.map(0xfffff80000200000, 0x40000000, kLargePage2M, kLargePage2M);
    pt.map(0xfffff88000000000, 0x80000000, kHugePage1G, kHugePage1G);
  }
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::x64_4level, 0x1ad000, 0x40000};
};

}  // namespace

TEST_F(SmallX64, ReportsEveryMappingAndTableExactly) {
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb() | 0x002);
  const Collected c = collect(as, 0, kMax);
  const std::vector<Mapping> mappings{
      {0x00007ff612345000, 0x1234000, 0x1000, 1, 0x1234063},
      {0xfffff80000001000, 0x5000, 0x1000, 1, 0x5063},
      {0xfffff80000002000, 0x6000, 0x1000, 1, 0x6063},
      {0xfffff80000200000, 0x40000000, kLargePage2M, 2, 0x400000E3},
      {0xfffff88000000000, 0x80000000, kHugePage1G, 3, 0x800000E3},
  };
  EXPECT_EQ(c.mappings, mappings);
  const std::vector<TablePage> tables{
      {0x1ad000, 0x1000, 4, 0, ReadStatus::ok},
      {0x1ae000, 0x1000, 3, 0x00007f8000000000, ReadStatus::ok},
      {0x1af000, 0x1000, 2, 0x00007ff600000000, ReadStatus::ok},
      {0x1b0000, 0x1000, 1, 0x00007ff612200000, ReadStatus::ok},
      {0x1b1000, 0x1000, 3, 0xfffff80000000000, ReadStatus::ok},
      {0x1b2000, 0x1000, 2, 0xfffff80000000000, ReadStatus::ok},
      {0x1b3000, 0x1000, 1, 0xfffff80000000000, ReadStatus::ok},
      {0x1b4000, 0x1000, 3, 0xfffff88000000000, ReadStatus::ok},
  };
  EXPECT_EQ(c.tables, tables);
  EXPECT_EQ(c.summary.mappings, 5u);
  EXPECT_EQ(c.summary.tables, 8u);
  EXPECT_EQ(c.summary.unreadable_tables, 0u);
  EXPECT_EQ(c.summary.repeated_tables, 0u);
  EXPECT_FALSE(c.summary.stopped);
  // Every mapping agrees with translate().
  for (const Mapping& m : c.mappings) {
    const Translation t = as.translate(m.va + m.size - 1);
    EXPECT_EQ(t.pa, m.pa + m.size - 1);
    EXPECT_EQ(t.page_size, m.size);
  }
}

TEST_F(SmallX64, RangesClipTheWalkButReportWholeLeaves) {
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  Collected c = collect(as, kKernelHalf, kMax);
  ASSERT_EQ(c.mappings.size(), 4u);
  EXPECT_EQ(c.mappings.front().va, 0xfffff80000001000u);
  EXPECT_EQ(c.tables.size(), 5u);  // the root and the kernel tables only

  // One byte inside the 2 MiB page: the page is reported whole; the PT below is not entered.
  c = collect(as, 0xfffff80000300000, 0xfffff80000300000);
  ASSERT_EQ(c.mappings.size(), 1u);
  EXPECT_EQ(c.mappings[0], (Mapping{0xfffff80000200000, 0x40000000, kLargePage2M, 2, 0x400000E3}));
  ASSERT_EQ(c.tables.size(), 3u);
  EXPECT_EQ(c.tables[2].pa, 0x1b2000u);

  c = collect(as, 0xfffff80000002000, 0xfffff88000000000);
  ASSERT_EQ(c.mappings.size(), 3u);
  EXPECT_EQ(c.mappings[0].va, 0xfffff80000002000u);
  EXPECT_EQ(c.mappings[2].va, 0xfffff88000000000u);

  c = collect(as, 1, 0);  // empty range
  EXPECT_TRUE(c.mappings.empty());
  EXPECT_TRUE(c.tables.empty());
}

TEST_F(SmallX64, UnreadableTableIsReportedAndSkipped) {
  image.unmap(0x1b3000, 0x1000);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  const Collected c = collect(as, 0, kMax);
  ASSERT_EQ(c.mappings.size(), 3u);
  EXPECT_EQ(c.mappings[1].va, 0xfffff80000200000u);
  EXPECT_EQ(c.summary.unreadable_tables, 1u);
  EXPECT_EQ(c.summary.tables, 7u);
  ASSERT_EQ(c.tables.size(), 8u);
  EXPECT_EQ(c.tables[6],
            (TablePage{0x1b3000, 0x1000, 1, 0xfffff80000000000, ReadStatus::not_present}));
}

TEST_F(SmallX64, CallbacksCanStopTheWalk) {
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  int seen = 0;
  WalkSummary s = as.for_each_mapping(0, kMax, [&](const Mapping&) { return ++seen < 2; });
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(s.mappings, 2u);
  EXPECT_TRUE(s.stopped);

  int tables = 0;
  s = as.for_each_mapping(0, kMax, {}, [&](const TablePage&) { return ++tables < 3; });
  EXPECT_EQ(tables, 3);
  EXPECT_EQ(s.mappings, 0u);
  EXPECT_TRUE(s.stopped);
}

TEST_F(SmallX64, SelfMapIsEnumeratedCompletely) {
  pt.add_self_map(0x1ED);
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  const Collected c = collect(as, kKernelHalf, kMax);
  std::vector<Mapping> expected;
  naive_x64(image, pt.dtb(), 4, 0, kKernelHalf, expected);
  EXPECT_EQ(c.mappings, expected);
  // 4 ordinary kernel mappings, 11 seen through the self-map (one per table page and level
  // below the top, plus the entries a leaf-level view of a table turns into pages).
  EXPECT_EQ(c.summary.mappings, 15u);
  EXPECT_EQ(c.summary.tables, 16u);
  EXPECT_EQ(c.summary.repeated_tables, 0u);
  expect_ascending(c.mappings);
  // The PTE of 0xfffff80000001000 is visible at MiGetPteAddress(va) = 0xFFFFF6FC00000008, a
  // page of the self-map whose PA is the PT page.
  const auto pt_page = std::find_if(c.mappings.begin(), c.mappings.end(),
                                    [](const Mapping& m) { return m.va == 0xFFFFF6FC00000000ull; });
  ASSERT_NE(pt_page, c.mappings.end());
  EXPECT_EQ(pt_page->pa, 0x1b3000u);
  for (const Mapping& m : c.mappings) {
    const Translation t = as.translate(m.va);
    EXPECT_EQ(t.pa, m.pa);
    EXPECT_EQ(t.page_size, m.size);
  }
}

TEST(EnumerateHostile, X64TableThatPointsToItselfEverywhere) {
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::x64_4level, 0x1000, 0x1000);
  for (unsigned i = 0; i < 512; ++i) image.write_u64(0x1000 + i * 8, pt.table_entry(0x1000, 4));
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  const Collected c = collect(as, 0, kMax);
  // Entered once at each level; at level 1 its 512 entries are pages of itself.
  EXPECT_EQ(c.summary.tables, 4u);
  EXPECT_EQ(c.summary.mappings, 512u);
  EXPECT_EQ(c.summary.repeated_tables, 3u * 511u);
  ASSERT_EQ(c.mappings.size(), 512u);
  EXPECT_EQ(c.mappings.front(), (Mapping{0, 0x1000, 0x1000, 1, 0x1063}));
  EXPECT_EQ(c.mappings.back().va, 0x1FF000u);
  expect_ascending(c.mappings);
  // Translation through the cycle still works, one entry per level.
  const Translation t = as.translate(0xFFFFFFFFFFFFFFF8);
  ASSERT_TRUE(t.ok()) << describe(t, as.mode());
  EXPECT_EQ(t.pa, 0x1FF8u);
}

TEST(EnumerateHostile, X64SharedTablesDoNotMultiply) {
  // PML4 -> one PDPT from every entry -> one PD -> one PT with 512 pages: 2^36 VA pages, but
  // each table is entered once.
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::x64_4level, 0x10000, 0x4000);
  const std::uint64_t pdpt = pt.allocate_table(), pd = pt.allocate_table(),
                      ptp = pt.allocate_table();
  for (unsigned i = 0; i < 512; ++i) {
    image.write_u64(pt.dtb() + i * 8, pt.table_entry(pdpt, 4));
    image.write_u64(pdpt + i * 8, pt.table_entry(pd, 3));
    image.write_u64(pd + i * 8, pt.table_entry(ptp, 2));
    image.write_u64(ptp + i * 8, pt.leaf_entry(0x100000 + i * 0x1000, 1));
  }
  AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
  std::vector<std::uint64_t> table_pas;
  const WalkSummary s = as.for_each_mapping(
      kKernelHalf, kMax, [](const Mapping&) { return true; },
      [&](const TablePage& t) {
        table_pas.push_back(t.pa);
        return true;
      });
  EXPECT_EQ(s.tables, 4u);
  EXPECT_EQ(s.mappings, 512u);
  EXPECT_EQ(s.repeated_tables, 255u + 511u + 511u);  // kernel half: PML4 entries 256..511
  EXPECT_EQ(table_pas, (std::vector<std::uint64_t>{0x10000, pdpt, pd, ptp}));
}

TEST(EnumerateHostile, NonPaeDirectoryThatPointsToItself) {
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::x86_legacy, 0x39000, 0x1000);
  for (unsigned i = 0; i < 1024; ++i) image.write_u32(0x39000 + i * 4, 0x39063);
  AddressSpace as(image, PagingMode::x86_legacy, pt.dtb());
  const Collected c = collect(as, 0, kMax);
  EXPECT_EQ(c.summary.tables, 2u);
  EXPECT_EQ(c.summary.mappings, 1024u);
  EXPECT_EQ(c.summary.repeated_tables, 1023u);
  EXPECT_EQ(c.mappings.back(), (Mapping{0x3FF000, 0x39000, 0x1000, 1, 0x39063}));
}

TEST(EnumerateHostile, PaePdptThatPointsToItsOwnPage) {
  // PDPT at 0x300020 whose 4 entries point at its own page: that page is then a PD whose
  // entries 4..7 (the PDPTEs) point at it again as a PT, whose entries 4..7 are pages.
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::x86_pae, 0x300000, 0x1000, {.pae_pdpt_offset = 0x20});
  for (unsigned i = 0; i < 4; ++i) image.write_u64(0x300020 + i * 8, 0x300001);
  AddressSpace as(image, PagingMode::x86_pae, pt.dtb());
  const Collected c = collect(as, 0, kMax);
  EXPECT_EQ(c.summary.tables, 3u);
  EXPECT_EQ(c.summary.repeated_tables, 6u);
  const std::vector<Mapping> mappings{
      {0x804000, 0x300000, 0x1000, 1, 0x300001},
      {0x805000, 0x300000, 0x1000, 1, 0x300001},
      {0x806000, 0x300000, 0x1000, 1, 0x300001},
      {0x807000, 0x300000, 0x1000, 1, 0x300001},
  };
  EXPECT_EQ(c.mappings, mappings);
  ASSERT_EQ(c.tables.size(), 3u);
  EXPECT_EQ(c.tables[0], (TablePage{0x300020, 32, 3, 0, ReadStatus::ok}));
  EXPECT_EQ(c.tables[1], (TablePage{0x300000, 0x1000, 2, 0, ReadStatus::ok}));
  EXPECT_EQ(c.tables[2], (TablePage{0x300000, 0x1000, 1, 0x800000, ReadStatus::ok}));
}

TEST(EnumerateHostile, Arm64RootThatPointsToItselfInBothHalves) {
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::arm64_4k, 0x40000000, 0x1000);
  for (unsigned i = 0; i < 512; ++i) image.write_u64(0x40000000 + i * 8, 0x40000003);
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());
  const Collected c = collect(as, 0, kMax);
  // Each half is its own walk over the shared root.
  EXPECT_EQ(c.summary.tables, 8u);
  EXPECT_EQ(c.summary.mappings, 1024u);
  EXPECT_EQ(c.summary.repeated_tables, 2u * 3u * 511u);
  ASSERT_EQ(c.mappings.size(), 1024u);
  EXPECT_EQ(c.mappings[511].va, 0x1FF000u);
  EXPECT_EQ(c.mappings[512], (Mapping{0xFFFF000000000000, 0x40000000, 0x1000, 1, 0x40000003}));
  expect_ascending(c.mappings);
}

TEST(Enumerate, Arm64SmallLayoutBothHalves) {
  MemoryImage image;
  PageTableBuilder pt(image, PagingMode::arm64_4k, 0x40000000, 0x10000);
  pt.map(0x0000000012345000, 0x47655000, 0x1000);
  pt.map(0xFFFF800000200000, 0x880200000, kLargePage2M, kLargePage2M);
  AddressSpace as(image, PagingMode::arm64_4k, pt.dtb());
  // The user half's walk also sees the kernel entries under their aliased low VAs.
  Collected c = collect(as, 0, kMax);
  const std::vector<Mapping> all{
      {0x0000000012345000, 0x47655000, 0x1000, 1, 0x47655403},
      {0x0000800000200000, 0x880200000, kLargePage2M, 2, 0x880200401},
      {0xFFFF000012345000, 0x47655000, 0x1000, 1, 0x47655403},
      {0xFFFF800000200000, 0x880200000, kLargePage2M, 2, 0x880200401},
  };
  EXPECT_EQ(c.mappings, all);
  c = collect(as, 0xFFFF800000000000, kMax);
  EXPECT_EQ(c.mappings, (std::vector<Mapping>{all[3]}));
}
