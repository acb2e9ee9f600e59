// pagedump verify over complete dumps of the synthetic guests: every variant passes, and each
// failure the Support Test cares about fails its own check with the offset or address.
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pagedump/format/dump_header.h"
#include "pagedump/verify/crashtest.h"
#include "pagedump/writer/small_dump.h"
#include "support/temp_dir.h"
#include "verify_test_util.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::Guest;
using pagedump::synth::GuestArch;
using pagedump::synth::GuestSpec;
using namespace pagedump::test;
using verify::CheckStatus;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kRamMiB = 192;

struct Written {
  Guest guest;
  DiscoveredSystem system;
  fs::path file;
};

Written write_guest_dump(GuestSpec spec, const fs::path& file, CompleteDumpLayout layout = CompleteDumpLayout::automatic,
                         std::uint32_t bugcheck = 0xE2, bool omit_zero_pages = false) {
  spec.ram_mib = kRamMiB;
  Written w{build_guest(spec), {}, file};
  w.system = discover_system(w.guest);
  CompleteDumpOptions o;
  o.output = file.string();
  o.quiet = true;
  o.force = true;
  o.layout = layout;
  o.omit_zero_pages = omit_zero_pages;
  o.bugcheck = Bugcheck{bugcheck, {}};
  write_complete_dump(w.guest, w.system, o);
  return w;
}

verify::VerifyReport verify_e2(const fs::path& p, std::string symbols = {}) {
  verify::VerifyOptions o;
  o.expect_bugcheck = 0xE2;
  o.symbols = std::move(symbols);
  return verify::verify_dump(p.string(), o);
}

// One 192 MiB x64 guest dump shared by the failure tests; each test patches its own copy.
class VerifyFailures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    base_ = new Written(write_guest_dump(GuestSpec{}, *dir_ / "base.dmp"));
  }
  static void TearDownTestSuite() {
    delete base_;
    delete dir_;
  }
  fs::path copy() {
    const fs::path p = *dir_ / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".dmp");
    fs::copy_file(base_->file, p, fs::copy_options::overwrite_existing);
    return p;
  }
  static TempDir* dir_;
  static Written* base_;
};
TempDir* VerifyFailures::dir_ = nullptr;
Written* VerifyFailures::base_ = nullptr;

// The Support Test's cycle on every guest variant: complete, kernel and small dumps are each
// written with 0xE2 and each passes verify.
TEST(Verify, EveryDumpTypeOfEveryGuestVariantPasses) {
  TempDir dir;
  GuestSpec plain;
  plain.kdbg_encoded = false;
  plain.low_stub = false;
  GuestSpec nocpu;
  nocpu.cpu_state = false;
  GuestSpec many;
  many.many_runs = true;
  GuestSpec crashed;
  crashed.crashed = true;
  crashed.pcid = true;
  GuestSpec x86;
  x86.arch = GuestArch::x86_pae;
  GuestSpec x86_nocpu = x86;
  x86_nocpu.cpu_state = false;
  const std::pair<const char*, GuestSpec> variants[] = {
      {"x64 encoded KDBG", GuestSpec{}}, {"x64 plain KDBG", plain},
      {"x64 no captured registers", nocpu}, {"x64 45+ runs", many},
      {"x64 crashed, PCID", crashed}, {"x86 PAE", x86}, {"x86 PAE no registers", x86_nocpu}};
  for (const auto& [name, spec0] : variants) {
    SCOPED_TRACE(name);
    GuestSpec spec = spec0;
    spec.ram_mib = kRamMiB;
    auto guest = build_guest(spec);
    auto system = discover_system(guest);
    verify::CrashtestOptions o;
    o.out_dir = (dir / "ct").string();
    auto rows = verify::run_crashtest(guest, system, o);
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& row : rows) {
      EXPECT_EQ(row.result, verify::CrashtestResult::pass) << row.type << ": " << row.first_failure;
    }
  }
}

TEST(Verify, EveryGuestVariantPasses) {
  TempDir dir;
  struct Variant {
    const char* name;
    GuestSpec spec;
    CompleteDumpLayout layout;
    bool omit_zero_pages = false;  // `convert --type bitmap`
  };
  GuestSpec plain;
  plain.kdbg_encoded = false;
  GuestSpec x86;
  x86.arch = GuestArch::x86_pae;
  GuestSpec many;
  many.many_runs = true;
  GuestSpec crashed;
  crashed.crashed = true;
  crashed.pcid = true;
  const Variant variants[] = {{"x64 encoded KDBG, runs", GuestSpec{}, CompleteDumpLayout::automatic},
                              {"x64 plain KDBG", plain, CompleteDumpLayout::automatic},
                              {"x64 bitmap", GuestSpec{}, CompleteDumpLayout::bitmap},
                              {"x64 45+ runs", many, CompleteDumpLayout::automatic},
                              {"x64 crashed, PCID", crashed, CompleteDumpLayout::automatic},
                              {"x86 PAE", x86, CompleteDumpLayout::automatic},
                              // The guests' stacks are zero pages: they must stay in.
                              {"x64 bitmap, zero pages left out", GuestSpec{},
                               CompleteDumpLayout::bitmap, true},
                              {"x86 PAE bitmap, zero pages left out", x86,
                               CompleteDumpLayout::bitmap, true}};
  for (const auto& v : variants) {
    SCOPED_TRACE(v.name);
    auto w = write_guest_dump(v.spec, dir / "v.dmp", v.layout, 0xE2, v.omit_zero_pages);
    auto r = verify_e2(w.file);
    EXPECT_TRUE(r.passed()) << summary(r);
    EXPECT_EQ(only_check(r, "bugcheck.expected").status, CheckStatus::pass);
    EXPECT_EQ(only_check(r, "lists.modules").status, CheckStatus::pass) << only_check(r, "lists.modules").message;
    EXPECT_EQ(only_check(r, "processors.count").message.find(std::to_string(w.guest.truth.cpus.size()) + " processors"),
              0u);
    // The kernel's PDB named as a symbol store keeps it.
    EXPECT_NE(only_check(r, "symbols.kernel").message.find(w.guest.truth.pdb_symbol_path), std::string::npos)
        << only_check(r, "symbols.kernel").message;
  }
}

// Re-typing a bitmap dump that left zero pages out: what a small dump copies of the
// processor (KPRCB, thread, process) was kept even where it is zeros, so the small dump can be
// written from it and passes.
TEST(Verify, ASmallDumpOfABitmapDumpWithoutZeroPagesPasses) {
  TempDir dir;
  GuestSpec x86;
  x86.arch = GuestArch::x86_pae;
  for (const GuestSpec& spec : {GuestSpec{}, x86}) {
    SCOPED_TRACE(spec.arch == GuestArch::x64 ? "x64" : "x86 PAE");
    auto w = write_guest_dump(spec, dir / "bitmap.dmp", CompleteDumpLayout::bitmap, 0xE2, true);
    auto bitmap = DumpFile::open((dir / "bitmap.dmp").string());
    const DiscoveredSystem system = discover_system(*bitmap);
    SmallDumpOptions o;
    o.output = (dir / "small.dmp").string();
    o.force = true;
    o.quiet = true;
    const DumpWriteResult small = write_small_dump(*bitmap, system, o);
    EXPECT_EQ(small.dump_type, 4u);
    auto r = verify_e2(dir / "small.dmp");
    EXPECT_TRUE(r.passed()) << summary(r);
  }
}

TEST_F(VerifyFailures, BaseDumpPassesWithItsChecksInOrder) {
  auto r = verify_e2(base_->file);
  ASSERT_TRUE(r.passed()) << summary(r);
  const std::vector<std::string> first = {"header.signature", "header.dump_type", "header.machine", "header.version",
                                          "header.fill"};
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(r.checks[i].id, first[i]);
  EXPECT_EQ(only_check(r, "bugcheck.code").message, "0xe2 MANUALLY_INITIATED_CRASH (0x0, 0x0, 0x0, 0x0)");
}

TEST_F(VerifyFailures, WrongSignature) {
  auto p = copy();
  patch_value(p, 4, format::tag("XU64"));
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"header.signature"});
  EXPECT_EQ(only_check(r, "header.signature").message, "file offset 0x0: expected 'PAGEDU64' or 'PAGEDUMP', found 'PAGEXU64'");
}

TEST_F(VerifyFailures, UnknownDumpType) {
  auto p = copy();
  patch_value(p, 0xF98, std::uint32_t{7});
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"header.dump_type"});
  EXPECT_NE(only_check(r, "header.dump_type").message.find("DumpType at file offset 0xf98 is 0x7"), std::string::npos);
}

TEST_F(VerifyFailures, RequiredDumpSpaceOffByAPage) {
  auto p = copy();
  const auto rds = DumpFile::open(p.string())->header().required_dump_space.value();
  patch_value(p, 0xFA0, rds + 0x1000);
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"layout.required_dump_space"});
  EXPECT_NE(only_check(r, "layout.required_dump_space")
                .message.find(fmt::format("RequiredDumpSpace at file offset 0xfa0 is {:#x}; the layout needs {:#x}",
                                          rds + 0x1000, rds)),
            std::string::npos)
      << only_check(r, "layout.required_dump_space").message;
  EXPECT_NE(only_check(r, "layout.required_dump_space").message.find("over by 0x1000 bytes (1 page)"), std::string::npos);
}

TEST_F(VerifyFailures, TruncatedFile) {
  auto p = copy();
  const auto size = fs::file_size(p);
  fs::resize_file(p, size - 0x3000);
  auto r = verify_e2(p);
  const auto& c = only_check(r, "layout.file_size");
  EXPECT_EQ(c.status, CheckStatus::fail);
  EXPECT_NE(c.message.find(fmt::format("the file ends at {:#x}", size - 0x3000)), std::string::npos) << c.message;
  EXPECT_NE(c.message.find(fmt::format("(file offset {:#x})", size - 0x3000)), std::string::npos) << c.message;
  EXPECT_EQ(failing_ids(r).front(), "layout.file_size");
}

TEST_F(VerifyFailures, BitmapCountWrong) {
  TempDir dir;
  auto w = write_guest_dump(GuestSpec{}, dir / "bitmap.dmp", CompleteDumpLayout::bitmap);
  auto dump = DumpFile::open(w.file.string());
  const auto present = dump->bitmap()->present_pages;
  dump.reset();
  patch_value(w.file, 0x2000 + 0x28, present - 1);
  auto r = verify_e2(w.file);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"layout.bitmap"});
  EXPECT_NE(only_check(r, "layout.bitmap").message.find("PresentPages at file offset 0x2028"), std::string::npos)
      << only_check(r, "layout.bitmap").message;
}

TEST_F(VerifyFailures, EncodedKdbgLeftInPlace) {
  auto p = copy();
  const auto& t = base_->guest.truth;
  ASSERT_TRUE(t.kdbg_encoded);
  std::vector<std::byte> encoded(t.kdbg_size);
  ASSERT_TRUE(base_->guest.read_physical(t.kdbg_pa, encoded).ok());
  const auto off = file_offset_of(p, t.kdbg_va);
  patch_file(p, off, encoded);
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"memory.kdbg"});
  const auto& c = only_check(r, "memory.kdbg");
  EXPECT_NE(c.message.find(fmt::format("the KDBG at VA {:#x} (PA {:#x}, file offset {:#x}) is encoded", t.kdbg_va + 0x10,
                                       t.kdbg_pa + 0x10, off + 0x10)),
            std::string::npos)
      << c.message;
}

TEST_F(VerifyFailures, ZeroedProcessorContext) {
  auto p = copy();
  const auto& cpu = base_->guest.truth.cpus.at(1);
  const auto off = file_offset_of(p, cpu.context);
  patch_file(p, off, std::vector<std::byte>(0x4D0));
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"processors.context"});
  EXPECT_NE(only_check(r, "processors.context")
                .message.find(fmt::format("processor 1: the CONTEXT at VA {:#x}", cpu.context)),
            std::string::npos)
      << only_check(r, "processors.context").message;
  EXPECT_NE(only_check(r, "processors.context").message.find("ContextFlags is 0x0"), std::string::npos);
}

TEST_F(VerifyFailures, WrongDirectoryTableBase) {
  auto p = copy();
  patch_value(p, 0x10, std::uint64_t{0x7000});
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"memory.dtb"});
  EXPECT_NE(only_check(r, "memory.dtb")
                .message.find("DirectoryTableBase 0x7000 (file offset 0x10) does not map KUSER_SHARED_DATA at VA "
                              "0xfffff78000000000"),
            std::string::npos)
      << only_check(r, "memory.dtb").message;
}

TEST_F(VerifyFailures, ModuleListCycle) {
  auto p = copy();
  const auto& mods = base_->guest.truth.modules;
  ASSERT_GE(mods.size(), 3u);
  patch_value(p, file_offset_of(p, mods[2].entry_va), mods[1].entry_va);
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"lists.modules"});
  EXPECT_NE(only_check(r, "lists.modules")
                .message.find(fmt::format("cycle: the entry at VA {:#x} links back to VA {:#x}", mods[2].entry_va,
                                          mods[1].entry_va)),
            std::string::npos)
      << only_check(r, "lists.modules").message;
}

TEST_F(VerifyFailures, BugcheckOtherThanExpected) {
  auto p = copy();
  patch_value(p, 0x38, std::uint32_t{0x50});
  auto r = verify_e2(p);
  EXPECT_EQ(failing_ids(r), std::vector<std::string>{"bugcheck.expected"});
  EXPECT_EQ(only_check(r, "bugcheck.expected").message,
            "expected bugcheck 0xe2 MANUALLY_INITIATED_CRASH, found 0x50 PAGE_FAULT_IN_NONPAGED_AREA (BugCheckCode, "
            "file offset 0x38): another bugcheck happened while the dump was written");
  // Without the expectation the same dump passes.
  EXPECT_TRUE(verify::verify_dump(p.string()).passed());
}

TEST_F(VerifyFailures, EveryDumpTypePassesTheCrashtestCycleAndTheSeamReportsMissingWriters) {
  TempDir dir;
  verify::CrashtestOptions o;
  o.out_dir = (dir / "ct").string();
  auto rows = verify::run_crashtest(base_->guest, base_->system, o);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].type, "complete");
  EXPECT_EQ(rows[0].result, verify::CrashtestResult::pass) << rows[0].first_failure;
  EXPECT_EQ(rows[0].size, fs::file_size(rows[0].file));
  EXPECT_EQ(rows[1].type, "kernel");
  EXPECT_EQ(rows[1].result, verify::CrashtestResult::pass) << rows[1].first_failure;
  EXPECT_EQ(rows[2].type, "small");
  EXPECT_EQ(rows[2].result, verify::CrashtestResult::pass) << rows[2].first_failure;
  // A writer missing from the seam is reported as such, not as a failure.
  auto missing = verify::default_crashtest_writers();
  missing.small = {};
  rows = verify::run_crashtest(base_->guest, base_->system, o, missing);
  EXPECT_EQ(rows[2].result, verify::CrashtestResult::not_available);
  EXPECT_EQ(rows[2].first_failure, "the small dump writer is not available yet");
  // A writer plugged into the seam is written and verified like the others.
  auto writers = verify::default_crashtest_writers();
  writers.kernel = [](const PhysicalMemory& image, const DiscoveredSystem& sys, const verify::CrashtestWriteRequest& rq) {
    CompleteDumpOptions c;
    c.output = rq.output;
    c.force = true;
    c.quiet = true;
    c.bugcheck = Bugcheck{0x50, {}};  // a second bugcheck while writing
    return write_complete_dump(image, sys, c);
  };
  rows = verify::run_crashtest(base_->guest, base_->system, o, writers);
  EXPECT_EQ(rows[1].result, verify::CrashtestResult::fail);
  EXPECT_EQ(rows[1].first_failure.rfind("bugcheck.expected: expected bugcheck 0xe2", 0), 0u) << rows[1].first_failure;
}

}  // namespace
