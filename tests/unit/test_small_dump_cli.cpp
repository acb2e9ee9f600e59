// `pagedump convert --type small` and `--minidump-dir` through the command line: the
// Windows file naming, existing small dumps never touched, and usage errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "pagedump/synth/guest.h"
#include "pagedump/discovery/system.h"
#include "pagedump/writer/small_dump.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::test::cli_path;
using pagedump::synth::GuestSpec;
using pagedump::test::run_command;
using pagedump::test::TempDir;

namespace {

GuestSpec crashed(pagedump::synth::GuestArch arch = pagedump::synth::GuestArch::x64) {
  GuestSpec spec;
  spec.arch = arch;
  spec.crashed = true;
  return spec;
}

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct RawGuest {
  TempDir dir;
  std::filesystem::path image;
  std::string convert;  // "pagedump convert IMAGE --memory-map MAP"
  std::uint64_t system_time = 0;
};

std::unique_ptr<RawGuest> raw_guest() {
  auto g = std::make_unique<RawGuest>();
  GuestSpec spec = crashed();
  spec.ram_mib = 256;
  auto guest = build_guest(spec);
  g->image = g->dir / "guest.raw";
  guest.write_raw(g->image, g->dir / "guest.map");
  g->system_time = guest.truth.system_time;
  g->convert = std::string(cli_path()) + " convert " + q(g->image) + " --memory-map " +
               q(g->dir / "guest.map");
  return g;
}

TEST(SmallDumpCli, MinidumpDirNumbersAndNeverReplaces) {
  auto g = raw_guest();
  const auto dir = g->dir / "Minidump";
  std::filesystem::create_directory(dir);
  const std::string n1 = minidump_file_name(g->system_time, 1);
  const std::string n2 = minidump_file_name(g->system_time, 2);
  const std::string n3 = minidump_file_name(g->system_time, 3);
  auto r1 = run_command(g->convert + " --minidump-dir " + q(dir) + " --json");
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto j = nlohmann::json::parse(r1.out);
  EXPECT_EQ(j["output"], (dir / n1).string());
  EXPECT_EQ(j["dump_type"], 4);
  EXPECT_EQ(j["pages"], 0);
  EXPECT_EQ(j["bytes_written"], std::filesystem::file_size(dir / n1));
  const std::string first = slurp(dir / n1);
  const auto first_time = std::filesystem::last_write_time(dir / n1);
  for (const auto& expected : {n2, n3}) {
    auto r = run_command(g->convert + " --minidump-dir " + q(dir) + " --json -q");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["output"], (dir / expected).string());
  }
  EXPECT_EQ(slurp(dir / n1), first);
  EXPECT_EQ(std::filesystem::last_write_time(dir / n1), first_time);
  EXPECT_EQ(slurp(dir / n2), first);  // the same crash gives the same bytes
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 3u);
  EXPECT_EQ(n1.substr(0, 4), "Mini");
  EXPECT_EQ(n1.substr(10), "-01.dmp");
}

TEST(SmallDumpCli, TypeSmallClassicAndUsageErrors) {
  auto g = raw_guest();
  auto r = run_command(g->convert + " --type small --classic -o " + q(g->dir / "s.dmp"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::filesystem::file_size(g->dir / "s.dmp"), 65536u);
  EXPECT_NE(r.out.find("small memory dump, DumpType 4"), std::string::npos) << r.out;
  // An existing output is kept without --force.
  auto again = run_command(g->convert + " --type small -o " + q(g->dir / "s.dmp"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(std::filesystem::file_size(g->dir / "s.dmp"), 65536u);
  auto bad_cpu = run_command(g->convert + " --type small --cpu 9 -o " + q(g->dir / "c.dmp"));
  EXPECT_EQ(bad_cpu.exit_code, 2);
  EXPECT_NE(bad_cpu.err.find("--cpu 9"), std::string::npos) << bad_cpu.err;
  auto mixed = run_command(g->convert + " --type full --minidump-dir " + q(g->dir / ""));
  EXPECT_EQ(mixed.exit_code, 2);
  auto stray = run_command(g->convert + " --max-size 65536 -o " + q(g->dir / "f.dmp"));
  EXPECT_EQ(stray.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(g->dir / "f.dmp"));
}

}  // namespace
