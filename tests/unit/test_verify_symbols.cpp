// verify over dumps of every type from the test builders, the real small dump with its symbol
// store, the PDB identity reader, and the kernel-symbol failures against a store we build.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "builders/dump/dump_builder.h"
#include "pagedump/error.h"
#include "pagedump/format/pdb.h"
#include "pagedump/symbols/pdb_file.h"
#include "pagedump/symbols/symbol_store.h"
#include "pagedump/synth/guest.h"
#include "support/pdb_builder.h"
#include "support/samples.h"
#include "support/temp_dir.h"
#include "triage_builder.h"
#include "verify_test_util.h"

using namespace pagedump;
using pagedump::test::make_pdb;
using pagedump::test::TempDir;
using verify::CheckStatus;
namespace fs = std::filesystem;

namespace {

void write_bytes(const fs::path& p, std::span<const std::byte> bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The guest's kernel GUID in its on-disk byte order (Data1..3 little-endian).
std::array<std::uint8_t, 16> guid_bytes(const std::string& text) {
  std::array<std::uint8_t, 16> raw{};
  auto hex = [&](std::size_t at, std::size_t n) { return std::stoull(text.substr(at, n), nullptr, 16); };
  const std::uint32_t d1 = static_cast<std::uint32_t>(hex(0, 8));
  const std::uint16_t d2 = static_cast<std::uint16_t>(hex(8, 4)), d3 = static_cast<std::uint16_t>(hex(12, 4));
  std::memcpy(raw.data(), &d1, 4);
  std::memcpy(raw.data() + 4, &d2, 2);
  std::memcpy(raw.data() + 6, &d3, 2);
  for (int i = 0; i < 8; ++i) raw[8 + i] = static_cast<std::uint8_t>(hex(16 + 2 * i, 2));
  return raw;
}

TEST(PdbIdentity, ReadsGuidAndBothAgesOfAMinimalPdb) {
  TempDir dir;
  const auto guid = guid_bytes("1C19FDDB27BB3399D9B45973EFEAFCF3");
  write_bytes(dir / "x.pdb", make_pdb(guid, 3, 1));
  auto id = symbols::read_pdb_identity((dir / "x.pdb").string());
  EXPECT_EQ(id.guid, "1C19FDDB27BB3399D9B45973EFEAFCF3");
  EXPECT_EQ(id.age, 1u);
  EXPECT_EQ(id.info_age, 3u);
  EXPECT_EQ(id.block_size, 512u);
  EXPECT_EQ(id.key(), "1C19FDDB27BB3399D9B45973EFEAFCF31");
}

TEST(PdbIdentity, RejectsBadMagicAndABlockPastTheFile) {
  TempDir dir;
  auto bytes = make_pdb({}, 1, 1);
  bytes[0] = std::byte{'m'};
  write_bytes(dir / "bad.pdb", bytes);
  try {
    symbols::read_pdb_identity((dir / "bad.pdb").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an MSF 7.0 PDB: offset 0"), std::string::npos) << e.what();
  }
  bytes = make_pdb({}, 1, 1);
  const std::uint32_t far_block = 1000;
  std::memcpy(bytes.data() + 3 * 512 + 5 * 4, &far_block, 4);  // stream 1's block
  write_bytes(dir / "far.pdb", bytes);
  try {
    symbols::read_pdb_identity((dir / "far.pdb").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("names block 1000 but the file has 6 blocks"), std::string::npos) << e.what();
  }
}

TEST(SymbolStore, LocalFolderOfASymbolPath) {
  EXPECT_EQ(symbols::local_store_folder("/sym"), fs::path("/sym"));
  EXPECT_EQ(symbols::local_store_folder("srv*/cache/sym*https://msdl.microsoft.com/download/symbols"),
            fs::path("/cache/sym"));
  EXPECT_EQ(symbols::local_store_folder("SRV*https://x.example/sym;/other"), fs::path("/other"));
  EXPECT_THROW(symbols::local_store_folder("srv*https://msdl.microsoft.com/download/symbols"), Error);
  EXPECT_EQ(symbols::image_store_key(0x0D8333E6, 0x1046000), "0D8333E61046000");
}

// File names and keys come from the dump: none may lead out of the store.
TEST(SymbolStore, NamesThatLeaveTheStoreAreNeverLookedUp) {
  TempDir dir;
  const fs::path store = dir / "store";
  write_bytes(store / "a.pdb" / "KEY1" / "a.pdb", make_pdb({}, 1, 1));
  // Without the check, "../o" would find dir/o/KEY1/../o, i.e. dir/o/o, outside the store.
  write_bytes(dir / "o" / "KEY1" / "placeholder", make_pdb({}, 1, 1));
  write_bytes(dir / "o" / "o", make_pdb({}, 1, 1));
  ASSERT_TRUE(symbols::find_in_store(store, "A.PDB", "key1"));
  EXPECT_EQ(*symbols::find_in_store(store, "A.PDB", "key1"), store / "a.pdb" / "KEY1" / "a.pdb");
  EXPECT_FALSE(symbols::find_in_store(store, "../o", "KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, (dir / "o").string(), "KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, "..", "KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, ".", "."));
  EXPECT_FALSE(symbols::find_in_store(store, "a.pdb", "../a.pdb/KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, "a.pdb\\..", "KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, "", "KEY1"));
  EXPECT_FALSE(symbols::find_in_store(store, std::string("a.pdb\0x", 7), "KEY1"));
}

TEST(SymbolStore, RealPdbIdentity) {
  PAGEDUMP_REQUIRE_SAMPLE(pdb, "symbols/amdppm.pdb/1C19FDDB27BB3399D9B45973EFEAFCF31/amdppm.pdb");
  auto id = symbols::read_pdb_identity(pdb.string());
  EXPECT_EQ(id.guid, "1C19FDDB27BB3399D9B45973EFEAFCF3");
  EXPECT_EQ(id.age, 1u);       // the DBI stream's: what the CodeView record says
  EXPECT_EQ(id.info_age, 3u);  // the info stream's own, bumped by later writes
  EXPECT_EQ(id.block_size, 0x400u);
}

// Acceptance on the real small dump: structure passes, the bugcheck is named, amdppm.sys and its
// PDB and Wdf01000.sys are found, and the kernel's missing image fails with the exact file.
TEST(VerifySample, SmallDumpWithItsSymbolStore) {
  PAGEDUMP_REQUIRE_SAMPLE(dmp, "win10-19041-x64-triage.dmp");
  PAGEDUMP_REQUIRE_SAMPLE(amdppm_image, "symbols/amdppm.sys/c9c030003b000/amdppm.sys");
  const fs::path store = test::samples_dir() / "symbols";
  verify::VerifyOptions o;
  o.symbols = "srv*" + store.string() + "*https://msdl.microsoft.com/download/symbols";
  auto r = verify::verify_dump(dmp.string(), o);
  EXPECT_EQ(test::failing_ids(r), std::vector<std::string>{"symbols.kernel"}) << test::summary(r);
  for (const auto& c : r.checks) {
    if (c.id.starts_with("header.") || c.id.starts_with("layout.")) {
      EXPECT_EQ(c.status, CheckStatus::pass) << c.id;
    }
  }
  EXPECT_EQ(test::only_check(r, "bugcheck.code").message,
            "0x1000007e SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M (0xffffffffc0000005, 0xfffff8048b58334c, "
            "0xffff850429891ee8, 0xffff850429891720)");
  EXPECT_EQ(test::only_check(r, "symbols.kernel").message,
            "ntoskrnl.exe: Failed to load the correct symbols: ntoskrnl.exe/0D8333E61046000/ntoskrnl.exe is not in " +
                store.string());
  bool amdppm = false, wdf = false;
  for (const auto* c : r.find("symbols.module")) {
    if (c->message.starts_with("amdppm.sys:")) {
      amdppm = true;
      EXPECT_EQ(c->status, CheckStatus::pass);
      EXPECT_EQ(c->message, "amdppm.sys: amdppm.sys/C9C030003B000/amdppm.sys found and matching (time stamp and size); "
                            "amdppm.pdb/1C19FDDB27BB3399D9B45973EFEAFCF31/amdppm.pdb found and matching (GUID "
                            "1C19FDDB27BB3399D9B45973EFEAFCF3, age 1)");
    }
    if (c->message.starts_with("Wdf01000.sys:")) {
      wdf = true;
      EXPECT_NE(c->message.find("Wdf01000.sys/A9A9D36ED1000/Wdf01000.sys found and matching"), std::string::npos);
    }
  }
  EXPECT_TRUE(amdppm);
  EXPECT_TRUE(wdf);
}

TEST(VerifySample, SmallDumpWithoutSymbolsPasses) {
  PAGEDUMP_REQUIRE_SAMPLE(dmp, "win10-19041-x64-triage.dmp");
  auto r = verify::verify_dump(dmp.string());
  EXPECT_TRUE(r.passed()) << test::summary(r);
  EXPECT_EQ(test::only_check(r, "symbols.kernel").message,
            "ntoskrnl.exe needs ntoskrnl.exe/0D8333E61046000/ntoskrnl.exe (its image, then the PDB it names)");
  EXPECT_EQ(test::only_check(r, "processors.count").message, "16 processors in KiProcessorBlock at VA 0xfffff8047c6fdc80");
}

TEST(VerifyBuilders, HeaderAndLayoutPassForEveryTypeAndArchitecture) {
  TempDir dir;
  for (auto arch : {test::DumpArch::x64, test::DumpArch::x86_pae, test::DumpArch::arm64}) {
    for (std::uint32_t type : {1u, 2u, 5u, 6u, 8u, 9u, 0xAu}) {
      if (type == 2 && arch == test::DumpArch::arm64) continue;
      if (type >= 8 && arch == test::DumpArch::x86_pae) continue;  // RDMP dumps are 64-bit only
      SCOPED_TRACE(fmt::format("arch {} type {}", static_cast<int>(arch), type));
      test::DumpSpec spec;
      spec.arch = arch;
      spec.dump_type = type;
      const auto p = dir / "b.dmp";
      test::write_dump(p, spec);
      auto r = verify::verify_dump(p.string());
      for (const auto& c : r.checks) {
        if (c.id.starts_with("header.") || c.id.starts_with("layout.")) {
          EXPECT_EQ(c.status, CheckStatus::pass) << c.id << ": " << c.message;
        }
      }
      EXPECT_FALSE(r.find("layout.file_size").empty());
    }
  }
}

TEST(VerifyBuilders, TriageDumpPassesAndAMissingMarkerFails) {
  TempDir dir;
  auto spec = test::typical_triage_spec(true);
  auto built = test::build_triage_dump(spec);
  write_bytes(dir / "t.dmp", built.bytes);
  auto r = verify::verify_dump((dir / "t.dmp").string());
  EXPECT_EQ(test::only_check(r, "layout.triage_marker").status, CheckStatus::pass);
  EXPECT_EQ(test::only_check(r, "layout.triage").status, CheckStatus::pass) << test::only_check(r, "layout.triage").message;

  spec.write_marker = false;
  built = test::build_triage_dump(spec);
  write_bytes(dir / "nomarker.dmp", built.bytes);
  r = verify::verify_dump((dir / "nomarker.dmp").string());
  EXPECT_EQ(test::failing_ids(r), std::vector<std::string>{"layout.triage_marker"});
  EXPECT_EQ(test::only_check(r, "layout.triage_marker").message,
            fmt::format("file offset {:#x} (ValidOffset) holds 0x00000000; expected the 'TRGD' marker that says the "
                        "small dump was completely written",
                        built.layout.valid_offset));
}

TEST(VerifyKernelSymbols, MissingMismatchedAndMatchingKernelPdb) {
  TempDir dir;
  synth::GuestSpec spec;
  spec.ram_mib = 192;
  auto guest = synth::build_guest(spec);
  auto sys = discover_system(guest);
  CompleteDumpOptions o;
  o.output = (dir / "k.dmp").string();
  o.quiet = true;
  write_complete_dump(guest, sys, o);
  const auto& t = guest.truth;
  const fs::path store = dir / "store";
  fs::create_directories(store);
  verify::VerifyOptions vo;
  vo.symbols = store.string();

  auto r = verify::verify_dump(o.output, vo);
  EXPECT_EQ(test::failing_ids(r), std::vector<std::string>{"symbols.kernel"});
  EXPECT_EQ(test::only_check(r, "symbols.kernel").message,
            "ntoskrnl.exe: Failed to load the correct symbols: " + t.pdb_symbol_path + " is not in " + store.string());

  // The right name and key, but a PDB of another build inside.
  auto wrong = guid_bytes(t.pdb_guid);
  wrong[15] ^= 0xFF;
  const fs::path pdb = store / t.pdb_name / (t.pdb_guid + fmt::format("{:X}", t.pdb_age)) / t.pdb_name;
  write_bytes(pdb, make_pdb(wrong, t.pdb_age, t.pdb_age));
  r = verify::verify_dump(o.output, vo);
  EXPECT_EQ(test::failing_ids(r), std::vector<std::string>{"symbols.kernel"});
  EXPECT_NE(test::only_check(r, "symbols.kernel").message.find("Failed to load the correct symbols: " + pdb.string() +
                                                               " does not match"),
            std::string::npos)
      << test::only_check(r, "symbols.kernel").message;

  // The matching PDB, looked up with another case.
  fs::remove_all(store / t.pdb_name);
  std::string upper = t.pdb_name;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  write_bytes(store / upper / (t.pdb_guid + fmt::format("{:X}", t.pdb_age)) / upper,
              make_pdb(guid_bytes(t.pdb_guid), t.pdb_age + 2, t.pdb_age));
  r = verify::verify_dump(o.output, vo);
  EXPECT_TRUE(r.passed()) << test::summary(r);
  EXPECT_EQ(test::only_check(r, "symbols.kernel").status, CheckStatus::pass);
}

}  // namespace
