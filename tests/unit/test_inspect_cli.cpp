// `pagedump inspect` on synthetic Windows guests written as the files users have (raw with a
// memory map, QEMU ELF core, LiME), against the guests' ground truth; and on images that hold
// no Windows kernel, which must fail with an explanation per strategy.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include <fmt/format.h>

#include "pagedump/synth/guest.h"
#include "guest_images.h"
#include "image_writers.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"
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

struct Case {
  const char* name;
  GuestSpec spec;
  GuestImageFormat format;
};

GuestSpec spec_of(bool x64, bool encoded, bool low_stub, bool cpus, bool crashed = false,
                  bool pcid = false) {
  GuestSpec s;
  s.arch = x64 ? GuestArch::x64 : GuestArch::x86_pae;
  s.kdbg_encoded = encoded;
  s.low_stub = low_stub;
  s.cpu_state = cpus;
  s.crashed = crashed;
  s.pcid = pcid;
  s.ram_mib = 256;
  return s;
}

json inspect(const Guest& g, GuestImageFormat format, const TempDir& dir,
             const std::string& extra = "") {
  auto path = write_guest_image(g, format, dir / "image");
  std::string args = "inspect --json " + q(path) + " " + extra;
  if (format == GuestImageFormat::raw) args += " --memory-map " + q(dir / "image.map");
  auto r = pagedump_cmd(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json();
}

void expect_ground_truth(const json& j, const Guest& g, bool captured) {
  const auto& t = g.truth;
  const bool x64 = t.arch == GuestArch::x64;
  const std::uint64_t m = x64 ? ~0ull : 0xFFFFFFFFull;
  EXPECT_EQ(j["architecture"], x64 ? "x64" : "x86");
  EXPECT_EQ(j["directory_table_base"], t.dtb);
  EXPECT_FALSE(j["dtb_method"].get<std::string>().empty());
  EXPECT_EQ(j["kernel_base"], t.kernel_base);
  EXPECT_EQ(j["kernel_pdb"]["name"], t.pdb_name);
  EXPECT_EQ(j["kernel_pdb"]["guid"], t.pdb_guid);
  EXPECT_EQ(j["kernel_pdb"]["age"], t.pdb_age);
  EXPECT_EQ(j["kdbg"]["address"], t.kdbg_va & m);
  EXPECT_EQ(j["kdbg"]["encoded"], t.kdbg_encoded);
  EXPECT_EQ(j["build"], t.build);
  EXPECT_EQ(j["major_version"], 0xF);
  EXPECT_EQ(j["machine_image_type"], t.machine);
  EXPECT_EQ(j["number_processors"], t.cpus.size());
  EXPECT_EQ(j["ps_loaded_module_list"].get<std::uint64_t>() & m, t.ps_loaded_module_list);
  EXPECT_EQ(j["ps_active_process_head"].get<std::uint64_t>() & m, t.ps_active_process_head);
  EXPECT_EQ(j["mm_pfn_database"].get<std::uint64_t>() & m, t.mm_pfn_database_va);
  EXPECT_EQ(j["product_type"], t.nt_product_type);
  EXPECT_EQ(j["suite_mask"], t.suite_mask);
  EXPECT_EQ(j["system_time"], t.system_time);
  ASSERT_EQ(j["physical_memory_runs"].size(), t.memory_map.size());
  for (std::size_t i = 0; i < t.memory_map.size(); ++i) {
    EXPECT_EQ(j["physical_memory_runs"][i]["base_page"], t.memory_map[i].base / 0x1000);
    EXPECT_EQ(j["physical_memory_runs"][i]["page_count"], t.memory_map[i].size / 0x1000);
  }
  ASSERT_EQ(j["cpus"].size(), t.cpus.size());
  for (std::size_t i = 0; i < t.cpus.size(); ++i) {
    const auto& c = j["cpus"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["prcb"], t.cpus[i].prcb);
    EXPECT_EQ(c["context"][x64 ? "rip" : "eip"], t.cpus[i].rip);
    EXPECT_EQ(c["context"][x64 ? "rsp" : "esp"], t.cpus[i].rsp);
    EXPECT_THAT(c["context_source"].get<std::string>(),
                HasSubstr(captured ? "captured" : "memory"));
  }
  if (t.bugcheck_code) {
    EXPECT_EQ(j["bugcheck"]["code"], t.bugcheck_code);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(j["bugcheck"]["parameters"][i], t.bugcheck_parameters[i]);
  } else {
    EXPECT_TRUE(j["bugcheck"].is_null());
  }
  ASSERT_EQ(j["modules"].size(), t.modules.size());
  for (std::size_t i = 0; i < t.modules.size(); ++i) {
    EXPECT_EQ(j["modules"][i]["name"], t.modules[i].base_name);
    EXPECT_EQ(j["modules"][i]["path"], t.modules[i].full_name);
    EXPECT_EQ(j["modules"][i]["base"], t.modules[i].base);
    EXPECT_EQ(j["modules"][i]["size"], t.modules[i].size);
  }
  ASSERT_EQ(j["processes"].size(), t.processes.size());
  for (std::size_t i = 0; i < t.processes.size(); ++i) {
    EXPECT_EQ(j["processes"][i]["pid"], t.processes[i].pid);
    EXPECT_EQ(j["processes"][i]["name"], t.processes[i].name);
    EXPECT_EQ(j["processes"][i]["eprocess"], t.processes[i].eprocess);
    EXPECT_EQ(j["processes"][i]["directory_table_base"].get<std::uint64_t>() & ~0xFFFull,
              t.processes[i].dtb & ~0xFFFull);
  }
}

}  // namespace

class InspectCli : public ::testing::TestWithParam<Case> {};

TEST_P(InspectCli, ReportsEveryGroundTruthValue) {
  TempDir dir;
  const auto& c = GetParam();
  auto g = build_guest(c.spec);
  auto j = inspect(g, c.format, dir);
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["source"]["format"], to_string(c.format) == "raw" ? "raw" : to_string(c.format));
  // Captured registers come only with a format that carries them (not raw or LiME).
  const bool captured = c.spec.cpu_state && c.format == GuestImageFormat::elf_qemu;
  expect_ground_truth(j, g, captured);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, InspectCli,
    ::testing::Values(
        Case{"X64EncodedLowStubCpusElf", spec_of(true, true, true, true), GuestImageFormat::elf_qemu},
        Case{"X64EncodedLowStubRaw", spec_of(true, true, true, true), GuestImageFormat::raw},
        Case{"X64EncodedLime", spec_of(true, true, true, true), GuestImageFormat::lime},
        Case{"X64PlainNoLowStubElfCpus", spec_of(true, false, false, true), GuestImageFormat::elf_qemu},
        Case{"X64PlainNoLowStubRaw", spec_of(true, false, false, false), GuestImageFormat::raw},
        Case{"X64EncodedNoLowStubNoCpusLime", spec_of(true, true, false, false), GuestImageFormat::lime},
        Case{"X64CrashedPcidElf", spec_of(true, true, false, true, true, true), GuestImageFormat::elf_qemu},
        Case{"X86PaeElfCpus", spec_of(false, false, false, true), GuestImageFormat::elf_qemu},
        Case{"X86PaeRaw", spec_of(false, false, false, false), GuestImageFormat::raw}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(InspectCliDetail, DecoysBelowTheKernelAreRejectedWithAReason) {
  TempDir dir;
  auto spec = spec_of(true, true, false, false);
  auto g = build_guest(spec);
  ASSERT_EQ(g.truth.decoy_bases.size(), 2u);
  auto j = inspect(g, GuestImageFormat::raw, dir, "--verbose");
  EXPECT_EQ(j["kernel_base"], g.truth.kernel_base);
  std::string log;
  for (const auto& line : j["log"]) log += line.get<std::string>() + "\n";
  EXPECT_THAT(log, HasSubstr(fmt::format("MZ at {:#x} is not the kernel: export name "
                                         "'notkernel.sys'",
                                         g.truth.decoy_bases[1])));
  EXPECT_THAT(log, HasSubstr(fmt::format("MZ at {:#x} is not the kernel", g.truth.decoy_bases[0])));
}

TEST(InspectCliDetail, ExpertKdbgOverrides) {
  TempDir dir;
  auto g = build_guest(spec_of(true, true, true, true));
  const auto& k = g.truth.keys;
  auto j = inspect(g, GuestImageFormat::raw, dir,
                   fmt::format("--kdbg {:#x} --kdbg-keys {:#x},{:#x},{:#x}", g.truth.kdbg_va,
                               k.wait_never, k.wait_always, k.encoded_flag_va));
  EXPECT_EQ(j["kdbg"]["method"], "--kdbg with --kdbg-keys");
  EXPECT_EQ(j["kdbg"]["address"], g.truth.kdbg_va);
  EXPECT_EQ(j["kdbg"]["encoded"], true);
  // A wrong --kdbg is explained and discovery finds the block itself.
  j = inspect(g, GuestImageFormat::raw, dir, "--verbose --kdbg 0xfffff8047c600000");
  EXPECT_EQ(j["kdbg"]["address"], g.truth.kdbg_va);
  EXPECT_THAT(j["kdbg"]["method"].get<std::string>(), HasSubstr("KdCopyDataBlock"));
  auto r = pagedump_cmd("inspect " + q(dir / "image") + " --kdbg-keys 1,2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--kdbg-keys takes three numbers"));
}

// 16 GiB of address space (the guest, then a sparse tail): discovery reads what it needs.
TEST(InspectCliDetail, SixteenGiBSparseImageReadsLittle) {
  TempDir dir;
  auto g = build_guest(spec_of(true, true, false, false));
  auto path = write_guest_image(g, GuestImageFormat::raw, dir / "image");
  ASSERT_EQ(::truncate(path.c_str(), 16ll << 30), 0);
  auto r = pagedump_cmd("inspect --json --verbose " + q(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["source"]["ranges"][0]["size"], 16ull << 30);
  EXPECT_EQ(j["kernel_base"], g.truth.kernel_base);
  EXPECT_LT(j["bytes_read"].get<std::uint64_t>(), 64ull << 20);
  auto text = pagedump_cmd("inspect --verbose " + q(path));
  EXPECT_THAT(text.out, HasSubstr("bytes read from the image: "));
}

TEST(InspectCliNoWindows, AllZeroFourGiBImage) {
  TempDir dir;
  auto path = dir / "zero.raw";
  { std::ofstream(path.string()); }
  ASSERT_EQ(::truncate(path.c_str(), 4ll << 30), 0);
  auto r = pagedump_cmd("inspect " + q(path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no Windows kernel found: no page-table root leads to ntoskrnl"));
  EXPECT_THAT(r.err, HasSubstr("dtb: x64 low stub: no PROCESSOR_START_BLOCK in the first MiB"));
  EXPECT_THAT(r.err, HasSubstr("dtb: scan of the first GiB: 0 self-referencing PML4s, 0 PAE "
                               "PDPTs, 0 non-PAE page directories"));
}

TEST(InspectCliNoWindows, RandomBytes) {
  TempDir dir;
  auto path = dir / "random.raw";
  std::mt19937_64 rng(42);
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < (8 << 20) / 8; ++i) {
      auto v = rng();
      out.write(reinterpret_cast<const char*>(&v), 8);
    }
  }
  auto r = pagedump_cmd("inspect " + q(path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no Windows kernel found"));
  EXPECT_THAT(r.err, HasSubstr("dtb: scan of the first GiB"));
}

// A Linux-like machine: 4-level page tables without a self-map, a kernel text mapping at
// 0xffffffff81000000, and a captured CPU in kernel mode whose CR3 is that root.
TEST(InspectCliNoWindows, LinuxLikeImage) {
  TempDir dir;
  MemoryImage mem;
  mem.map(0, 64 << 20);
  PageTableBuilder pt(mem, PagingMode::x64_4level, 0x100000, 0x100000);
  pt.map(0xffffffff81000000ull, 0x1000000, 0x200000, 0x200000);
  const char banner[] = "Linux version 6.1.0-13-amd64";
  mem.write(0x1000000, std::as_bytes(std::span(banner)));
  CpuState cpu;
  cpu.cr3 = pt.dtb();
  cpu.cr4 = 0x20;
  cpu.efer = 0x500;
  cpu.seg[CpuState::cs].selector = 0x10;
  cpu.rip = 0xffffffff81000100ull;
  images::Image image;
  image.ranges.push_back({0, 64 << 20, [&](std::uint64_t pa, std::span<std::byte> out) {
                            mem.read_physical(pa, out);
                          }});
  image.cpus.push_back(cpu);
  images::write_elf_qemu(dir / "linux.elf", image);
  auto r = pagedump_cmd("inspect " + q(dir / "linux.elf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(fmt::format("dtb: cpu 0 CR3 (kernel mode) gives {:#x}: rejected, "
                                           "KUSER_SHARED_DATA does not map",
                                           pt.dtb())));
  EXPECT_THAT(r.err, HasSubstr("no Windows kernel found"));
}

TEST(InspectCliNotSupportedYet, FiveLevelPaging) {
  TempDir dir;
  CpuState cpu;
  cpu.cr3 = 0x1000;
  cpu.cr4 = 0x1020;  // PAE | LA57
  cpu.efer = 0x500;
  cpu.seg[CpuState::cs].selector = 0x10;
  images::Image image;
  image.ranges.push_back(images::zero_range(0, 16 << 20));
  image.cpus.push_back(cpu);
  images::write_elf_qemu(dir / "la57.elf", image);
  auto r = pagedump_cmd("inspect " + q(dir / "la57.elf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cpu 0 uses 5-level paging (CR4.LA57): not supported yet"));
}

TEST(InspectCliNotSupportedYet, Arm64Guest) {
  TempDir dir;
  images::Image image;
  image.ranges.push_back(images::zero_range(0x40000000, 16 << 20));
  images::ElfOptions o;
  o.machine = 183;  // EM_AARCH64
  o.prstatus = false;
  o.qemu_notes = false;
  images::write_elf_qemu(dir / "arm64.elf", image, o);
  auto r = pagedump_cmd("inspect " + q(dir / "arm64.elf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("ARM64 images are not supported yet"));
}
