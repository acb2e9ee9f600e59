// The verify / crashtest / synth / demo commands end to end.
#include <filesystem>

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

}  // namespace
