// The page loop the dump writers share: which spans it hands on (bytes or zeros), that known
// zeros of the source are never read, the sizes it reads in, and that a page an overlay
// corrected is always bytes.
#include <gtest/gtest.h>

#include <vector>

#include "overlays.h"
#include "page_stream.h"
#include "pagedump/error.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

namespace pagedump::test {
namespace {

using writer::Overlays;
using writer::PageSpan;
using writer::PageStream;
using writer::PfnRun;

// A memory image that, like a sparse file, knows some of its zeros without reading them.
class SparseMemory : public MemoryImage {
 public:
  PhysicalRange known_zero{};
  StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const override {
    if (pa >= known_zero.base && pa < known_zero.end()) {
      return {true, std::min(known_zero.end(), limit)};
    }
    return {false, pa < known_zero.base ? std::min(known_zero.base, limit) : limit};
  }
};

struct Seen {
  std::uint64_t pfn, count;
  bool zero;
  std::uint8_t first_byte;
  friend bool operator==(const Seen&, const Seen&) = default;
};

std::vector<Seen> stream_all(PageStream& s, PfnRun run) {
  std::vector<Seen> seen;
  s.stream(run, [&](const PageSpan& span) {
    EXPECT_EQ(span.bytes.size(), span.zero() ? 0 : span.count * kPageSize);
    seen.push_back({span.pfn, span.count, span.zero(),
                    span.zero() ? std::uint8_t{0} : std::to_integer<std::uint8_t>(span.bytes[0])});
  });
  return seen;
}

TEST(PageStream, SpansAlternateBetweenBytesAndZeros) {
  SparseMemory m;
  m.map(0, 0x30 * kPageSize);
  m.fill(0x2 * kPageSize, 3 * kPageSize, std::byte{0x11});   // pages 2..4
  m.fill(0x11 * kPageSize, 1 * kPageSize, std::byte{0x22});  // page 0x11, second chunk
  m.write(0x2F * kPageSize + 0xFFF, "\x33");                 // last byte of the last page
  Overlays none;
  PageStream s(m, none);
  // The first reads are 16 pages: spans never cross a chunk's end.
  EXPECT_EQ(stream_all(s, {0, 0x30}), (std::vector<Seen>{{0, 2, true, 0},
                                                         {2, 3, false, 0x11},
                                                         {5, 11, true, 0},
                                                         {0x10, 1, true, 0},
                                                         {0x11, 1, false, 0x22},
                                                         {0x12, 14, true, 0},
                                                         {0x20, 15, true, 0},
                                                         {0x2F, 1, false, 0}}));
}

// Records the size in pages of every read.
class SizeRecordingMemory : public SparseMemory {
 public:
  mutable std::vector<std::size_t> sizes;
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override {
    sizes.push_back(out.size() / kPageSize);
    return SparseMemory::read_physical(pa, out);
  }
};

TEST(PageStream, ReadsAre64KiBForTheFirst4MiBThen1MiB) {
  SizeRecordingMemory m;
  m.map(0, 0x800 * kPageSize);  // 8 MiB of data
  Overlays none;
  PageStream s(m, none);
  stream_all(s, {0, 0x800});
  std::vector<std::size_t> expected(64, 16);
  expected.insert(expected.end(), 4, 256);
  EXPECT_EQ(m.sizes, expected);
}

// A sparse capture: in every 64 pages, 24 pages of data and then a hole.
class StripedMemory : public SizeRecordingMemory {
 public:
  StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const override {
    const std::uint64_t stripe = pa / (64 * kPageSize) * (64 * kPageSize);
    const std::uint64_t data_end = stripe + 24 * kPageSize;
    if (pa < data_end) return {false, std::min(data_end, limit)};
    return {true, std::min(stripe + 64 * kPageSize, limit)};
  }
};

TEST(PageStream, ASparseImagesDataStretchesAreReadWithinTheFirst64KiBOfTheBuffer) {
  // 3 MiB of data in 96 KiB stretches: each is read as 64 + 32 KiB, so no read touches the
  // buffer past its first 64 KiB.
  StripedMemory m;
  m.map(0, 0x800 * kPageSize);
  Overlays none;
  PageStream s(m, none);
  stream_all(s, {0, 0x800});
  std::vector<std::size_t> expected;
  for (int i = 0; i < 0x800 / 64; ++i) expected.insert(expected.end(), {16, 8});
  EXPECT_EQ(m.sizes, expected);
}

TEST(PageStream, KnownZerosAreNotRead) {
  SparseMemory m;
  m.map(0, 0x1000 * kPageSize);
  m.known_zero = {0x10 * kPageSize, 0xFE0 * kPageSize};  // pages 0x10..0xFEF
  m.fill(0xFF0 * kPageSize, kPageSize, std::byte{0x44});
  Overlays none;
  PageStream s(m, none);
  const std::uint64_t calls_before = m.read_calls();
  EXPECT_EQ(stream_all(s, {0, 0x1000}), (std::vector<Seen>{{0, 0x10, true, 0},
                                                           {0x10, 0xFE0, true, 0},
                                                           {0xFF0, 1, false, 0x44},
                                                           {0xFF1, 0xF, true, 0}}));
  // One read for pages 0..0xF and one for 0xFF0..0xFFF; none for the 16 MiB hole.
  EXPECT_EQ(m.read_calls() - calls_before, 2u);
}

TEST(PageStream, APageAnOverlayCorrectedIsBytesEvenInAHoleOrWhenZero) {
  SparseMemory m;
  m.map(0, 0x400 * kPageSize);
  PageTableBuilder pt(m, PagingMode::x64_4level, 0x300 * kPageSize, 0x10 * kPageSize);
  pt.map(0xfffff80000000000, 0x100 * kPageSize, 2 * kPageSize);
  m.known_zero = {0x100 * kPageSize, 0x100 * kPageSize};  // pages 0x100..0x1FF
  m.fill(0x101 * kPageSize, kPageSize, std::byte{0x55});
  AddressSpace space(m, PagingMode::x64_4level, pt.dtb());
  Overlays o;
  std::vector<std::string> notes;
  const std::vector<std::byte> patch{std::byte{0x66}};
  const std::vector<std::byte> zeros(kPageSize);
  ASSERT_TRUE(o.add_virtual(space, 0xfffff80000000000 + 0x10, patch, "in a hole", notes));
  ASSERT_TRUE(o.add_virtual(space, 0xfffff80000001000, zeros, "to zero", notes));
  PageStream s(m, o);
  std::vector<Seen> seen;
  std::vector<std::byte> page0;
  s.stream({0x100, 4}, [&](const PageSpan& span) {
    seen.push_back({span.pfn, span.count, span.zero(),
                    span.zero() ? std::uint8_t{0} : std::to_integer<std::uint8_t>(span.bytes[0])});
    if (span.pfn == 0x100) page0.assign(span.bytes.begin(), span.bytes.begin() + kPageSize);
  });
  EXPECT_EQ(seen, (std::vector<Seen>{{0x100, 2, false, 0}, {0x102, 2, true, 0}}));
  ASSERT_EQ(page0.size(), kPageSize);
  EXPECT_EQ(page0[0x10], std::byte{0x66});
}

TEST(PageStream, AKeptPageIsBytesEvenInAHoleOrWhenZero) {
  SparseMemory m;
  m.map(0, 0x400 * kPageSize);
  PageTableBuilder pt(m, PagingMode::x64_4level, 0x300 * kPageSize, 0x10 * kPageSize);
  pt.map(0xfffff80000000000, 0x102 * kPageSize, 2 * kPageSize);
  m.known_zero = {0x100 * kPageSize, 0x3 * kPageSize};  // pages 0x100..0x102: a hole
  AddressSpace space(m, PagingMode::x64_4level, pt.dtb());
  Overlays o;
  EXPECT_TRUE(o.empty());
  ASSERT_TRUE(o.keep_virtual(space, 0xfffff80000000018));  // page 0x102, in the hole
  ASSERT_TRUE(o.keep_virtual(space, 0xfffff80000001ff8));  // page 0x103, zeros read
  ASSERT_TRUE(o.keep_virtual(space, 0xfffff80000000ff0));  // page 0x102 again
  EXPECT_FALSE(o.keep_virtual(space, 0xfffff80000002000));  // not mapped
  EXPECT_FALSE(o.empty());
  EXPECT_EQ(o.first_page_touched(0x100 * kPageSize, 0x106 * kPageSize), 0x102 * kPageSize);
  EXPECT_EQ(o.first_page_touched(0x103 * kPageSize + 8, 0x106 * kPageSize), 0x103 * kPageSize);
  EXPECT_EQ(o.first_page_touched(0x104 * kPageSize, 0x106 * kPageSize), 0x106 * kPageSize);
  PageStream s(m, o);
  EXPECT_EQ(stream_all(s, {0x100, 6}), (std::vector<Seen>{{0x100, 2, true, 0},
                                                          {0x102, 2, false, 0},
                                                          {0x104, 2, true, 0}}));
}

TEST(PageStream, AnImageThatCannotGiveAPageNamesItsAddress) {
  SparseMemory m;
  m.map(0, 0x10 * kPageSize);
  m.truncate_at(0x8 * kPageSize);
  Overlays none;
  PageStream s(m, none);
  try {
    stream_all(s, {0, 0x10});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::truncated);
    EXPECT_NE(std::string(e.what()).find("physical address 0x8000"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pagedump::test
