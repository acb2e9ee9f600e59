// `pagedump header`, `attach` and `convert` from the files users have (QEMU ELF, raw, LiME),
// checked with pagedump's own `info` and `read` against the guests' ground truth.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pagedump/synth/guest.h"
#include "guest_images.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/writer/complete_dump.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
using nlohmann::json;
using ::testing::HasSubstr;

namespace {

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

CommandResult pagedump_cmd(const std::string& args) {
  return run_command(std::string(cli_path()) + " " + args);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

GuestSpec small_guest(GuestArch arch, bool encoded, bool cpus, std::uint32_t ram = 256) {
  GuestSpec s;
  s.arch = arch;
  s.kdbg_encoded = arch == GuestArch::x64 && encoded;
  s.low_stub = false;
  s.cpu_state = cpus;
  s.ram_mib = ram;
  return s;
}

// The image file and the extra options pagedump needs to open it.
struct ImageFile {
  std::filesystem::path path;
  std::string options;
};

ImageFile write_image(const Guest& g, GuestImageFormat f, const TempDir& dir, const char* name) {
  ImageFile out{write_guest_image(g, f, dir / name), ""};
  if (f == GuestImageFormat::raw) out.options = " --memory-map " + q(out.path.string() + ".map");
  return out;
}

struct Case {
  const char* name;
  GuestArch arch;
  bool encoded;
  bool cpus;
  GuestImageFormat format;
};

}  // namespace

class ConvertCli : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertCli, CompleteDumpCarriesTheGroundTruth) {
  const auto& c = GetParam();
  TempDir dir;
  auto g = build_guest(small_guest(c.arch, c.encoded, c.cpus));
  const auto& t = g.truth;
  auto img = write_image(g, c.format, dir, "image");
  const auto out = dir / "out.dmp";
  auto r = pagedump_cmd("convert " + q(img.path) + img.options + " -o " + q(out) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto res = json::parse(r.out);
  EXPECT_EQ(res["output"], out.string());
  EXPECT_EQ(res["dump_type"], 1);
  EXPECT_EQ(res["pages"], g.total_bytes() / 0x1000);
  EXPECT_EQ(res["bytes_written"], std::filesystem::file_size(out));
  EXPECT_TRUE(res["seconds"].is_number());

  r = pagedump_cmd("info --json " + q(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  const bool x64 = c.arch == GuestArch::x64;
  const std::uint64_t m = x64 ? ~0ull : 0xFFFFFFFFull;
  EXPECT_EQ(j["format"], x64 ? "PAGEDU64" : "PAGEDUMP");
  EXPECT_EQ(j["dump_type"], 1);
  EXPECT_EQ(j["minor_version"], t.build);
  EXPECT_EQ(j["machine_image_type"], t.machine);
  EXPECT_EQ(j["directory_table_base"], t.dtb);
  EXPECT_EQ(j["kd_debugger_data_block"], t.kdbg_va & m);
  EXPECT_EQ(j["ps_loaded_module_list"], t.ps_loaded_module_list);
  EXPECT_EQ(j["ps_active_process_head"], t.ps_active_process_head);
  EXPECT_EQ(j["number_processors"], t.cpus.size());
  EXPECT_EQ(j["required_dump_space"], std::filesystem::file_size(out));
  EXPECT_EQ(j["bugcheck"]["code"], 0xE2);
  EXPECT_EQ(j["bugcheck"]["name"], "MANUALLY_INITIATED_CRASH");
  EXPECT_EQ(j["exception"]["code"], 0x80000003u);
  EXPECT_EQ(j["exception"]["flags"], 1);
  EXPECT_EQ(j["exception"]["address"], t.cpus[0].rip);
  EXPECT_THAT(j["comment"].get<std::string>(),
              HasSubstr("pagedump " PAGEDUMP_VERSION " from a " + to_string(c.format)));
  if (!x64) {
    EXPECT_EQ(j["pae_enabled"], true);
  }
  EXPECT_EQ(j["physical_memory"]["number_of_runs"], t.memory_map.size());
  ASSERT_EQ(j["cpus"].size(), t.cpus.size());
  for (std::size_t i = 0; i < t.cpus.size(); ++i) {
    EXPECT_EQ(j["cpus"][i]["prcb"], t.cpus[i].prcb);
    EXPECT_EQ(j["cpus"][i]["context"][x64 ? "rip" : "eip"], t.cpus[i].rip);
    EXPECT_EQ(j["cpus"][i]["context"][x64 ? "rsp" : "esp"], t.cpus[i].rsp);
  }
  // The KDBG at the header's address is decoded, as a debugger needs it.
  r = pagedump_cmd(fmt::format("read {} --va {:#x} --length 4 --raw", q(out),
                               (t.kdbg_va & m) + 0x10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "KDBG");
  // A page of the source, byte for byte (KUSER_SHARED_DATA).
  std::vector<std::byte> src(0x1000);
  ASSERT_TRUE(g.read_physical(t.kuser_pa, src).ok());
  r = pagedump_cmd(fmt::format("read {} --pa {:#x} --length 4096 --raw", q(out), t.kuser_pa));
  ASSERT_EQ(r.out.size(), 0x1000u);
  EXPECT_EQ(std::memcmp(r.out.data(), src.data(), 0x1000), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ConvertCli,
    ::testing::Values(Case{"X64EncodedCpusElf", GuestArch::x64, true, true, GuestImageFormat::elf_qemu},
                      Case{"X64EncodedLime", GuestArch::x64, true, false, GuestImageFormat::lime},
                      Case{"X64PlainRaw", GuestArch::x64, false, false, GuestImageFormat::raw},
                      Case{"X86PaeCpusElf", GuestArch::x86_pae, false, true, GuestImageFormat::elf_qemu},
                      Case{"X86PaeRaw", GuestArch::x86_pae, false, false, GuestImageFormat::raw}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(HeaderAttachCli, AttachToAHeaderMadeEarlierEqualsConvert) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto img = write_image(g, GuestImageFormat::elf_qemu, dir, "image.elf");
  auto r = pagedump_cmd("header " + q(img.path) + " -o " + q(dir / "h.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("STATUS_SUCCESS (0x00000000), BufferNeeded 0x2000"));
  EXPECT_EQ(std::filesystem::file_size(dir / "h.bin"), 0x2000u);
  r = pagedump_cmd("attach --header " + q(dir / "h.bin") + " " + q(img.path) + " -o " +
                   q(dir / "attached.dmp") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = pagedump_cmd("convert " + q(img.path) + " -o " + q(dir / "converted.dmp") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(slurp(dir / "attached.dmp") == slurp(dir / "converted.dmp"));
}

TEST(HeaderAttachCli, HeaderForADifferentMemorySizeIsRefused) {
  TempDir dir;
  auto small = build_guest(small_guest(GuestArch::x64, true, true, 256));
  auto large = build_guest(small_guest(GuestArch::x64, true, true, 384));
  auto img_small = write_image(small, GuestImageFormat::elf_qemu, dir, "small.elf");
  auto img_large = write_image(large, GuestImageFormat::elf_qemu, dir, "large.elf");
  ASSERT_EQ(pagedump_cmd("header " + q(img_small.path) + " -o " + q(dir / "h.bin")).exit_code, 0);
  auto r = pagedump_cmd("attach --header " + q(dir / "h.bin") + " " + q(img_large.path) + " -o " +
                        q(dir / "out.dmp"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("the image's physical memory no longer matches the header's runs "
                               "(RAM changed since the header was made): recreate the header"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out.dmp"));
}

TEST(HeaderAttachCli, ShortBufferIsTheRoutinesStatus) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto img = write_image(g, GuestImageFormat::elf_qemu, dir, "image.elf");
  auto r = pagedump_cmd("header " + q(img.path) + " -o " + q(dir / "h.bin") +
                        " --buffer-size 0x1000 --json");
  EXPECT_EQ(r.exit_code, 1);
  auto j = json::parse(r.out);
  EXPECT_EQ(j["status"], 0xC0000023u);
  EXPECT_EQ(j["status_name"], "STATUS_BUFFER_TOO_SMALL");
  EXPECT_EQ(j["buffer_needed"], 0x2000);
  EXPECT_TRUE(j["output"].is_null());
  EXPECT_FALSE(std::filesystem::exists(dir / "h.bin"));
}

TEST(ConvertCliSafety, ExistingFileUnchangedWithoutForce) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto img = write_image(g, GuestImageFormat::elf_qemu, dir, "image.elf");
  { std::ofstream(dir / "out.dmp") << "keep me"; }
  auto r = pagedump_cmd("convert " + q(img.path) + " -o " + q(dir / "out.dmp"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("the file exists; use --force to replace it"));
  EXPECT_EQ(slurp(dir / "out.dmp"), "keep me");
  r = pagedump_cmd("convert " + q(img.path) + " -o " + q(dir / "out.dmp") + " --force --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(dir / "out.dmp").substr(0, 8), "PAGEDU64");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2u);  // the image and the dump: no temporary left behind
}

// One --bugcheck parser serves every dump type: a malformed value is a usage error (exit 2).
TEST(ConvertCliSafety, MalformedBugcheckIsAUsageErrorForEveryType) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto img = write_image(g, GuestImageFormat::elf_qemu, dir, "image.elf");
  for (const char* type : {"full", "kernel", "small"}) {
    SCOPED_TRACE(type);
    auto r = pagedump_cmd("convert " + q(img.path) + " --type " + type + " -o " +
                          q(dir / "out.dmp") + " --bugcheck 0x1a,zz");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--bugcheck takes CODE[,P1,P2,P3,P4] with a 32-bit code, not "
                                 "'0x1a,zz'"));
    r = pagedump_cmd("convert " + q(img.path) + " --type " + type + " -o " + q(dir / "out.dmp") +
                     " --bugcheck 0x100000000");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--bugcheck takes CODE[,P1,P2,P3,P4] with a 32-bit code"));
    EXPECT_FALSE(std::filesystem::exists(dir / "out.dmp"));
  }
}

// --no-sync changes when the bytes reach the disk, never which bytes are written.
TEST(ConvertCliSafety, NoSyncWritesTheSameDumpOfEveryType) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto img = write_image(g, GuestImageFormat::elf_qemu, dir, "image.elf");
  for (const char* type : {"full", "bitmap", "kernel"}) {
    SCOPED_TRACE(type);
    const std::string base = "convert " + q(img.path) + " --quiet --type " + type + " -o ";
    auto r = pagedump_cmd(base + q(dir / "synced.dmp") + " --force");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = pagedump_cmd(base + q(dir / "unsynced.dmp") + " --force --no-sync");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string synced = slurp(dir / "synced.dmp");
    EXPECT_GT(synced.size(), 0x2000u);
    EXPECT_TRUE(synced == slurp(dir / "unsynced.dmp"));
  }
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 3u);  // the image and the two dumps
}

TEST(ConvertSpace, NotEnoughRoomFailsBeforeWritingAndLeavesNothing) {
  TempDir dir;
  auto g = build_guest(small_guest(GuestArch::x64, true, true));
  auto sys = discover_system(g);
  CompleteDumpOptions o;
  o.output = (dir / "out.dmp").string();
  o.quiet = true;
  std::string asked;
  o.free_space = [&](const std::string& p) {
    asked = p;
    return std::uint64_t(100) << 20;
  };
  const std::uint64_t need = 0x2000 + g.total_bytes();
  try {
    write_complete_dump(g, sys, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_THAT(e.what(), HasSubstr(fmt::format(
                              "not enough free space for the dump: it needs {} bytes (physical "
                              "memory {} + header 8192), the target has {} free; nothing was "
                              "written",
                              need, g.total_bytes(), 100u << 20)));
  }
  EXPECT_EQ(asked, o.output);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}
