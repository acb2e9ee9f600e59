// The verify / crashtest / synth / demo commands end to end.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/samples.h"
#include "support/temp_dir.h"

using pagedump::test::cli_path;
using pagedump::test::run_command;
using pagedump::test::TempDir;

namespace {

TEST(VerifyCli, DemoWritesThreePassingDumpsAndSaysHowToOpenThem) {
  TempDir dir;
  auto r = run_command(fmt::format("{} demo --out-dir {} --ram-mib 192", cli_path(), dir.path().string()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string complete = (dir / "crashtest-complete.dmp").string();
  EXPECT_NE(r.out.find(fmt::format("complete  {}", complete)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("windbg -z " + complete), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".sympath srv*"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir / "guest-win10-x64.raw.map"));
  for (const char* type : {"kernel", "small"}) {
    const std::string file = (dir / fmt::format("crashtest-{}.dmp", type)).string();
    EXPECT_TRUE(std::filesystem::exists(file)) << file;
    auto vt = run_command(fmt::format("{} verify {} --expect-bugcheck 0xE2", cli_path(), file));
    EXPECT_EQ(vt.exit_code, 0) << vt.out << vt.err;
  }

  auto v = run_command(fmt::format("{} verify {} --expect-bugcheck 0xE2 --json", cli_path(), complete));
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  auto j = nlohmann::json::parse(v.out);
  EXPECT_EQ(j["path"], complete);
  EXPECT_EQ(j["result"], "pass");
  EXPECT_EQ(j["checks"][0]["id"], "header.signature");
  EXPECT_EQ(j["checks"][0]["status"], "pass");

  auto wrong = run_command(fmt::format("{} verify {} --expect-bugcheck 0x50", cli_path(), complete));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.out.find("fail  bugcheck.expected"), std::string::npos) << wrong.out;
  EXPECT_EQ(run_command(fmt::format("{} verify {} --expect-bugcheck nonsense", cli_path(), complete)).exit_code, 2);
}

TEST(VerifyCli, SynthThenCrashtestOnAnX86Guest) {
  TempDir dir;
  const std::string image = (dir / "g.raw").string();
  auto s = run_command(fmt::format("{} synth -o {} --arch x86 --ram-mib 192", cli_path(), image));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto c = run_command(fmt::format("{} crashtest {} --memory-map {}.map --out-dir {} --json", cli_path(), image, image,
                                   (dir / "out").string()));
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["dumps"][0]["type"], "complete");
  EXPECT_EQ(j["dumps"][0]["result"], "pass");
  EXPECT_EQ(j["dumps"][0]["verify"]["result"], "pass");
  EXPECT_EQ(j["dumps"][1]["type"], "kernel");
  EXPECT_EQ(j["dumps"][1]["result"], "pass");
  EXPECT_EQ(j["dumps"][2]["type"], "small");
  EXPECT_EQ(j["dumps"][2]["result"], "pass");
}

// synth writes like every other command: an existing image or map is replaced only with
// --force (it used to truncate whatever was at the path).
TEST(VerifyCli, SynthReplacesAnExistingImageOnlyWithForce) {
  TempDir dir;
  const std::string image = (dir / "g.raw").string();
  for (const std::string& path : {image, image + ".map"}) {
    std::ofstream(path) << "precious";
    auto s = run_command(fmt::format("{} synth -o {} --ram-mib 192", cli_path(), image));
    EXPECT_EQ(s.exit_code, 2);
    EXPECT_NE(s.err.find(path + ": the file exists; use --force to replace it"), std::string::npos)
        << s.err;
    std::ifstream in(path);
    std::string kept;
    in >> kept;
    EXPECT_EQ(kept, "precious");
    // The map is claimed before the image is written: nothing else appeared.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1) << path;
    std::filesystem::remove(path);
  }
  std::ofstream(image) << "precious";
  auto s = run_command(fmt::format("{} synth -o {} --ram-mib 192 --force", cli_path(), image));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  // The guest's last RAM range ends 16 MiB above 4 GiB: the raw image is that long (sparse).
  EXPECT_EQ(std::filesystem::file_size(image), 0x101000000ull);
  auto i = run_command(fmt::format("{} inspect {} --memory-map {}.map", cli_path(), image, image));
  EXPECT_EQ(i.exit_code, 0) << i.err;
}

// Every dump `convert` writes of a guest, and every re-typing of those dumps, passes verify:
// the writers' own output is what the verifier was built to judge.
class ConvertThenVerify : public ::testing::TestWithParam<const char*> {};

TEST_P(ConvertThenVerify, EveryTypeAndEveryRetypingPasses) {
  TempDir dir;
  const std::string image = (dir / "g.raw").string();
  auto s = run_command(
      fmt::format("{} synth -o {} --arch {} --ram-mib 192", cli_path(), image, GetParam()));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto convert = [&](const std::string& from, const std::string& to, const std::string& args) {
    const std::string map = from == image ? fmt::format(" --memory-map {}.map", image) : "";
    auto c = run_command(fmt::format("{} convert {}{} -o {} --quiet --no-sync {}", cli_path(), from,
                                     map, (dir / to).string(), args));
    EXPECT_EQ(c.exit_code, 0) << to << ": " << c.err;
    auto v = run_command(
        fmt::format("{} verify {} --expect-bugcheck 0xE2", cli_path(), (dir / to).string()));
    EXPECT_EQ(v.exit_code, 0) << to << ":\n" << v.out << v.err;
  };
  for (const char* type : {"full", "bitmap", "kernel", "small"}) {
    convert(image, fmt::format("{}.dmp", type), fmt::format("--type {}", type));
  }
  convert(image, "classic.dmp", "--type small --classic");
  convert(image, "small-cpu3.dmp", "--type small --cpu 3");
  // Re-typing: from the complete dump, the bitmap dump without zero pages and the kernel dump.
  const std::string full = (dir / "full.dmp").string(), bitmap = (dir / "bitmap.dmp").string();
  convert(full, "full-bitmap.dmp", "--type bitmap");
  convert(full, "full-kernel.dmp", "--type kernel");
  convert(bitmap, "bitmap-kernel.dmp", "--type kernel");
  convert(bitmap, "bitmap-small.dmp", "--type small");
  convert((dir / "kernel.dmp").string(), "kernel-small.dmp", "--type small");
}

INSTANTIATE_TEST_SUITE_P(Guests, ConvertThenVerify, ::testing::Values("x64", "x86"));

}  // namespace
