// One malformed triage dump per check, each asserting its own error text (or warning).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

#include "pagedump/error.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"
#include "triage_test_util.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::format;

namespace {

constexpr std::uint64_t kT = 0x2000;  // TRIAGE_DUMP64 offset

// Parses the built dump and returns the error it raised ("" when none).
std::string error_of(const BuiltTriage& built, bool is64 = true, ErrorKind* kind = nullptr) {
  TempDir dir;
  try {
    open_built(dir, built, is64);
  } catch (const Error& e) {
    if (kind != nullptr) *kind = e.kind();
    return e.what();
  }
  return "";
}

std::vector<std::string> warnings_of(const BuiltTriage& built, bool is64 = true) {
  TempDir dir;
  return open_built(dir, built, is64)->dump->warnings();
}

bool has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v) {
    if (s.find(part) != std::string::npos) return true;
  }
  return false;
}

BuiltTriage typical64() { return build_triage_dump(typical_triage_spec(true)); }

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

}  // namespace

TEST(TriageMalformed, MissingTrgdMarker) {
  auto spec = typical_triage_spec(true);
  spec.write_marker = false;
  auto built = build_triage_dump(spec);
  ErrorKind kind{};
  auto e = error_of(built, true, &kind);
  EXPECT_EQ(kind, ErrorKind::inconsistent);
  EXPECT_CONTAINS(e, "ValidOffset (file offset 0x2008)");
  EXPECT_CONTAINS(e, "reads 0x00000000");
  EXPECT_CONTAINS(e, "expected \"TRGD\"");
}

TEST(TriageMalformed, MissingTrgdMarker32) {
  auto spec = typical_triage_spec(false);
  spec.write_marker = false;
  auto e = error_of(build_triage_dump(spec), false);
  EXPECT_CONTAINS(e, "ValidOffset (file offset 0x1008)");
  EXPECT_CONTAINS(e, "expected \"TRGD\"");
}

TEST(TriageMalformed, SizeOfDumpPastEndOfFile) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, SizeOfDump), std::uint32_t(built.bytes.size() + 0x1000));
  ErrorKind kind{};
  auto e = error_of(built, true, &kind);
  EXPECT_EQ(kind, ErrorKind::truncated);
  EXPECT_CONTAINS(e, "SizeOfDump (file offset 0x2004)");
  EXPECT_CONTAINS(e, "past the end of the file");
}

TEST(TriageMalformed, TruncatedFileCutsTheTriageArea) {
  auto built = typical64();
  built.bytes.resize(built.bytes.size() - 0x10);
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "SizeOfDump (file offset 0x2004)");
  EXPECT_CONTAINS(e, "past the end of the file");
}

TEST(TriageMalformed, FileEndsInsideTheTriageHeader) {
  auto built = typical64();
  built.bytes.resize(0x2040);
  ErrorKind kind{};
  auto e = error_of(built, true, &kind);
  EXPECT_EQ(kind, ErrorKind::truncated);
  EXPECT_CONTAINS(e, "TRIAGE_DUMP64 header");
}

TEST(TriageMalformed, SizeOfDumpSmallerThanTheHeaders) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, SizeOfDump), std::uint32_t(0x2010));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "SizeOfDump (file offset 0x2004) = 0x2010: expected at least 0x2084");
}

TEST(TriageMalformed, ValidOffsetOutsideTheTriageArea) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, ValidOffset), std::uint32_t(built.layout.size_of_dump));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "ValidOffset (file offset 0x2008)");
  EXPECT_CONTAINS(e, "expected SizeOfDump - 4");
}

// Each *Offset moved so its section ends past SizeOfDump.
struct OffsetCase {
  const char* name;
  std::size_t field;
  std::uint32_t back;  // new offset = SizeOfDump - back
  const char* expect;
};

class TriageOffsetPastSizeOfDump : public ::testing::TestWithParam<OffsetCase> {};

TEST_P(TriageOffsetPastSizeOfDump, NamesTheFieldAndItsLimit) {
  const auto& c = GetParam();
  auto built = typical64();
  const auto sod = std::uint32_t(built.layout.size_of_dump);
  built.patch(kT + c.field, sod - c.back);
  ErrorKind kind{};
  auto e = error_of(built, true, &kind);
  EXPECT_EQ(kind, ErrorKind::inconsistent);
  EXPECT_CONTAINS(e, fmt::format("{} (file offset {:#x}) = {:#x}", c.name, kT + c.field, sod - c.back));
  EXPECT_CONTAINS(e, c.expect);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, TriageOffsetPastSizeOfDump,
    ::testing::Values(
        OffsetCase{"ContextOffset", offsetof(TriageDump64, ContextOffset), 0x10, "a CONTEXT of 0x4d0 bytes"},
        OffsetCase{"ExceptionOffset", offsetof(TriageDump64, ExceptionOffset), 0x10, "an EXCEPTION_RECORD of 0x98 bytes"},
        OffsetCase{"MmOffset", offsetof(TriageDump64, MmOffset), 0x10, "DUMP_MM_STORAGE64 of 0x50 bytes"},
        OffsetCase{"UnloadedDriversOffset", offsetof(TriageDump64, UnloadedDriversOffset), 2, "the unloaded-driver count"},
        OffsetCase{"PrcbOffset", offsetof(TriageDump64, PrcbOffset), 0, "the KPRCB copy would start at or past ValidOffset"},
        OffsetCase{"ProcessOffset", offsetof(TriageDump64, ProcessOffset), 0, "the EPROCESS copy would start"},
        OffsetCase{"ThreadOffset", offsetof(TriageDump64, ThreadOffset), 0, "the ETHREAD copy would start"},
        OffsetCase{"CallStackOffset", offsetof(TriageDump64, CallStackOffset), 0x100, "the stack of 0x1118 bytes"},
        OffsetCase{"DebuggerDataOffset", offsetof(TriageDump64, DebuggerDataOffset), 0x100, "the KDBG copy of 0x380 bytes"},
        OffsetCase{"StringPoolOffset", offsetof(TriageDump64, StringPoolOffset), 0x10, "the string pool of"},
        OffsetCase{"DataBlocksOffset", offsetof(TriageDump64, DataBlocksOffset), 0, "the data-block table starts past SizeOfDump"}),
    [](const ::testing::TestParamInfo<OffsetCase>& p) { return std::string(p.param.name); });

TEST(TriageMalformed, DataPageOffsetPastSizeOfDump) {
  auto spec = typical_triage_spec(true);
  spec.data_page.address = 0xffffc60000777000ull;
  spec.data_page.bytes.assign(0x100, std::byte{1});
  auto built = build_triage_dump(spec);
  const auto at = std::uint32_t(built.layout.size_of_dump - 0x80);
  built.patch(kT + offsetof(TriageDump64, DataPageOffset), at);
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("DataPageOffset (file offset 0x2068) = {:#x}", at));
  EXPECT_CONTAINS(e, "the data page of 0x100 bytes would end at");
}

TEST(TriageMalformed, DriverCountDoesNotGiveAWholeStride) {
  auto built = typical64();  // 3 entries of 0x90 = 0x1b0 bytes before the pool
  built.patch(kT + offsetof(TriageDump64, DriverCount), std::uint32_t(4));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "DriverCount (file offset 0x2034) = 0x4");
  EXPECT_CONTAINS(e, "the 0x1b0 bytes between DriverListOffset");
  EXPECT_CONTAINS(e, "whole stride of at least 0x90 bytes");
}

TEST(TriageMalformed, DriverCountWithNonDividingSpan) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, StringPoolOffset), std::uint32_t(built.layout.string_pool + 4));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "DriverCount (file offset 0x2034) = 0x3");
  EXPECT_CONTAINS(e, "the 0x1b4 bytes");
}

TEST(TriageMalformed, DriverListAfterTheStringPool) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, DriverListOffset), std::uint32_t(built.layout.string_pool + 8));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "DriverListOffset (file offset 0x2030)");
  EXPECT_CONTAINS(e, "expected the driver list before the string pool");
}

TEST(TriageMalformed, UnusualDriverStrideIsAWarning) {
  auto spec = typical_triage_spec(true);
  spec.driver_stride = 0x98;
  TempDir dir;
  auto o = open_built(dir, build_triage_dump(spec), true);
  EXPECT_TRUE(has(o->dump->warnings(), "driver entries are 0x98 bytes apart; Windows builds seen use 0x90"));
  ASSERT_EQ(o->dump->drivers().size(), 3u);
  EXPECT_EQ(o->dump->drivers()[2].name, "amdppm.sys");
}

TEST(TriageMalformed, DriverNameOffsetOutsideThePool) {
  auto built = typical64();
  const std::uint64_t entry1 = built.layout.driver_list + 0x90;
  const auto outside = std::uint32_t(built.layout.string_pool + built.layout.string_pool_size);
  built.patch(entry1, outside);
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("driver 1 DriverNameOffset (file offset {:#x}) = {:#x}", entry1, outside));
  EXPECT_CONTAINS(e, "expected a DUMP_STRING inside the string pool");
}

TEST(TriageMalformed, DumpStringLengthPastThePool) {
  auto built = typical64();
  const std::uint64_t last = built.layout.driver_strings.back();
  built.patch(last, std::uint32_t(0x1000));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("DUMP_STRING Length (file offset {:#x}) = 0x1000", last));
  EXPECT_CONTAINS(e, "driver 2's name");
  EXPECT_CONTAINS(e, "runs past the string pool end");
}

TEST(TriageMalformed, BadKdbgTagInTheCopy) {
  auto built = typical64();
  built.patch(built.layout.kdbg + 0x10, tag("KDBX"));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("KDBG copy OwnerTag (file offset {:#x})", built.layout.kdbg + 0x10));
  EXPECT_CONTAINS(e, "reads \"KDBX\", expected \"KDBG\"");
}

TEST(TriageMalformed, ImplausibleDebuggerDataSize) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, DebuggerDataSize), std::uint32_t(0x801));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "DebuggerDataSize (file offset 0x2074) = 0x801");
  EXPECT_CONTAINS(e, "0x18..0x800");
}

TEST(TriageMalformed, DataBlockOutsideSizeOfDump) {
  auto built = typical64();
  const std::uint64_t entry2 = built.layout.blocks_table + 2 * 16;
  built.patch(entry2 + 12, std::uint32_t(0x100000));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("data block 2 Offset (file offset {:#x})", entry2 + 8));
  EXPECT_CONTAINS(e, "0x100000 bytes there would end at");
  EXPECT_CONTAINS(e, "past SizeOfDump");
}

TEST(TriageMalformed, DataBlockWrapsTheAddressSpace) {
  auto built = typical64();
  const std::uint64_t entry4 = built.layout.blocks_table + 4 * 16;
  built.patch(entry4, std::uint64_t(0xFFFFFFFFFFFFFFFCull));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("data block 4 Address (file offset {:#x}) = 0xfffffffffffffffc", entry4));
  EXPECT_CONTAINS(e, "wraps the address space");
}

TEST(TriageMalformed, DataBlockCountThatCannotFit) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, DataBlocksCount), std::uint32_t(0x10000000));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, "DataBlocksCount (file offset 0x207c) = 0x10000000: only");
  EXPECT_CONTAINS(e, "entries of 16 bytes fit");
}

TEST(TriageMalformed, UnloadedDriverCountThatCannotFit) {
  auto built = typical64();
  built.patch(built.layout.unloaded, std::uint32_t(0xFFFFFFFF));
  auto e = error_of(built);
  EXPECT_CONTAINS(e, fmt::format("unloaded-driver count (file offset {:#x}) = 0xffffffff: only", built.layout.unloaded));
}

TEST(TriageMalformed, ThirtyTwoBitDataBlockWithAWideAddress) {
  auto built = build_triage_dump(typical_triage_spec(false));
  built.patch(built.layout.blocks_table, std::uint64_t(0x0000123481000000ull));
  auto e = error_of(built, false);
  EXPECT_CONTAINS(e, "data block 0 Address");
  EXPECT_CONTAINS(e, "expected a 32-bit address, zero- or sign-extended");
}

// §5.7 item 7 and other habits of Windows: warnings, not errors.

TEST(TriageWarnings, DataBlocksNotSortedNorContiguous) {
  auto built = typical64();
  // Swap the first two table entries.
  std::vector<std::byte> a(built.bytes.begin() + std::ptrdiff_t(built.layout.blocks_table),
                           built.bytes.begin() + std::ptrdiff_t(built.layout.blocks_table + 16));
  std::copy_n(built.bytes.begin() + std::ptrdiff_t(built.layout.blocks_table + 16), 16,
              built.bytes.begin() + std::ptrdiff_t(built.layout.blocks_table));
  std::copy(a.begin(), a.end(), built.bytes.begin() + std::ptrdiff_t(built.layout.blocks_table + 16));
  auto w = warnings_of(built);
  EXPECT_TRUE(has(w, "the data-block table is not sorted by file offset"));
  EXPECT_TRUE(has(w, "the data-block contents are not back to back"));
}

TEST(TriageWarnings, NonZeroPaddingBeforeTheMarker) {
  auto built = typical64();
  built.bytes[built.layout.valid_offset - 3] = std::byte{0x5A};
  auto w = warnings_of(built);
  EXPECT_TRUE(has(w, fmt::format("non-zero byte at {:#x}", built.layout.valid_offset - 3)));
}

TEST(TriageWarnings, MarkerNotLast) {
  auto spec = typical_triage_spec(true);
  spec.after_size_of_dump = std::vector<std::byte>(8);
  auto built = build_triage_dump(spec);
  built.patch(kT + offsetof(TriageDump64, SizeOfDump), std::uint32_t(built.layout.size_of_dump + 4));
  auto w = warnings_of(built);
  EXPECT_TRUE(has(w, fmt::format("ValidOffset {:#x} is not SizeOfDump - 4", built.layout.valid_offset)));
}

TEST(TriageWarnings, CopySizeDisagreesWithKdbg) {
  auto spec = typical_triage_spec(true);
  store(spec.kdbg, offsetof(KdDebuggerData64, SizeEThread), std::uint16_t(0x8a0));
  auto w = warnings_of(build_triage_dump(spec));
  EXPECT_TRUE(has(w, "the ETHREAD copy at"));
  EXPECT_TRUE(has(w, "spans 0x898 bytes up to the next section; the KDBG says 0x8a0"));
}

TEST(TriageWarnings, OverlappingDataBlocks) {
  auto spec = typical_triage_spec(true);
  auto extra = spec.blocks[2];
  extra.address += 0x10;
  extra.bytes.assign(0x20, std::byte{0x77});  // inside block 2
  spec.blocks.push_back(extra);
  TempDir dir;
  auto o = open_built(dir, build_triage_dump(spec), true);
  EXPECT_TRUE(has(o->dump->warnings(), "1 data block(s) overlap an earlier one in VA (data block 5"));
  // The lower block wins; the view still reads the original bytes at its address.
  std::vector<std::byte> got(spec.blocks[2].bytes.size());
  ASSERT_TRUE(o->view->read_virtual(spec.blocks[2].address, got));
  EXPECT_EQ(got, spec.blocks[2].bytes);
}

TEST(TriageWarnings, KernelDoesNotHoldTheModuleList) {
  auto spec = typical_triage_spec(true);
  spec.ps_loaded_module_list = 0xfffff80099000000ull;
  auto w = warnings_of(build_triage_dump(spec));
  EXPECT_TRUE(has(w, "PsLoadedModuleList 0xfffff80099000000 is not inside driver 0 (ntoskrnl.exe"));
}

TEST(TriageWarnings, BrokenDriverOffsetNotAnEntry) {
  auto built = typical64();
  built.patch(kT + offsetof(TriageDump64, BrokenDriverOffset), std::uint32_t(built.layout.driver_list + 4));
  TempDir dir;
  auto o = open_built(dir, built, true);
  EXPECT_FALSE(o->dump->broken_driver_index());
  EXPECT_TRUE(has(o->dump->warnings(), fmt::format("BrokenDriverOffset {:#x} is not an entry", built.layout.driver_list + 4)));
}
