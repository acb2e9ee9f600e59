// Mutated triage dumps: parsing either succeeds or raises pagedump::Error, and whatever is
// parsed can be read through the view and asked for the crashing processor. Deterministic.
#include <gtest/gtest.h>

#include <random>

#include "pagedump/error.h"
#include "pagedump/format/triage.h"
#include "triage_test_util.h"

using namespace pagedump;
using namespace pagedump::test;

namespace {

void exercise(const BuiltTriage& built, bool is64, int& parsed, int& rejected) {
  TempDir dir;
  std::unique_ptr<OpenedTriage> o;
  try {
    o = open_built(dir, built, is64);
  } catch (const Error&) {
    ++rejected;
    return;
  }
  ++parsed;
  std::vector<std::byte> buf(0x100);
  for (const auto& r : o->dump->virtual_regions()) {
    (void)o->view->read_virtual(r.address, std::span(buf).first(std::size_t(std::min<std::uint64_t>(r.size, buf.size()))));
    (void)o->view->read_virtual(r.end() - 1, buf);
  }
  try {
    (void)o->dump->crashing_processor(*o->view);
  } catch (const Error&) {
  }
}

class TriageFuzz : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(TriageFuzz, MutatedHeaderWordsNeverCrash) {
  const bool is64 = GetParam();
  const auto base = build_triage_dump(typical_triage_spec(is64));
  const std::size_t header = is64 ? sizeof(format::TriageDump64) : sizeof(format::TriageDump32);
  std::mt19937 rng(1234);
  int parsed = 0, rejected = 0;
  for (int round = 0; round < 300; ++round) {
    auto built = base;
    const int edits = 1 + int(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t word = rng() % (header / 4);
      std::uint32_t v;
      switch (rng() % 4) {
        case 0: v = std::uint32_t(rng()); break;
        case 1: v = std::uint32_t(built.layout.size_of_dump - (rng() % 64)); break;
        case 2: v = 0; break;
        default: v = 0xFFFFFFFF - (rng() % 16); break;
      }
      built.patch(built.layout.triage_header + word * 4, v);
    }
    exercise(built, is64, parsed, rejected);
  }
  // Both outcomes occur, so the loop does test the checks.
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}

TEST_P(TriageFuzz, MutatedSectionBytesNeverCrash) {
  const bool is64 = GetParam();
  const auto base = build_triage_dump(typical_triage_spec(is64));
  std::mt19937 rng(99);
  int parsed = 0, rejected = 0;
  const std::uint64_t from = base.layout.triage_header;
  const std::uint64_t span = base.layout.size_of_dump - from;
  for (int round = 0; round < 200; ++round) {
    auto built = base;
    for (int e = 0; e < 8; ++e) {
      built.bytes[from + rng() % span] = std::byte(rng() & 0xFF);
    }
    // Aim some edits at the tables, where counts and offsets live.
    const std::uint64_t tables[] = {base.layout.unloaded, base.layout.driver_list, base.layout.string_pool,
                                    base.layout.blocks_table};
    const std::uint64_t t = tables[rng() % 4];
    built.patch(t + (rng() % 8) * 4, std::uint32_t(rng()));
    exercise(built, is64, parsed, rejected);
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}

INSTANTIATE_TEST_SUITE_P(Bits, TriageFuzz, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "x64" : "x86"; });
