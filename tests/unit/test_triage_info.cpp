// `pagedump info` presentation of triage dumps: the JSON object and the text report.
#include <gtest/gtest.h>

#include <sstream>

#include "info_triage.h"
#include "support/samples.h"
#include "triage_test_util.h"

using namespace pagedump;
using namespace pagedump::test;

TEST(TriageInfo, JsonOnTheSample) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  const nlohmann::json j = cli::triage_json(*o->dump);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"data_block_count", "debugger_data_size", "driver_count", "drivers",
                                            "size_of_call_stack", "size_of_dump", "top_of_stack",
                                            "unloaded_drivers", "valid_offset"}));
  EXPECT_EQ(j["size_of_dump"], 0x13a28c);
  EXPECT_EQ(j["valid_offset"], 0x13a288);
  EXPECT_EQ(j["top_of_stack"].get<std::uint64_t>(), 0xffff850429890ee8u);
  EXPECT_EQ(j["size_of_call_stack"], 0x2118);
  EXPECT_EQ(j["driver_count"], 0x97);
  EXPECT_EQ(j["data_block_count"], 0x727);
  EXPECT_EQ(j["debugger_data_size"], 0x380);
  ASSERT_EQ(j["drivers"].size(), 0x97u);
  const auto& nt = j["drivers"][0];
  EXPECT_EQ(nt, (nlohmann::json{{"name", "ntoskrnl.exe"},
                                {"path", "\\SystemRoot\\system32\\ntoskrnl.exe"},
                                {"base", 0xfffff8047ba00000u},
                                {"size", 0x1046000},
                                {"checksum", 0xa5938c},
                                {"timestamp", 0x0D8333E6}}));
  EXPECT_EQ(j["drivers"][143]["name"], "amdppm.sys");
  ASSERT_EQ(j["unloaded_drivers"].size(), 4u);
  EXPECT_EQ(j["unloaded_drivers"][1],
            (nlohmann::json{{"name", "WdBoot.sys"}, {"start", 0xfffff80479d30000u}, {"end", 0xfffff80479d42000u}}));
}

TEST(TriageInfo, JsonOnASyntheticDump) {
  TempDir dir;
  auto spec = typical_triage_spec(false);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, false);
  const nlohmann::json j = cli::triage_json(*o->dump);
  EXPECT_EQ(j["size_of_dump"], built.layout.size_of_dump);
  EXPECT_EQ(j["top_of_stack"], spec.top_of_stack);
  EXPECT_EQ(j["driver_count"], 3);
  EXPECT_EQ(j["drivers"][1]["name"], "hal.dll");
  EXPECT_EQ(j["unloaded_drivers"][1]["name"], "averylongdri");
  EXPECT_EQ(j["data_block_count"], spec.blocks.size());
}

TEST(TriageInfo, TextReportListsSectionsAndDrivers) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  std::ostringstream out;
  cli::print_triage_text(out, *o->dump);
  const std::string s = out.str();
  EXPECT_NE(s.find("Triage dump (64-bit header at 0x2000)"), std::string::npos) << s;
  EXPECT_NE(s.find("KPRCB copy                 0x21b8 ..     0xd0b8     0xaf00 bytes"), std::string::npos) << s;
  EXPECT_NE(s.find("0xfffff8047ba00000   0x1046000  0x0d8333e6    0xa5938c  \\SystemRoot\\system32\\ntoskrnl.exe"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("Unloaded drivers (4):"), std::string::npos);
  EXPECT_EQ(s.find("Warnings:"), std::string::npos);
}
