// Dumps of every type and architecture, built by tests/builders/dump, read back field by
// field and byte by byte.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "dump_test_util.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/context.h"
#include "pagedump/format/rdmp.h"

using namespace pagedump;
using namespace pagedump::test;

namespace {

// Reads page `pfn` of the dump whole and checks it holds the bytes the builder wrote there.
void expect_built_page(const DumpFile& dump, std::uint64_t pfn) {
  std::vector<std::byte> page(kPageSize), want(kPageSize);
  fill_page(pfn, want);
  ASSERT_TRUE(dump.read_physical(pfn * kPageSize, page)) << std::hex << pfn;
  ASSERT_EQ(page, want) << std::hex << pfn;
}

const char* arch_label(DumpArch a) {
  switch (a) {
    case DumpArch::x64: return "x64";
    case DumpArch::arm64: return "arm64";
    case DumpArch::x86_pae: return "x86pae";
    case DumpArch::x86: return "x86";
    case DumpArch::arm: return "arm";
  }
  return "?";
}

const char* expected_arch_name(DumpArch a) {
  switch (a) {
    case DumpArch::x64: return "x64";
    case DumpArch::arm64: return "arm64";
    case DumpArch::x86_pae:
    case DumpArch::x86: return "x86";
    case DumpArch::arm: return "arm";
  }
  return "?";
}

// Runs that straddle bitmap bytes and the 32768-PFN rank chunk (0x8000).
const std::vector<PfnRun> kRuns = {{0x1, 0x3}, {0x10, 0x2}, {0x41, 0x1}, {0x7ffe, 0x4}};

std::uint64_t reg(const format::NamedRegisters& regs, const std::string& name) {
  for (const auto& [n, v] : regs) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no register " << name;
  return 0;
}

struct Case {
  DumpArch arch;
  std::uint32_t type;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << arch_label(c.arch) << " DumpType " << c.type;
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return std::string(arch_label(info.param.arch)) + "_type" + std::to_string(info.param.type);
}

class DumpRoundTrip : public testing::TestWithParam<Case> {};

void check_header(const DumpFile& d, DumpArch arch, std::uint32_t type) {
  const auto& h = d.header();
  const bool is64 = is_64bit(arch);
  EXPECT_EQ(h.is64, is64);
  EXPECT_EQ(h.format(), is64 ? "PAGEDU64" : "PAGEDUMP");
  EXPECT_EQ(h.dump_type, type);
  EXPECT_EQ(h.machine_image_type, machine_of(arch));
  EXPECT_EQ(h.architecture(), expected_arch_name(arch));
  EXPECT_EQ(h.major_version, built::kMajorVersion);
  EXPECT_EQ(h.minor_version, built::kMinorVersion);
  EXPECT_EQ(h.number_processors, built::kNumberProcessors);
  EXPECT_EQ(h.bugcheck_code, built::kBugCheckCode);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.bugcheck_parameters[i], built::kBugCheckParameter[i]);
  EXPECT_EQ(h.system_time, built::kSystemTime);
  EXPECT_EQ(h.system_up_time, built::kSystemUpTime);
  EXPECT_EQ(h.product_type, built::kProductType);
  EXPECT_EQ(h.suite_mask, built::kSuiteMask);
  EXPECT_EQ(h.attributes, built::kAttributes);
  EXPECT_EQ(h.writer_status, 0u);
  EXPECT_EQ(h.comment, std::string(built::kComment));
  // Left as the "PAGE" fill by the builder, as Windows does: not set.
  EXPECT_EQ(h.mini_dump_fields, std::nullopt);
  EXPECT_EQ(h.secondary_data_state, std::nullopt);
  EXPECT_EQ(h.kd_secondary_version, std::nullopt);
  EXPECT_EQ(h.boot_id, std::nullopt);
  EXPECT_EQ(h.required_dump_space, d.file_size());
  if (is64) {
    EXPECT_EQ(h.directory_table_base, built::kDirectoryTableBase64);
    EXPECT_EQ(h.pfn_database, built::kPfnDataBase64);
    EXPECT_EQ(h.ps_loaded_module_list, built::kPsLoadedModuleList64);
    EXPECT_EQ(h.ps_active_process_head, built::kPsActiveProcessHead64);
    EXPECT_EQ(h.kd_debugger_data_block, built::kKdDebuggerDataBlock64);
    EXPECT_EQ(h.pae_enabled, std::nullopt);
    EXPECT_EQ(d.header_bytes().size(), 0x2000u);
    EXPECT_EQ(d.header64().MinorVersion, built::kMinorVersion);
    EXPECT_THROW(d.header32(), Error);
  } else {
    EXPECT_EQ(h.directory_table_base, built::kDirectoryTableBase32);
    EXPECT_EQ(h.pfn_database, built::kPfnDataBase32);
    EXPECT_EQ(h.ps_loaded_module_list, built::kPsLoadedModuleList32);
    EXPECT_EQ(h.ps_active_process_head, built::kPsActiveProcessHead32);
    EXPECT_EQ(h.kd_debugger_data_block, built::kKdDebuggerDataBlock32);
    EXPECT_EQ(h.pae_enabled, arch == DumpArch::x86_pae);
    EXPECT_EQ(d.header_bytes().size(), 0x1000u);
    EXPECT_EQ(d.header32().MinorVersion, built::kMinorVersion);
    EXPECT_THROW(d.header64(), Error);
  }

  const auto& e = d.exception();
  EXPECT_EQ(e.code, built::kExceptionCode);
  EXPECT_EQ(e.flags, 1u);
  EXPECT_EQ(e.number_parameters, 1u);
  EXPECT_EQ(e.parameters, std::vector<std::uint64_t>{0});

  auto regs = d.context_registers();
  switch (arch) {
    case DumpArch::x64:
      EXPECT_EQ(regs.size(), 32u);
      EXPECT_EQ(reg(regs, "rip"), built::kPc64);
      EXPECT_EQ(reg(regs, "rsp"), built::kSp64);
      EXPECT_EQ(reg(regs, "rax"), built::kReg0_64);
      EXPECT_EQ(reg(regs, "r15"), 0x100fu);
      EXPECT_EQ(reg(regs, "cs"), 0x10u);
      EXPECT_EQ(reg(regs, "mxcsr"), 0x1f80u);
      EXPECT_EQ(reg(regs, "context_flags"), 0x10001fu);
      EXPECT_EQ(e.address, built::kPc64);
      break;
    case DumpArch::arm64:
      EXPECT_EQ(regs.size(), 37u);
      EXPECT_EQ(reg(regs, "pc"), built::kPc64);
      EXPECT_EQ(reg(regs, "sp"), built::kSp64);
      EXPECT_EQ(reg(regs, "x0"), built::kReg0_64);
      EXPECT_EQ(reg(regs, "x28"), 0x101cu);
      EXPECT_EQ(reg(regs, "fp"), 0x101du);
      EXPECT_EQ(reg(regs, "lr"), 0x101eu);
      EXPECT_EQ(reg(regs, "cpsr"), 0x60000005u);
      EXPECT_EQ(reg(regs, "fpcr"), 0x3000000u);
      EXPECT_EQ(reg(regs, "fpsr"), 0x10u);
      EXPECT_EQ(reg(regs, "context_flags"), 0x400007u);
      EXPECT_EQ(e.address, built::kPc64);
      break;
    case DumpArch::x86_pae:
    case DumpArch::x86:
      EXPECT_EQ(regs.size(), 23u);
      EXPECT_EQ(reg(regs, "eip"), built::kPc32);
      EXPECT_EQ(reg(regs, "esp"), built::kSp32);
      EXPECT_EQ(reg(regs, "eax"), built::kReg0_32);
      EXPECT_EQ(reg(regs, "edi"), 0x1007u);
      EXPECT_EQ(reg(regs, "eflags"), 0x246u);
      EXPECT_EQ(reg(regs, "cs"), 0x8u);
      EXPECT_EQ(reg(regs, "fs"), 0x30u);
      EXPECT_EQ(reg(regs, "context_flags"), 0x10007u);
      EXPECT_EQ(e.address, built::kPc32);
      break;
    case DumpArch::arm:
      EXPECT_EQ(regs.size(), 19u);
      EXPECT_EQ(reg(regs, "pc"), built::kPc32);
      EXPECT_EQ(reg(regs, "sp"), built::kSp32);
      EXPECT_EQ(reg(regs, "r0"), built::kReg0_32);
      EXPECT_EQ(reg(regs, "r12"), 0x100cu);
      EXPECT_EQ(reg(regs, "lr"), 0x80d10001u);
      EXPECT_EQ(reg(regs, "cpsr"), 0x60000033u);
      EXPECT_EQ(reg(regs, "fpscr"), 0x3000000u);
      EXPECT_EQ(reg(regs, "context_flags"), 0x200007u);
      EXPECT_EQ(e.address, built::kPc32);
      break;
  }
}

// Every stored page reads back exactly; every other page in [0, 0x8010) is not present.
void check_pages(const DumpFile& d, const std::vector<PfnRun>& runs) {
  std::vector<std::byte> page(kPageSize), want(kPageSize);
  std::uint64_t stored = 0;
  for (const auto& r : runs) {
    for (std::uint64_t p = r.base_page; p < r.base_page + r.page_count; ++p, ++stored) {
      ASSERT_TRUE(d.read_physical(p * kPageSize, page)) << "pfn " << p;
      fill_page(p, want);
      ASSERT_EQ(page, want) << "pfn " << p;
    }
  }
  EXPECT_EQ(d.stored_pages(), stored);
  auto is_stored = [&](std::uint64_t p) {
    for (const auto& r : runs) {
      if (p >= r.base_page && p < r.base_page + r.page_count) return true;
    }
    return false;
  };
  for (std::uint64_t p = 0; p < 0x8010; ++p) {
    if (is_stored(p)) continue;
    std::byte b[1];
    ReadResult res = d.read_physical(p * kPageSize + 5, b);
    ASSERT_EQ(res.status, ReadStatus::not_present) << "pfn " << p;
    ASSERT_EQ(res.address, p * kPageSize + 5);
  }
  // A read that runs off a run stops at the first absent byte.
  std::vector<std::byte> two(0x20);
  ReadResult res = d.read_physical(0x4000 - 0x10, two);
  EXPECT_EQ(res.status, ReadStatus::not_present);
  EXPECT_EQ(res.address, 0x4000u);
  // A read spanning two stored pages (PFN 1 -> 2) is whole.
  ASSERT_TRUE(d.read_physical(0x2000 - 4, std::span(two).first(8)));
  EXPECT_EQ(two[0], page_byte(1, 0xffc));
  EXPECT_EQ(two[4], page_byte(2, 0));
  EXPECT_EQ(two[5], page_byte(2, 1));

  std::vector<PhysicalRange> want_ranges;
  for (const auto& r : runs) want_ranges.push_back({r.base_page * kPageSize, r.page_count * kPageSize});
  auto got = d.ranges();
  EXPECT_EQ(std::vector<PhysicalRange>(got.begin(), got.end()), want_ranges);
  EXPECT_EQ(d.truncated(), std::nullopt);
}

TEST_P(DumpRoundTrip, HeaderContextExceptionAndEveryByte) {
  const auto [arch, type] = GetParam();
  DumpSpec spec;
  spec.arch = arch;
  spec.dump_type = type;
  spec.runs = kRuns;
  auto o = build_and_open(spec);
  const DumpFile& d = *o.dump;
  check_header(d, arch, type);
  switch (type) {
    case 1:
      EXPECT_EQ(d.layout(), MemoryLayout::runs);
      EXPECT_EQ(d.number_of_runs(), 4u);
      EXPECT_EQ(d.number_of_pages(), 10u);
      ASSERT_EQ(d.runs().size(), 4u);
      EXPECT_EQ(d.runs()[1].base_page, 0x10u);
      EXPECT_EQ(d.runs()[1].page_count, 2u);
      EXPECT_EQ(d.runs()[1].file_offset, o.built.header_size + 3 * kPageSize);
      EXPECT_EQ(d.runs()[3].file_offset, o.built.header_size + 6 * kPageSize);
      EXPECT_EQ(d.page_file_offset(0x7fff), o.built.header_size + 7 * kPageSize);
      break;
    case 2:
    case 5:
    case 6: {
      EXPECT_EQ(d.layout(), MemoryLayout::bitmap);
      ASSERT_TRUE(d.bitmap());
      const auto& b = *d.bitmap();
      EXPECT_EQ(b.legacy_summary, type == 2);
      EXPECT_EQ(b.signature, type == 5 ? format::kFullDumpSignature : format::kSummaryDumpSignature);
      EXPECT_EQ(b.bitmap_bits, 0x8040u);
      EXPECT_EQ(b.present_pages, 10u);
      EXPECT_EQ(b.bits_offset, o.built.bitmap_offset);
      EXPECT_EQ(b.first_page_offset, o.built.first_page_offset);
      EXPECT_EQ(d.page_file_offset(0x10), o.built.first_page_offset + 3 * kPageSize);
      EXPECT_EQ(d.page_file_offset(0x8001), o.built.first_page_offset + 9 * kPageSize);
      EXPECT_EQ(d.page_file_offset(0x8002), std::nullopt);
      break;
    }
    case 8:
    case 9:
    case 0xA:
      EXPECT_EQ(d.layout(), MemoryLayout::ranges);
      ASSERT_TRUE(d.rdmp());
      EXPECT_EQ(d.rdmp()->number_of_ranges, 4u);
      EXPECT_EQ(d.rdmp()->total_pages, 10u);
      EXPECT_EQ(d.rdmp()->first_page_offset, 0x3000u);
      EXPECT_EQ(d.rdmp()->metadata_size, 0x3000u - 0x2020u);
      EXPECT_EQ(d.page_file_offset(0x41), 0x3000u + 5 * kPageSize);
      break;
  }
  check_pages(d, kRuns);
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (auto arch : {DumpArch::x64, DumpArch::arm64, DumpArch::x86_pae, DumpArch::x86, DumpArch::arm}) {
    for (std::uint32_t type : {1u, 2u, 5u, 6u, 8u, 9u, 0xAu}) {
      if (!is_64bit(arch) && type >= 8) continue;  // RDMP dumps exist only as PAGEDU64
      out.push_back({arch, type});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DumpRoundTrip, testing::ValuesIn(all_cases()), case_name);

class HeaderOnly : public testing::TestWithParam<Case> {};

TEST_P(HeaderOnly, HasHeaderButNoMemory) {
  const auto [arch, type] = GetParam();
  DumpSpec spec;
  spec.arch = arch;
  spec.dump_type = type;
  auto o = build_and_open(spec);
  const DumpFile& d = *o.dump;
  check_header(d, arch, type);
  EXPECT_EQ(d.layout(), MemoryLayout::none);
  EXPECT_TRUE(d.ranges().empty());
  EXPECT_EQ(d.stored_pages(), 0u);
  EXPECT_EQ(d.truncated(), std::nullopt);
  std::byte b[4];
  ReadResult r = d.read_physical(0x1000, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0x1000u);
}

std::vector<Case> header_cases() {
  std::vector<Case> out;
  for (auto arch : {DumpArch::x64, DumpArch::arm64, DumpArch::x86_pae, DumpArch::x86, DumpArch::arm}) {
    out.push_back({arch, 3});
    out.push_back({arch, 4});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Types3And4, HeaderOnly, testing::ValuesIn(header_cases()), case_name);

TEST(DumpReader, FillValuedFieldsAreNotSet) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) {
    h.PfnDataBase = format::kFill64;
    h.NumberProcessors = format::kFill32;
    h.BugCheckParameter[2] = format::kFill64;
    std::memcpy(h.Comment, "PAGEPAGE", 8);
    h.Exception.NumberParameters = format::kFill32;
  };
  auto o = build_and_open(spec);
  const auto& h = o.dump->header();
  EXPECT_EQ(h.pfn_database, std::nullopt);
  EXPECT_EQ(h.number_processors, std::nullopt);
  EXPECT_EQ(h.bugcheck_parameters[1], 0x22u);
  EXPECT_EQ(h.bugcheck_parameters[2], std::nullopt);
  EXPECT_EQ(h.comment, std::nullopt);
  EXPECT_EQ(o.dump->exception().number_parameters, std::nullopt);
  EXPECT_TRUE(o.dump->exception().parameters.empty());
}

TEST(DumpReader, CommentBytesThatAreNotTextAreEscaped) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) {
    std::memset(h.Comment, 0, sizeof(h.Comment));
    std::memcpy(h.Comment, "ab\x01\xff", 4);
  };
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->header().comment, std::string("ab\\x01\\xff"));
}

TEST(DumpReader, UnknownMachineOpensWithoutDecodedContext) {
  DumpSpec spec;
  spec.edit_header64 = [](format::DumpHeader64& h) { h.MachineImageType = 0x1234; };
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->header().architecture(), "unknown");
  EXPECT_EQ(o.dump->context_arch(), std::nullopt);
  EXPECT_TRUE(o.dump->context_registers().empty());
  EXPECT_EQ(o.dump->context_bytes().size(), 3000u);
}

TEST(DumpReader, FormatNamesSayTheType) {
  DumpSpec spec;
  spec.dump_type = 6;
  EXPECT_EQ(build_and_open(spec).dump->format_name(), "dump-bitmap-kernel");
  spec.dump_type = 1;
  EXPECT_EQ(build_and_open(spec).dump->format_name(), "dump-full");
}

TEST(DumpReader, BitmapSignatureIsNotTiedToTheType) {
  // Readers accept either signature for 5 and 6 (reference §4.1), and so does pagedump.
  DumpSpec spec;
  spec.dump_type = 5;
  spec.bitmap_signature = format::kSummaryDumpSignature;
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->bitmap()->signature, format::kSummaryDumpSignature);
  EXPECT_EQ(o.dump->stored_pages(), 5u);
}

TEST(DumpReader, BitmapWithBitsPastBitmapBitsIgnoresThem) {
  // BitmapBits 0x14 (not a multiple of 8): bits 0x14..0x17 of the last byte describe nothing.
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 0x2}, {0x12, 0x2}};
  spec.bitmap_bits = 0x14;
  spec.edit_file = [](std::vector<std::byte>& f) { f[0x2038 + 2] |= std::byte(0xF0); };
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->stored_pages(), 4u);
  EXPECT_EQ(o.dump->page_file_offset(0x13), o.built.first_page_offset + 3 * kPageSize);
  EXPECT_EQ(o.dump->page_file_offset(0x14), std::nullopt);
  EXPECT_EQ(o.dump->page_file_offset(0x17), std::nullopt);
}

TEST(DumpReader, TruncatedFullDumpOpensAndSaysWhereDataStops) {
  DumpSpec spec;
  spec.runs = {{0x2, 0x2}, {0x10, 0x3}};
  spec.truncate_to = 0x2000 + 3 * 0x1000 + 0x800;  // 3.5 pages of 5
  auto o = build_and_open(spec);
  const DumpFile& d = *o.dump;
  ASSERT_TRUE(d.truncated());
  EXPECT_EQ(d.truncated()->file_size, 0x5800u);
  EXPECT_EQ(d.truncated()->expected_size, 0x7000u);
  EXPECT_EQ(d.truncated()->pages_in_file, 3u);
  EXPECT_EQ(d.truncated()->first_missing_page, 0x11u);
  EXPECT_EQ(d.truncated()->first_missing_offset, 0x5000u);

  std::vector<std::byte> page(kPageSize), want(kPageSize);
  ASSERT_TRUE(d.read_physical(0x10000, page));
  fill_page(0x10, want);
  EXPECT_EQ(page, want);
  // Half of PFN 0x11 is in the file: the read fails at the first missing byte.
  ReadResult r = d.read_physical(0x11000, page);
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.address, 0x11800u);
  EXPECT_EQ(r.file_offset, 0x5800u);
  // The bytes before the cut are there.
  ASSERT_TRUE(d.read_physical(0x11000, std::span(page).first(0x800)));
  EXPECT_EQ(page[0x7ff], page_byte(0x11, 0x7ff));
  r = d.read_physical(0x12000, page);
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.address, 0x12000u);
  EXPECT_EQ(r.file_offset, 0x6000u);
  EXPECT_EQ(describe_dump_read(d, r),
            "physical address 0x12000 is at file offset 0x6000, beyond the end of the file (size "
            "0x5800): the dump is truncated");
}

TEST(DumpReader, TruncatedBitmapDumpFindsTheMissingPfnAcrossChunks) {
  DumpSpec spec;
  spec.dump_type = 6;
  spec.runs = {{0x3, 0x2}, {0x9000, 0x2}};  // the second run is in rank chunk 1
  auto full = build_dump(spec);
  spec.truncate_to = full.first_page_offset + 3 * kPageSize;
  auto o = build_and_open(spec);
  ASSERT_TRUE(o.dump->truncated());
  EXPECT_EQ(o.dump->truncated()->pages_in_file, 3u);
  EXPECT_EQ(o.dump->truncated()->first_missing_page, 0x9001u);
  EXPECT_EQ(o.dump->truncated()->first_missing_offset, full.first_page_offset + 3 * kPageSize);
  std::byte b[1];
  EXPECT_TRUE(o.dump->read_physical(0x9000ull * kPageSize, b));
  EXPECT_EQ(b[0], page_byte(0x9000, 0));
  EXPECT_EQ(o.dump->read_physical(0x9001ull * kPageSize, b).status, ReadStatus::truncated);
}

TEST(DumpReader, AbsentPagesAreDescribedAsAbsentNotZero) {
  DumpSpec spec;
  auto o = build_and_open(spec);
  std::byte b[1];
  ReadResult r = o.dump->read_physical(0x5000, b);
  EXPECT_EQ(describe_dump_read(*o.dump, r),
            "physical address 0x5000 is not in the dump: page 0x5 is not stored in this full dump "
            "(absent is not zero)");
  EXPECT_THROW(o.dump->read_physical_or_throw(0x5000, b), Error);
}

TEST(DumpReader, ReadAtTheTopOfTheAddressSpaceDoesNotWrap) {
  DumpSpec spec;
  auto o = build_and_open(spec);
  std::byte b[16];
  ReadResult r = o.dump->read_physical(~std::uint64_t(0) - 7, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
}

TEST(DumpReader, RunsAtCapacityAreAccepted) {
  DumpSpec spec;
  spec.runs.clear();
  for (std::uint64_t i = 0; i < 42; ++i) spec.runs.push_back({i * 2, 1});
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->number_of_runs(), 42u);
  std::byte b[1];
  ASSERT_TRUE(o.dump->read_physical(82 * kPageSize + 9, b));
  EXPECT_EQ(b[0], page_byte(82, 9));
  spec.arch = DumpArch::x86;
  spec.runs.clear();
  for (std::uint64_t i = 0; i < 86; ++i) spec.runs.push_back({i * 2, 1});
  EXPECT_EQ(build_and_open(spec).dump->number_of_runs(), 86u);
}

TEST(DumpReader, ConcurrentReadersSeeTheSameBytes) {
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 0x40}, {0x9000, 0x40}};
  auto o = build_and_open(spec);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::byte b[8];
      for (int i = 0; i < 200; ++i) {
        std::uint64_t pfn = (i + t) % 2 ? 0x1 + (i % 0x40) : 0x9000 + (i % 0x40);
        if (!o.dump->read_physical(pfn * kPageSize, b) || b[0] != page_byte(pfn, 0) ||
            b[1] != page_byte(pfn, 1)) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(DumpReader, ConcurrentReadersThroughASmallCacheSeeEveryByte) {
  // 64 KiB of cache (two sets of eight pages) for 0x80 pages: every read may evict another
  // thread's page while it is being looked up.
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 0x40}, {0x9000, 0x40}};
  auto o = build_and_open(spec, 64 * 1024);
  const DumpFile* dump = o.dump.get();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> page(kPageSize), want(kPageSize);
      for (int i = 0; i < 300; ++i) {
        const std::uint64_t k = (std::uint64_t(i) * 7 + std::uint64_t(t) * 13) % 0x80;
        const std::uint64_t pfn = k < 0x40 ? 0x1 + k : 0x9000 + (k - 0x40);
        fill_page(pfn, want);
        if (!dump->read_physical(pfn * kPageSize, page) || page != want) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(DumpReader, PagesSpreadOverEverySetKeepTheirOwnBytes) {
  // 128 KiB of cache: four sets of eight ways (the other cache tests have one or two sets),
  // each way given the next unused 4 KiB the first time it holds a page. A first pass fills
  // the sets unevenly (pages 1 to 0x13 land five or four to a set), then every page of the
  // dump is read three times over, evicting as it goes, with reads of absent pages between
  // (which take no way): a way that shared another's
  // memory would return another page's bytes, and one given memory beyond the capacity
  // writes out of bounds (the sanitizer build).
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 0x60}, {0x8000, 0x60}};
  auto o = build_and_open(spec, 128 * 1024);
  const DumpFile* dump = o.dump.get();
  std::vector<std::byte> page(kPageSize);
  auto check = [&](std::uint64_t pfn) { expect_built_page(*dump, pfn); };
  for (std::uint64_t pfn = 0x1; pfn < 0x14; ++pfn) check(pfn);
  for (int pass = 0; pass < 3; ++pass) {
    for (std::uint64_t k = 0; k < 0xc0; ++k) {
      check(k < 0x60 ? 0x1 + k : 0x8000 + (k - 0x60));
      const std::uint64_t absent = 0x100 + k;
      EXPECT_EQ(dump->read_physical(absent * kPageSize, page).status, ReadStatus::not_present);
    }
    for (std::uint64_t pfn = 0x1; pfn < 0x14; ++pfn) check(pfn);  // hits and misses mixed
  }
}

TEST(DumpReader, LargeReadsGoToTheFileAndSmallOnesComeFromTheCache) {
  // One set of eight pages: the least recently used page is the one replaced, and a page
  // in the cache is served from it even when the file has changed since (as a page cache
  // does); reads of 64 KiB or more always read the file.
  DumpSpec spec;
  spec.runs = {{0x10, 0x20}};
  auto o = build_and_open(spec, 8 * kPageSize);
  const auto& path = o.path;
  const auto& built = o.built;
  const DumpFile* dump = o.dump.get();
  std::vector<std::byte> page(kPageSize), want(kPageSize);
  auto first_byte = [&](std::uint64_t pfn) {
    std::byte b[1];
    EXPECT_TRUE(dump->read_physical(pfn * kPageSize, b));
    return b[0];
  };
  for (std::uint64_t pfn = 0x10; pfn < 0x18; ++pfn) first_byte(pfn);  // fills the set
  first_byte(0x10);                                                    // 0x11 is now the oldest
  first_byte(0x18);                                                    // and makes way for 0x18
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    for (std::uint64_t k = 0; k < 0x20; ++k) {
      f.seekp(static_cast<std::streamoff>(built.first_page_offset + k * kPageSize));
      f.put('\x5a');
    }
  }
  EXPECT_EQ(first_byte(0x10), page_byte(0x10, 0));  // cached
  EXPECT_EQ(first_byte(0x18), page_byte(0x18, 0));  // cached
  EXPECT_EQ(first_byte(0x11), std::byte{0x5a});      // evicted, read again
  std::vector<std::byte> all(0x20 * kPageSize);
  ASSERT_TRUE(dump->read_physical(0x10 * kPageSize, all));
  for (std::uint64_t k = 0; k < 0x20; ++k) EXPECT_EQ(all[k * kPageSize], std::byte{0x5a}) << k;
  EXPECT_EQ(all[0x1001], page_byte(0x11, 1));
  // Without a cache every read sees the file.
  auto uncached = DumpFile::open(path.string(), 0);
  std::byte b[2];
  ASSERT_TRUE(uncached->read_physical(0x10 * kPageSize + 0xfff, b));
  EXPECT_EQ(b[0], page_byte(0x10, 0xfff));
  EXPECT_EQ(b[1], std::byte{0x5a});
}

TEST(DumpReader, ReadingAnAbsentPageEvictsNoCachedPage) {
  // One set of eight pages, full. Reads of pages the dump does not hold, and of a page that
  // lies past the end of the truncated file, must leave the eight cached: a debugger probing
  // absent addresses would otherwise empty the cache of what it reads most. The file is then
  // changed under the reader, so a page served from the cache shows the old bytes and one
  // read again shows the new.
  DumpSpec spec;
  spec.runs = {{0x10, 0x20}};
  auto o = build_and_open(spec, 0);
  // The run's last page, 0x2f, is cut in half.
  std::filesystem::resize_file(o.path, o.built.first_page_offset + 0x1f * kPageSize + 0x800);
  auto dump = DumpFile::open(o.path.string(), 8 * kPageSize);
  ASSERT_TRUE(dump->truncated());
  auto first_byte = [&](std::uint64_t pfn) {
    std::byte b[1];
    EXPECT_TRUE(dump->read_physical(pfn * kPageSize, b)) << std::hex << pfn;
    return b[0];
  };
  for (std::uint64_t pfn = 0x10; pfn < 0x18; ++pfn) first_byte(pfn);
  std::byte b[1];
  for (std::uint64_t pfn : {0x0ull, 0x8ull, 0x30ull, 0x1000ull, 0x123456ull}) {
    EXPECT_EQ(dump->read_physical(pfn * kPageSize, b).status, ReadStatus::not_present) << pfn;
  }
  // Its first half is read from the file, its second half is not there; neither is cached.
  EXPECT_TRUE(dump->read_physical(0x2f * kPageSize + 0x7ff, b));
  EXPECT_EQ(b[0], page_byte(0x2f, 0x7ff));
  EXPECT_EQ(dump->read_physical(0x2f * kPageSize + 0x800, b).status, ReadStatus::truncated);
  {
    std::fstream f(o.path, std::ios::in | std::ios::out | std::ios::binary);
    for (std::uint64_t k = 0; k < 0x9; ++k) {
      f.seekp(static_cast<std::streamoff>(o.built.first_page_offset + k * kPageSize));
      f.put('\x5a');
    }
  }
  for (std::uint64_t pfn = 0x10; pfn < 0x18; ++pfn) {
    EXPECT_EQ(first_byte(pfn), page_byte(pfn, 0)) << std::hex << pfn << " was evicted";
  }
  EXPECT_EQ(first_byte(0x18), std::byte{0x5a});  // a miss: read from the changed file,
  EXPECT_EQ(first_byte(0x10), std::byte{0x5a});  // in the place of 0x10, the oldest
}

TEST(DumpReader, APageWhoseReadFailsIsNotCachedAndItsWayServesTheNext) {
  // The file shrinks after it was opened: the read of a page that is no longer there fails
  // and empties the way it was to take (its slot had the evicted page's bytes), and the next
  // page read takes that way and its memory.
  DumpSpec spec;
  spec.runs = {{0x10, 0x20}};
  auto o = build_and_open(spec, 8 * kPageSize);
  const DumpFile* dump = o.dump.get();
  auto check = [&](std::uint64_t pfn) { expect_built_page(*dump, pfn); };
  std::vector<std::byte> page(kPageSize);
  for (std::uint64_t pfn = 0x10; pfn < 0x18; ++pfn) check(pfn);
  std::filesystem::resize_file(o.path, o.built.first_page_offset + 0x1c * kPageSize);
  EXPECT_EQ(dump->read_physical(0x2c * kPageSize, page).status, ReadStatus::truncated);
  EXPECT_EQ(dump->read_physical(0x2c * kPageSize, page).status, ReadStatus::truncated);
  for (std::uint64_t pfn = 0x18; pfn < 0x2c; ++pfn) check(pfn);  // evicting all the way round
  for (std::uint64_t pfn = 0x24; pfn < 0x2c; ++pfn) check(pfn);  // the last eight: hits
}

TEST(DumpReader, ReadsAcrossPagesAgreeWhicheverPathServesThem) {
  // Unaligned reads that cross pages, through the cache (under 64 KiB) and in one file read
  // (64 KiB and more, pages contiguous in the file), in a bitmap dump with a gap.
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 0x30}, {0x40, 0x30}};
  auto o = build_and_open(spec);
  auto expect_bytes = [&](std::uint64_t pa, std::size_t n) {
    std::vector<std::byte> got(n);
    ASSERT_TRUE(o.dump->read_physical(pa, got)) << std::hex << pa;
    for (std::size_t i = 0; i < n; i += 0x3f1) {
      ASSERT_EQ(got[i], page_byte((pa + i) / kPageSize, (pa + i) % kPageSize)) << std::hex << pa + i;
    }
    ASSERT_EQ(got[n - 1], page_byte((pa + n - 1) / kPageSize, (pa + n - 1) % kPageSize));
  };
  expect_bytes(0x1ff0, 0x20);
  expect_bytes(0x2800, 3 * kPageSize);
  expect_bytes(0x1000 + 0x123, 0x2f * kPageSize - 0x200);
  expect_bytes(0x40000, 0x30 * kPageSize);
  // Across the gap the large read fails at the first absent page, after reading up to it.
  std::vector<std::byte> big(0x20 * kPageSize);
  ReadResult r = o.dump->read_physical(0x20000, big);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0x31000u);
  EXPECT_EQ(big[0x10ffe], page_byte(0x30, 0xffe));
}

TEST(DumpReader, LargeReadOfATruncatedDumpStopsAtTheFirstMissingByte) {
  DumpSpec spec;
  spec.runs = {{0x2, 0x20}};
  spec.truncate_to = 0x2000 + 0x10 * 0x1000 + 0x800;
  auto o = build_and_open(spec);
  std::vector<std::byte> all(0x20 * kPageSize);
  ReadResult r = o.dump->read_physical(0x2000, all);
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.address, 0x12800u);
  EXPECT_EQ(r.file_offset, 0x12800u);
  EXPECT_EQ(all[0x107ff], page_byte(0x12, 0x7ff));
}

TEST(DumpReader, SparseBitmapAcrossManyRankChunks) {
  // 2^24 PFNs (a 64 GiB machine): a 2 MiB bitmap, 512 rank chunks, three stored pages.
  DumpSpec spec;
  spec.dump_type = 6;
  spec.runs = {{0x5, 1}, {0x800000, 1}, {0xFFFFFF, 1}};
  spec.bitmap_bits = 0x1000000;
  auto o = build_and_open(spec);
  const DumpFile& d = *o.dump;
  EXPECT_EQ(d.stored_pages(), 3u);
  EXPECT_EQ(d.page_file_offset(0x800000), o.built.first_page_offset + kPageSize);
  EXPECT_EQ(d.page_file_offset(0xFFFFFF), o.built.first_page_offset + 2 * kPageSize);
  EXPECT_EQ(d.page_file_offset(0xFFFFFE), std::nullopt);
  EXPECT_EQ(d.page_file_offset(0x1000000), std::nullopt);
  std::byte b[2];
  ASSERT_TRUE(d.read_physical(0xFFFFFFull * kPageSize + 0xffe, b));
  EXPECT_EQ(b[0], page_byte(0xFFFFFF, 0xffe));
  EXPECT_EQ(b[1], page_byte(0xFFFFFF, 0xfff));
  auto r = d.ranges();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1], (PhysicalRange{0x800000ull * kPageSize, kPageSize}));
}

TEST(DumpReader, BitmapRangesMergeAdjacentPages) {
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x3e, 0x4}, {0x50, 1}};  // 0x3e..0x41 crosses a byte and a 64-bit word
  auto o = build_and_open(spec);
  auto r = o.dump->ranges();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (PhysicalRange{0x3e000, 0x4000}));
  EXPECT_EQ(r[1], (PhysicalRange{0x50000, 0x1000}));
  EXPECT_EQ(o.dump->total_bytes(), 0x5000u);
}

TEST(DumpReader, RdmpKernelListEndsAtAZeroPfn) {
  DumpSpec spec;
  spec.dump_type = 8;
  spec.runs = {{0x1, 2}, {0x20, 1}};
  // After the terminator, bytes that would be a third range must be ignored.
  spec.edit_file = [](std::vector<std::byte>& f) {
    format::RdmpRange junk{0x40, 5};
    std::memcpy(f.data() + 0x2030 + 3 * sizeof(junk), &junk, sizeof(junk));
  };
  auto o = build_and_open(spec);
  EXPECT_EQ(o.dump->rdmp()->number_of_ranges, 2u);
  EXPECT_EQ(o.dump->stored_pages(), 3u);
  EXPECT_EQ(o.dump->page_file_offset(0x40), std::nullopt);
  EXPECT_EQ(o.dump->page_file_offset(0x20), 0x3000u + 2 * kPageSize);
}

TEST(DumpReader, RdmpZeroPageRangesStoreNothing) {
  DumpSpec spec;
  spec.dump_type = 0xA;
  spec.runs = {{0x1, 2}, {0x8, 0}, {0x8, 1}};
  auto o = build_and_open(spec);
  ASSERT_EQ(o.dump->runs().size(), 2u);
  EXPECT_EQ(o.dump->page_file_offset(0x8), 0x3000u + 2 * kPageSize);
  std::byte b[1];
  ASSERT_TRUE(o.dump->read_physical(0x8000, b));
  EXPECT_EQ(b[0], page_byte(0x8, 0));
}

}  // namespace
