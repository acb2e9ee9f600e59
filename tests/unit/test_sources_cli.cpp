// pagedump sources: text and JSON output, the JSON accepted back as a memory map, exit codes.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "image_writers.h"
#include "sources_test_util.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace pagedump::test {
namespace {

using images::address_pattern_range;
using images::Image;

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

TEST(SourcesCli, JsonReportsFormatRangesTotalAndRegisters) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0xa0000), address_pattern_range(0x100000, 0x100000)},
            {sample_cpu64(0), sample_cpu64(1)}};
  images::write_elf_qemu(dir / "c.elf", img);
  auto r = run_command(std::string(cli_path()) + " sources " + q(dir / "c.elf") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "elf-qemu");
  ASSERT_EQ(j["ranges"].size(), 2u);
  EXPECT_EQ(j["ranges"][1]["base"], 0x100000u);
  EXPECT_EQ(j["ranges"][1]["size"], 0x100000u);
  EXPECT_EQ(j["total_bytes"], 0x1a0000u);
  ASSERT_EQ(j["cpus"].size(), 2u);
  EXPECT_EQ(j["cpus"][1]["index"], 1);
  EXPECT_EQ(j["cpus"][1]["mode"], "kernel");
  EXPECT_EQ(j["cpus"][1]["registers"]["rip"], sample_cpu64(1).rip);
  EXPECT_EQ(j["cpus"][1]["registers"]["rsp"], sample_cpu64(1).gpr[CpuState::rsp]);
  EXPECT_EQ(j["cpus"][1]["registers"]["cr3"], 0x1ab000u);
  EXPECT_EQ(j["cpus"][1]["registers"]["kernel_gs_base"], 0xc0deadb001ull);
  EXPECT_EQ(j["cpus"][1]["registers"]["idtr_limit"], 0xfffu);
}

TEST(SourcesCli, TextOutputAndJsonAsMemoryMap) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x3000), address_pattern_range(0x6000, 0x2000)}, {}};
  images::write_lime(dir / "m.lime", img);
  auto r = run_command(std::string(cli_path()) + " sources " + q(dir / "m.lime"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: lime\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0x0000000000006000-0x0000000000008000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 0x5000 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cpus: 0"), std::string::npos) << r.out;

  // The JSON of one image is the memory map of a raw image with the same layout.
  auto j = run_command(std::string(cli_path()) + " sources " + q(dir / "m.lime") + " --json");
  ASSERT_EQ(j.exit_code, 0);
  std::ofstream(dir / "map.json") << j.out;
  images::write_raw(dir / "m.raw", img);
  auto raw = run_command(std::string(cli_path()) + " sources " + q(dir / "m.raw") + " --memory-map " +
                         q(dir / "map.json") + " --json");
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  auto rj = nlohmann::json::parse(raw.out);
  EXPECT_EQ(rj["format"], "raw");
  EXPECT_EQ(rj["ranges"], nlohmann::json::parse(j.out)["ranges"]);
}

TEST(SourcesCli, ExitCodes) {
  TempDir dir;
  std::ofstream(dir / "u.dmp") << "MDMP" << std::string(60, '\0');
  auto bad = run_command(std::string(cli_path()) + " sources " + q(dir / "u.dmp"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("user-mode minidump"), std::string::npos) << bad.err;
  auto usage = run_command(std::string(cli_path()) + " sources " + q(dir / "u.dmp") + " --format nope");
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("unknown image format 'nope'"), std::string::npos) << usage.err;
  auto help = run_command(std::string(cli_path()) + " sources --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--memory-map"), std::string::npos);
}

}  // namespace
}  // namespace pagedump::test
