// pagedump info / read, run as a user would: exit codes, text and JSON values, bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "builders/dump/dump_builder.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using namespace pagedump::test;
using testing::HasSubstr;

namespace {

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

CommandResult pagedump_cmd(const std::string& args) {
  return run_command(std::string(cli_path()) + " " + args);
}

std::string fmt_byte(std::byte b) {
  static const char* kHex = "0123456789abcdef";
  auto v = std::to_integer<unsigned>(b);
  return std::string(" ") + kHex[v >> 4] + kHex[v & 15];
}

struct Fixture {
  TempDir dir;
  std::filesystem::path path;
  explicit Fixture(const DumpSpec& spec) : path(dir / "t.dmp") { write_dump(path, spec); }
};

TEST(CliInfo, TextNamesTheFields) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("info " + q(f.path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("PAGEDU64 (64-bit)"));
  EXPECT_THAT(r.out, HasSubstr("1 (full)"));
  EXPECT_THAT(r.out, HasSubstr("0xe2 MANUALLY_INITIATED_CRASH"));
  EXPECT_THAT(r.out, HasSubstr("2 (NumberOfPages 0x5 = 5)"));
  EXPECT_THAT(r.out, HasSubstr("[ 1] pages 0x10-0x11 (0x2 pages, 0x10000-0x12000), file offset 0x5000"));
  EXPECT_THAT(r.out, HasSubstr("rip=fffff8047bdf5a80"));
  EXPECT_THAT(r.out, HasSubstr("0x80000003"));
}

TEST(CliInfo, JsonFullDumpValues) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("info --json " + q(f.path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "PAGEDU64");
  EXPECT_EQ(j["dump_type"], 1);
  EXPECT_EQ(j["dump_type_name"], "full");
  EXPECT_EQ(j["machine_image_type"], 0x8664);
  EXPECT_EQ(j["architecture"], "x64");
  EXPECT_EQ(j["major_version"], 15);
  EXPECT_EQ(j["minor_version"], 19045);
  EXPECT_EQ(j["directory_table_base"], 0x1ad000);
  EXPECT_EQ(j["pfn_database"], 0xfffff8047c6fc500ull);
  EXPECT_EQ(j["ps_loaded_module_list"], 0xfffff8047c62a390ull);
  EXPECT_EQ(j["ps_active_process_head"], 0xfffff8047c61e200ull);
  EXPECT_EQ(j["kd_debugger_data_block"], 0xfffff8047c600b20ull);
  EXPECT_EQ(j["number_processors"], 4);
  EXPECT_EQ(j["bugcheck"]["code"], 0xE2);
  EXPECT_EQ(j["bugcheck"]["name"], "MANUALLY_INITIATED_CRASH");
  EXPECT_EQ(j["bugcheck"]["parameters"], nlohmann::json::array({0x11, 0x22, 0x33, 0x44}));
  EXPECT_EQ(j["required_dump_space"], 0x7000);
  EXPECT_EQ(j["system_time"], built::kSystemTime);
  EXPECT_EQ(j["system_up_time"], built::kSystemUpTime);
  EXPECT_EQ(j["product_type"], 1);
  EXPECT_EQ(j["suite_mask"], 0x110);
  EXPECT_EQ(j["comment"], "pagedump test dump");
  EXPECT_EQ(j["attributes"], 0x18);
  EXPECT_FALSE(j.contains("pae_enabled"));
  EXPECT_EQ(j["context"]["rip"], built::kPc64);
  EXPECT_EQ(j["context"]["rsp"], built::kSp64);
  EXPECT_EQ(j["context"]["context_flags"], 0x10001f);
  EXPECT_EQ(j["exception"]["code"], 0x80000003u);
  EXPECT_EQ(j["exception"]["flags"], 1);
  EXPECT_EQ(j["exception"]["address"], built::kPc64);
  EXPECT_EQ(j["exception"]["parameters"], nlohmann::json::array({0}));
  EXPECT_EQ(j["physical_memory"]["number_of_runs"], 2);
  EXPECT_EQ(j["physical_memory"]["number_of_pages"], 5);
  EXPECT_EQ(j["physical_memory"]["runs"],
            nlohmann::json::parse(R"([{"base_page":1,"page_count":3},{"base_page":16,"page_count":2}])"));
  EXPECT_FALSE(j.contains("bitmap"));
  EXPECT_TRUE(j["truncated"].is_null());
}

TEST(CliInfo, JsonBitmapDump32BitPae) {
  DumpSpec spec;
  spec.arch = DumpArch::x86_pae;
  spec.dump_type = 5;
  spec.edit_header32 = [](format::DumpHeader32& h) { h.SuiteMask = format::kFill32; };
  Fixture f(spec);
  auto r = pagedump_cmd("info --json " + q(f.path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "PAGEDUMP");
  EXPECT_EQ(j["architecture"], "x86");
  EXPECT_EQ(j["pae_enabled"], true);
  EXPECT_TRUE(j["suite_mask"].is_null());
  EXPECT_EQ(j["context"]["eip"], built::kPc32);
  EXPECT_EQ(j["bitmap"]["signature"], "FDMP");
  EXPECT_EQ(j["bitmap"]["present_pages"], 5);
  EXPECT_EQ(j["bitmap"]["bitmap_bits"], 64);
  EXPECT_EQ(j["bitmap"]["first_page_offset"], 0x2000);
  EXPECT_FALSE(j.contains("physical_memory"));
}

TEST(CliInfo, JsonTruncatedInfo) {
  DumpSpec spec;
  spec.truncate_to = 0x3000;
  Fixture f(spec);
  auto r = pagedump_cmd("info --json " + q(f.path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["truncated"]["file_size"], 0x3000);
  EXPECT_EQ(j["truncated"]["pages_in_file"], 1);
  EXPECT_EQ(j["truncated"]["first_missing_page"], 2);
  EXPECT_EQ(j["truncated"]["first_missing_offset"], 0x3000);
  auto t = pagedump_cmd("info " + q(f.path));
  EXPECT_THAT(t.out, HasSubstr("TRUNCATED"));
  EXPECT_THAT(t.out, HasSubstr("the first missing page is PFN 0x2 (file offset 0x3000)"));
}

TEST(CliInfo, TextOf32BitTriageHeader) {
  DumpSpec spec;
  spec.arch = DumpArch::arm;
  spec.dump_type = 4;
  Fixture f(spec);
  // A bare header: everything the header says is shown, then the missing triage body is an
  // error (exit 1) naming where it should be.
  auto r = pagedump_cmd("info " + q(f.path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("TRIAGE_DUMP32 header at file offset 0x1000 (104 bytes) is beyond "
                               "the end of the file"));
  EXPECT_THAT(r.out, HasSubstr("PAGEDUMP (32-bit)"));
  EXPECT_THAT(r.out, HasSubstr("4 (triage)"));
  EXPECT_THAT(r.out, HasSubstr("arm (MachineImageType 0x1c4)"));
  EXPECT_THAT(r.out, HasSubstr("PAE enabled             no"));
  EXPECT_THAT(r.out, HasSubstr("none: a triage dump stores no physical pages"));
  EXPECT_THAT(r.out, HasSubstr("pc=80d1c2b4"));
  auto j = nlohmann::json::parse(pagedump_cmd("info --json " + q(f.path)).out);
  EXPECT_EQ(j["pae_enabled"], false);
  EXPECT_EQ(j["context"]["pc"], built::kPc32);
  EXPECT_FALSE(j.contains("physical_memory"));
  EXPECT_FALSE(j.contains("bitmap"));
}

TEST(CliInfo, NotADumpExits1WithTheReason) {
  TempDir dir;
  auto p = dir / "x.txt";
  std::ofstream(p) << "hello, world";
  auto r = pagedump_cmd("info " + q(p));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not a kernel dump: offset 0 holds 'hello, w'"));
}

TEST(CliInfo, MissingFileExits1) {
  auto r = pagedump_cmd("info /nonexistent/x.dmp");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot open"));
}

TEST(CliInfo, NoFileIsUsage) {
  auto r = pagedump_cmd("info");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliRead, HexDumpOfPhysicalBytes) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("read " + q(f.path) + " --pa 0x10000 --length 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string want = "0000000000010000  10 00 00 00 00 00 00 00 ";
  for (int i = 8; i < 16; ++i) {
    want += fmt_byte(page_byte(0x10, i));
  }
  EXPECT_EQ(r.out.substr(0, want.size()), want);
}

TEST(CliRead, RawBytesAcrossPages) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("read " + q(f.path) + " --pa 0x1ff0 --length 0x20 --raw");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size(), 0x20u);
  for (int i = 0; i < 0x10; ++i) EXPECT_EQ(std::byte(r.out[i]), page_byte(1, 0xff0 + i)) << i;
  for (int i = 0; i < 0x10; ++i) EXPECT_EQ(std::byte(r.out[0x10 + i]), page_byte(2, i)) << i;
}

TEST(CliRead, AbsentMemoryExits1) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("read " + q(f.path) + " --pa 0x8000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("physical address 0x8000 is not in the dump: page 0x8 is not stored "
                               "in this full dump (absent is not zero)"));
}

TEST(CliRead, TruncatedMemoryExits1WithTheOffset) {
  DumpSpec spec;
  spec.truncate_to = 0x3000;
  Fixture f(spec);
  auto r = pagedump_cmd("read " + q(f.path) + " --pa 0x2000 --length 8");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("physical address 0x2000 is at file offset 0x3000, beyond the end of "
                               "the file (size 0x3000): the dump is truncated"));
}

TEST(CliRead, FailedVirtualReadsNameTheEntryThatStoppedThem) {
  Fixture f(DumpSpec{});
  auto r = pagedump_cmd("read " + q(f.path) + " --va 0xfffff80000000000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("virtual address 0xfffff80000000000"));
  EXPECT_THAT(r.err, HasSubstr("PML4E"));
}

TEST(CliRead, UsageErrorsExit2) {
  Fixture f(DumpSpec{});
  EXPECT_EQ(pagedump_cmd("read " + q(f.path)).exit_code, 2);                      // neither
  EXPECT_EQ(pagedump_cmd("read " + q(f.path) + " --pa 0 --va 0").exit_code, 2);   // both
  EXPECT_EQ(pagedump_cmd("read " + q(f.path) + " --pa zz").exit_code, 2);         // not a number
  EXPECT_EQ(pagedump_cmd("read " + q(f.path) + " --pa 0 --length x").exit_code, 2);
}

TEST(CliInfo, RealTriageSampleJson) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto r = pagedump_cmd("info --json " + q(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dump_type"], 4);
  EXPECT_EQ(j["bugcheck"]["code"], 0x1000007E);
  EXPECT_EQ(j["context"]["rip"], 0xfffff8048b58334cull);
  EXPECT_EQ(j["exception"]["address"], 0xfffff8047bdf5a80ull);
  EXPECT_TRUE(j["attributes"].is_null());
}

TEST(CliRead, RealFullSampleTruncatedPage) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19045-x64-full-first16k.dmp");
  auto ok = pagedump_cmd("read " + q(path) + " --pa 0x3ff8 --length 8 --raw");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.out.size(), 8u);
  auto r = pagedump_cmd("read " + q(path) + " --pa 0x5000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("physical address 0x5000 is at file offset 0x5000, beyond the end of "
                               "the file (size 0x4000): the dump is truncated"));
}

}  // namespace
