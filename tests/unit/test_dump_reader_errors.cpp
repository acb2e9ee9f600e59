// One malformed variant per test, each with the message that names its own fault.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "dump_test_util.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/rdmp.h"

using namespace pagedump;
using namespace pagedump::test;
using testing::HasSubstr;

namespace {

Error open_bytes_error(const std::string& bytes) {
  TempDir dir;
  auto path = dir / "x.bin";
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    DumpFile::open(path.string());
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "opened";
  return Error(ErrorKind::usage, "");
}

// NumberOfRuns, the first field of the run descriptor.
template <class H>
void poke32(H& h, std::uint32_t runs) {
  std::memcpy(h.PhysicalMemoryBlock, &runs, 4);
}

template <class T>
void poke(std::vector<std::byte>& f, std::size_t at, T v) {
  std::memcpy(f.data() + at, &v, sizeof(v));
}

TEST(DumpReaderErrors, NotADumpSaysWhatTheFirstBytesWere) {
  auto e = open_bytes_error(std::string("\x7f" "ELF\x02\x01\x01\x00", 8) + std::string(0x3000, 'x'));
  EXPECT_EQ(e.kind(), ErrorKind::not_a_dump);
  EXPECT_THAT(e.what(), HasSubstr("not a kernel dump: offset 0 holds '\\x7fELF\\x02\\x01\\x01\\x00' "
                                  "where 'PAGEDU64' or 'PAGEDUMP' was expected"));
}

TEST(DumpReaderErrors, EmptyFile) {
  auto e = open_bytes_error("");
  EXPECT_EQ(e.kind(), ErrorKind::not_a_dump);
  EXPECT_THAT(e.what(), HasSubstr("not a kernel dump: the file is empty"));
}

TEST(DumpReaderErrors, PageWithAWrongSecondHalf) {
  auto e = open_bytes_error("PAGEDU32" + std::string(0x2000, '\0'));
  EXPECT_EQ(e.kind(), ErrorKind::not_a_dump);
  EXPECT_THAT(e.what(), HasSubstr("offset 0 holds 'PAGEDU32'"));
}

TEST(DumpReaderErrors, UserModeMinidump) {
  auto e = open_bytes_error("MDMP\x93\xa7\x00\x00" + std::string(0x100, '\0'));
  EXPECT_EQ(e.kind(), ErrorKind::user_mode_dump);
  EXPECT_THAT(e.what(), HasSubstr("this is a user-mode minidump; pagedump reads kernel dumps"));
}

TEST(DumpReaderErrors, UserModeUserdump64) {
  auto e = open_bytes_error("USERDU64" + std::string(0x100, '\0'));
  EXPECT_EQ(e.kind(), ErrorKind::user_mode_dump);
  EXPECT_THAT(e.what(), HasSubstr("offset 0 holds 'USERDU64': this is a user-mode dump"));
}

TEST(DumpReaderErrors, UserModeUserdump32) {
  auto e = open_bytes_error("USERDUMP" + std::string(0x100, '\0'));
  EXPECT_EQ(e.kind(), ErrorKind::user_mode_dump);
  EXPECT_THAT(e.what(), HasSubstr("offset 0 holds 'USERDUMP': this is a user-mode dump"));
}

TEST(DumpReaderErrors, FileShorterThanTheHeader64) {
  DumpSpec spec;
  spec.truncate_to = 0x1000;
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::truncated);
  EXPECT_THAT(e.what(), HasSubstr("the file is 0x1000 bytes, shorter than the 0x2000-byte PAGEDU64 header"));
}

TEST(DumpReaderErrors, FileShorterThanTheHeader32) {
  DumpSpec spec;
  spec.arch = DumpArch::x86;
  spec.truncate_to = 0x800;
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("the file is 0x800 bytes, shorter than the 0x1000-byte PAGEDUMP header"));
}

TEST(DumpReaderErrors, UnknownDumpType64) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { h.DumpType = 7; };
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_THAT(e.what(), HasSubstr("DumpType at file offset 0xf98 is 0x7 (automatic); expected 1 (full)"));
}

TEST(DumpReaderErrors, UnknownDumpType32) {
  DumpSpec spec;
  spec.arch = DumpArch::x86_pae;
  spec.edit_header32 = [](format::DumpHeader32& h) { h.DumpType = 0x11; };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("DumpType at file offset 0xf88 is 0x11 (unknown)"));
}

TEST(DumpReaderErrors, DumpTypeStillTheFill) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { h.DumpType = format::kFill32; };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("DumpType at file offset 0xf98 is the 'PAGE' fill"));
}

TEST(DumpReaderErrors, MachineOfTheOtherWidth) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { h.MachineImageType = 0x14C; };
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::inconsistent);
  EXPECT_THAT(e.what(), HasSubstr("MachineImageType at file offset 0x30 is 0x14c (x86), which does "
                                  "not go with a PAGEDU64 header"));
}

TEST(DumpReaderErrors, RunDescriptorStillTheFill) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) {
    format::fill_page_pattern(std::as_writable_bytes(std::span(h.PhysicalMemoryBlock)));
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("PhysicalMemoryBlock at file offset 0x88 holds the 'PAGE' fill"));
}

TEST(DumpReaderErrors, TooManyRuns64) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { poke32(h, 43); };
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::inconsistent);
  EXPECT_THAT(e.what(), HasSubstr("NumberOfRuns at file offset 0x88 is 43, more than the 42 runs"));
}

TEST(DumpReaderErrors, TooManyRuns32) {
  DumpSpec spec;
  spec.arch = DumpArch::arm;
  spec.edit_header32 = [](format::DumpHeader32& h) { poke32(h, 87); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("NumberOfRuns at file offset 0x64 is 87, more than the 86 runs"));
}

TEST(DumpReaderErrors, NumberOfPagesDisagreesWithRuns) {
  DumpSpec spec;
  spec.runs = {{1, 3}, {0x10, 2}};
  spec.edit_header64 = [](format::DumpHeader64& h) {
    std::uint64_t pages = 6;
    std::memcpy(h.PhysicalMemoryBlock + 8, &pages, 8);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("NumberOfPages at file offset 0x90 is 0x6 (6), but the PageCounts "
                                  "of the 2 runs sum to 0x5 (5)"));
}

TEST(DumpReaderErrors, NumberOfPagesDisagreesWithRuns32) {
  DumpSpec spec;
  spec.arch = DumpArch::x86;
  spec.runs = {{1, 3}};
  spec.edit_header32 = [](format::DumpHeader32& h) {
    std::uint32_t pages = 2;
    std::memcpy(h.PhysicalMemoryBlock + 4, &pages, 4);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("NumberOfPages at file offset 0x68 is 0x2 (2), but the PageCounts "
                                  "of the 1 runs sum to 0x3 (3)"));
}

TEST(DumpReaderErrors, RunsOutOfOrder) {
  DumpSpec spec;
  spec.runs = {{0x10, 2}, {0x1, 3}};
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("Run[1] at file offset 0xa8 (BasePage 0x1, PageCount 0x3) starts "
                                  "before the end of Run[0] (page 0x12): runs must be ascending"));
}

TEST(DumpReaderErrors, RunsOverlap) {
  DumpSpec spec;
  spec.runs = {{0x1, 4}, {0x4, 3}};
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("Run[1] at file offset 0xa8 (BasePage 0x4, PageCount 0x3) starts "
                                  "before the end of Run[0] (page 0x5)"));
}

TEST(DumpReaderErrors, RunPastTheAddressSpace) {
  DumpSpec spec;
  spec.runs = {{1, 1}};
  spec.edit_header64 = [](format::DumpHeader64& h) {
    format::PhysicalMemoryRun64 r{0xFFFFFFFFFFFFF000ull, 0x2000};
    std::memcpy(h.PhysicalMemoryBlock + 16, &r, sizeof(r));
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("Run[0] at file offset 0x98 (BasePage 0xfffffffffffff000, PageCount "
                                  "0x2000) runs past the largest physical address"));
}

TEST(DumpReaderErrors, BitmapSignatureWrong) {
  DumpSpec spec;
  spec.dump_type = 6;
  spec.bitmap_signature = format::tag("XDMP");
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::inconsistent);
  EXPECT_THAT(e.what(), HasSubstr("bitmap header at file offset 0x2000 reads 'XDMPDUMP'; expected "
                                  "'SDMPDUMP' or 'FDMPDUMP'"));
}

TEST(DumpReaderErrors, BitmapValidDumpWrong32) {
  DumpSpec spec;
  spec.arch = DumpArch::x86_pae;
  spec.dump_type = 5;
  spec.edit_file = [](std::vector<std::byte>& f) { poke<std::uint32_t>(f, 0x1004, format::tag("DUMQ")); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("bitmap header at file offset 0x1000 reads 'FDMPDUMQ'"));
}

TEST(DumpReaderErrors, SummarySignatureWrong) {
  DumpSpec spec;
  spec.dump_type = 2;
  spec.edit_file = [](std::vector<std::byte>& f) { poke<std::uint32_t>(f, 0x2000, format::tag("FDMP")); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("summary header at file offset 0x2000 reads 'FDMPDUMP'; expected 'SDMPDUMP'"));
}

TEST(DumpReaderErrors, BitmapHeaderBeyondTheEnd) {
  DumpSpec spec;
  spec.dump_type = 5;
  spec.truncate_to = 0x2010;
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::truncated);
  EXPECT_THAT(e.what(), HasSubstr("the bitmap dump header at file offset 0x2000 (0x38 bytes) is beyond "
                                  "the end of the file (size 0x2010)"));
}

TEST(DumpReaderErrors, BitmapBytesBeyondTheEnd) {
  DumpSpec spec;
  spec.dump_type = 5;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint64_t>(f, 0x2000 + offsetof(format::BitmapDumpHeader, BitmapBits), 0x1000000);
  };
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::truncated);
  EXPECT_THAT(e.what(), HasSubstr("BitmapBits at file offset 0x2030 is 0x1000000 bits: the bitmap at "
                                  "0x2038 would need"));
  EXPECT_THAT(e.what(), HasSubstr("beyond the end of the file"));
}

TEST(DumpReaderErrors, PresentPagesDisagreesWithPopcount) {
  DumpSpec spec;
  spec.dump_type = 6;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint64_t>(f, 0x2000 + offsetof(format::BitmapDumpHeader, PresentPages), 9);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("PresentPages at file offset 0x2028 is 0x9 (9), but the bitmap has "
                                  "0x5 (5) bits set"));
}

TEST(DumpReaderErrors, SummaryPagesDisagreesWithPopcount) {
  DumpSpec spec;
  spec.dump_type = 2;
  spec.arch = DumpArch::x86;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint32_t>(f, 0x1000 + offsetof(format::SummaryDump32, Pages), 1);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("Pages at file offset 0x1014 is 0x1 (1), but the bitmap has 0x5"));
}

TEST(DumpReaderErrors, FirstPageInsideTheBitmap) {
  DumpSpec spec;
  spec.dump_type = 5;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint64_t>(f, 0x2000 + offsetof(format::BitmapDumpHeader, FirstPage), 0x2039);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("FirstPage at file offset 0x2020 is 0x2039, before the end of the "
                                  "bitmap (0x2040)"));
}

TEST(DumpReaderErrors, RdmpMarkerWrong) {
  DumpSpec spec;
  spec.dump_type = 8;
  spec.edit_file = [](std::vector<std::byte>& f) { poke<std::uint32_t>(f, 0x2000, 0x41); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP header marker at file offset 0x2000 is 0x41; expected 0x40"));
}

TEST(DumpReaderErrors, RdmpSignatureWrong) {
  DumpSpec spec;
  spec.dump_type = 9;
  spec.edit_file = [](std::vector<std::byte>& f) { poke<std::uint32_t>(f, 0x2004, format::tag("SDMP")); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP header at file offset 0x2004 reads 'SDMPDUMP'; expected 'RDMPDUMP'"));
}

TEST(DumpReaderErrors, RdmpMetadataSizeDisagreesWithFirstPage) {
  DumpSpec spec;
  spec.dump_type = 0xA;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint64_t>(f, 0x2000 + offsetof(format::RdmpHeader64, MetadataSize), 0x2000);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP MetadataSize 0x2000 (file offset 0x2010) and FirstPageOffset "
                                  "0x3000 (file offset 0x2018) disagree"));
}

TEST(DumpReaderErrors, RdmpRangeListBeyondTheEnd) {
  DumpSpec spec;
  spec.dump_type = 8;
  spec.truncate_to = 0x2800;
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::truncated);
  EXPECT_THAT(e.what(), HasSubstr("the RDMP range list ends at FirstPageOffset 0x3000, beyond the end "
                                  "of the file (size 0x2800)"));
}

TEST(DumpReaderErrors, RdmpTotalPagesDisagrees) {
  DumpSpec spec;
  spec.dump_type = 0xA;
  spec.edit_file = [](std::vector<std::byte>& f) {
    poke<std::uint64_t>(f, 0x2028, 99);
  };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP TotalNumberOfPages at file offset 0x2028 is 0x63, but the "
                                  "ranges hold 0x5 pages"));
}

TEST(DumpReaderErrors, RdmpTooManyRanges) {
  DumpSpec spec;
  spec.dump_type = 0xA;
  spec.edit_file = [](std::vector<std::byte>& f) { poke<std::uint32_t>(f, 0x2020, 1000); };
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP NumberOfRanges at file offset 0x2020 is 1000, but only 253 "
                                  "ranges fit"));
}

TEST(DumpReaderErrors, RdmpRangesOverlap) {
  DumpSpec spec;
  spec.dump_type = 8;
  spec.runs = {{0x10, 4}, {0x12, 1}};
  auto e = open_error(spec);
  EXPECT_THAT(e.what(), HasSubstr("RDMP ranges overlap: PFN 0x10 (0x4 pages) and PFN 0x12 (0x1 pages)"));
}

TEST(DumpReaderErrors, RdmpIn32BitFile) {
  DumpSpec spec;
  spec.arch = DumpArch::x86;
  spec.dump_type = 8;
  auto e = open_error(spec);
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_THAT(e.what(), HasSubstr("DumpType 0x8 (RDMP range dump) in a 32-bit PAGEDUMP file"));
}

TEST(DumpReaderErrors, MessagesNameTheFile) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { h.DumpType = 0; };
  TempDir dir;
  auto path = dir / "named.dmp";
  write_dump(path, spec);
  try {
    DumpFile::open(path.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": ", 0), 0u) << e.what();
  }
}

}  // namespace
