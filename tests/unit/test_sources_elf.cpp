// ELF cores: QEMU dump-guest-memory layout (ELF64 and ELF32, x86-64 and i386 NT_PRSTATUS,
// QEMU notes old and new), VirtualBox cores, and malformed variants.
#include <gtest/gtest.h>

#include "image_writers.h"
#include "pagedump/format/elf_core.h"
#include "pagedump/sources/open_image.h"
#include "sources_test_util.h"
#include "support/temp_dir.h"

namespace pagedump::test {
namespace {

using images::address_pattern_range;
using images::Image;

void expect_full_state(const CpuState& got, const CpuState& want) {
  EXPECT_EQ(got.index, want.index);
  EXPECT_EQ(got.arch, want.arch);
  EXPECT_EQ(got.gpr, want.gpr);
  EXPECT_EQ(got.rip, want.rip);
  EXPECT_EQ(got.rflags, want.rflags);
  for (int s = 0; s < 6; ++s) {
    SCOPED_TRACE(s);
    EXPECT_EQ(got.seg[s].selector, want.seg[s].selector);
    EXPECT_EQ(got.seg[s].base, want.seg[s].base);
    EXPECT_EQ(got.seg[s].limit, want.seg[s].limit);
    EXPECT_EQ(got.seg[s].attributes, want.seg[s].attributes);
  }
  EXPECT_EQ(got.cr0, want.cr0);
  EXPECT_EQ(got.cr2, want.cr2);
  EXPECT_EQ(got.cr3, want.cr3);
  EXPECT_EQ(got.cr4, want.cr4);
  EXPECT_EQ(got.gdtr.base, want.gdtr.base);
  EXPECT_EQ(got.gdtr.limit, want.gdtr.limit);
  EXPECT_EQ(got.idtr.base, want.idtr.base);
  EXPECT_EQ(got.idtr.limit, want.idtr.limit);
  EXPECT_EQ(got.gs_base, want.seg[CpuState::gs].base);
}

Image qemu_like_image(std::vector<CpuState> cpus) {
  // QEMU's pc layout in miniature: RAM below the VGA hole, RAM from 1 MiB, RAM above 4 GiB.
  return {{address_pattern_range(0, 0xa0000), address_pattern_range(0x100000, 0x100000),
           address_pattern_range(0x100000000ull, 0x10000)},
          std::move(cpus)};
}

TEST(ElfQemu, X64CoreRangesBytesAndRegisters) {
  TempDir dir;
  auto img = qemu_like_image({sample_cpu64(0), sample_cpu64(1), sample_cpu64(2)});
  images::write_elf_qemu(dir / "c.elf", img);
  auto m = open_image((dir / "c.elf").string());
  EXPECT_EQ(m->format_name(), "elf-qemu");
  ASSERT_EQ(m->ranges().size(), 3u);
  EXPECT_EQ(m->ranges()[0], (PhysicalRange{0, 0xa0000}));
  EXPECT_EQ(m->ranges()[1], (PhysicalRange{0x100000, 0x100000}));
  EXPECT_EQ(m->ranges()[2], (PhysicalRange{0x100000000ull, 0x10000}));
  EXPECT_EQ(m->total_bytes(), 0x1b0000u);
  EXPECT_EQ(read_bytes(*m, 0x9fff0, 16), expected_pattern(0x9fff0, 16));
  EXPECT_EQ(read_bytes(*m, 0x1ffff8, 8), expected_pattern(0x1ffff8, 8));
  EXPECT_EQ(read_bytes(*m, 0x10000fff0ull, 16), expected_pattern(0x10000fff0ull, 16));
  std::vector<std::byte> b(0x20);
  ReadResult r = m->read_physical(0x9fff0, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0xa0000u);
  ASSERT_EQ(m->cpus().size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    expect_full_state(m->cpus()[i], sample_cpu64(i));
    EXPECT_EQ(m->cpus()[i].kernel_gs_base, sample_cpu64(i).kernel_gs_base);
    EXPECT_FALSE(m->cpus()[i].efer.has_value());  // QEMU's notes do not carry EFER
  }
}

TEST(ElfQemu, I386GuestInElf32CoreAndOlderQemuNote) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x9f000), address_pattern_range(0x100000, 0x300000)},
            {sample_cpu32(0), sample_cpu32(1)}};
  images::ElfOptions o;
  o.elf64 = false;
  o.qemu_note_size = 0x1b0;  // before kernel_gs_base was appended
  images::write_elf_qemu(dir / "c32.elf", img, o);
  auto m = open_image((dir / "c32.elf").string());
  EXPECT_EQ(m->format_name(), "elf-qemu");
  EXPECT_EQ(read_bytes(*m, 0x3ffff0, 16), expected_pattern(0x3ffff0, 16));
  ASSERT_EQ(m->cpus().size(), 2u);
  expect_full_state(m->cpus()[1], sample_cpu32(1));
  EXPECT_FALSE(m->cpus()[1].kernel_gs_base.has_value());
  const auto regs = m->cpus()[1].named_registers();
  EXPECT_EQ(regs[0].first, "eax");
  EXPECT_EQ(regs[0].second, 0x81010000u);
}

TEST(ElfQemu, PrstatusOnlyGivesGeneralRegistersI386LayoutInElf64) {
  TempDir dir;
  // QEMU writes the i386 prstatus for a guest outside long mode, even in an ELF64 core.
  Image img{{address_pattern_range(0, 0x1000)}, {sample_cpu32(0)}};
  images::ElfOptions o;
  o.qemu_notes = false;
  images::write_elf_qemu(dir / "p.elf", img, o);
  auto m = open_image((dir / "p.elf").string());
  EXPECT_EQ(m->format_name(), "elf");
  ASSERT_EQ(m->cpus().size(), 1u);
  const CpuState& c = m->cpus()[0];
  EXPECT_EQ(c.arch, CpuArch::x86);
  EXPECT_EQ(c.gpr, sample_cpu32(0).gpr);
  EXPECT_EQ(c.rip, 0x80501234u);
  EXPECT_EQ(c.seg[CpuState::cs].selector, 0x08);
  EXPECT_EQ(c.seg[CpuState::fs].selector, 0x30);
  EXPECT_EQ(c.cr3, 0u);  // not in NT_PRSTATUS
}

TEST(ElfQemu, PrstatusOnlyX64CarriesFsAndGsBase) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x1000)}, {sample_cpu64(0)}};
  images::ElfOptions o;
  o.qemu_notes = false;
  images::write_elf_qemu(dir / "p.elf", img, o);
  auto m = open_image((dir / "p.elf").string());
  ASSERT_EQ(m->cpus().size(), 1u);
  const CpuState& c = m->cpus()[0];
  EXPECT_EQ(c.arch, CpuArch::x64);
  EXPECT_EQ(c.gpr, sample_cpu64(0).gpr);
  EXPECT_EQ(c.seg[CpuState::fs].base, 0x7ff000u);
  EXPECT_EQ(c.gs_base, 0xfffff80011110000ull);
}

class ElfMalformed : public ::testing::Test {
 protected:
  TempDir dir;
  std::filesystem::path p = dir / "c.elf";
  std::string path = p.string();
  images::ElfInfo info;
  void SetUp() override { rewrite(); }
  void rewrite() { info = images::write_elf_qemu(p, qemu_like_image({sample_cpu64(0), sample_cpu64(1)})); }
  std::uint64_t phdr(int i) const { return info.phoff + std::uint64_t(i) * info.phentsize; }
};

TEST_F(ElfMalformed, BadMagicIsNotElf) {
  images::patch_value<std::uint8_t>(p, 1, 'X');
  EXPECT_EQ(detect_image_format(InputFile(path)), "raw");
  expect_error([&] { open_image(path, {.format = "elf-qemu", .memory_map = {}}); }, ErrorKind::not_a_dump,
               {"not an ELF file"});
}

TEST_F(ElfMalformed, NotACoreOrWrongMachine) {
  images::patch_value<std::uint16_t>(p, 16, 2);
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"not a core file"});
  rewrite();
  images::patch_value<std::uint16_t>(p, 18, 40);  // EM_ARM
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"machine 40"});
  rewrite();
  images::patch_value<std::uint16_t>(p, 18, 183);  // EM_AARCH64: named, and not yet supported
  expect_error([&] { open_image(path); }, ErrorKind::unsupported,
               {"ARM64 (AArch64) guest", "not supported yet"});
}

TEST_F(ElfMalformed, AbsurdProgramHeaderCountAndTableOffEnd) {
  images::patch_value<std::uint16_t>(p, 0x38, 0);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"0 program headers"});
  rewrite();
  images::patch_value<std::uint64_t>(p, 0x20, std::filesystem::file_size(p) - 8);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"program headers at file offset", "past the end"});
  rewrite();
  images::patch_value<std::uint16_t>(p, 0x36, 32);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"e_phentsize is 32, expected 56"});
}

TEST_F(ElfMalformed, OverlappingLoads) {
  // Segment 2 (RAM from 1 MiB) moved to start inside segment 1.
  images::patch_value<std::uint64_t>(p, phdr(2) + offsetof(format::Elf64Phdr, p_paddr), 0x90000);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent,
               {"PT_LOADs overlap", "0x0-0xa0000", "0x90000-0x190000"});
}

TEST_F(ElfMalformed, LoadPastEndOfFile) {
  std::filesystem::resize_file(p, info.data_offsets[2] + 0x8000);
  expect_error([&] { open_image(path); }, ErrorKind::truncated,
               {"physical 0x100000000-0x100010000", "past the end of the file"});
}

TEST_F(ElfMalformed, FileszLargerThanMemsz) {
  images::patch_value<std::uint64_t>(p, phdr(1) + offsetof(format::Elf64Phdr, p_memsz), 0x10);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"p_filesz 0xa0000 larger than p_memsz 0x10"});
}

TEST_F(ElfMalformed, NoteTruncatedOrAbsurd) {
  // The first note's descriptor size pushed past the PT_NOTE end.
  images::patch_value<std::uint32_t>(p, info.note_offsets[0] + 4, 0x10000);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"runs past the end of the PT_NOTE segment"});
  rewrite();
  images::patch_value<std::uint32_t>(p, info.note_offsets[0] + 4, 0x7fffffff);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"2147483647-byte descriptor"});
  rewrite();
  // PT_NOTE cut in the middle of a note header.
  images::patch_value<std::uint64_t>(p, phdr(0) + offsetof(format::Elf64Phdr, p_filesz), info.note_size - 4);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"PT_NOTE"});
}

TEST_F(ElfMalformed, QemuNoteInconsistencies) {
  // Notes: CORE, CORE, QEMU, QEMU. A QEMU note's version changed.
  const std::uint64_t qemu0_desc = info.note_offsets[2] + 12 + 8;
  images::patch_value<std::uint32_t>(p, qemu0_desc, 7);
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"QEMUCPUState version 7"});
  rewrite();
  images::patch_value<std::uint32_t>(p, qemu0_desc + 4, 0x5000);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"QEMUCPUState.size 20480"});
  rewrite();
  // The second prstatus renamed: one NT_PRSTATUS for two QEMU notes.
  images::patch_value<std::uint32_t>(p, info.note_offsets[1] + 8, 99);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"1 NT_PRSTATUS notes but 2 QEMU notes"});
}

TEST(ElfQemu, MoreCpusThanAnyMachineIsRejected) {
  TempDir dir;
  std::vector<CpuState> cpus;
  for (std::uint32_t i = 0; i < 4097; ++i) cpus.push_back(sample_cpu64(i));
  images::write_elf_qemu(dir / "c.elf", {{address_pattern_range(0, 0x1000)}, cpus});
  expect_error([&] { open_image((dir / "c.elf").string()); }, ErrorKind::inconsistent,
               {"4097 NT_PRSTATUS and 4097 QEMU notes", "at most 4096 CPUs"});
}

TEST(ElfVbox, CoreWithVbcpuNotesV6AndV5) {
  for (std::uint32_t version : {0x00010006u, 0x00010005u}) {
    SCOPED_TRACE(version);
    TempDir dir;
    std::vector<CpuState> cpus{sample_cpu64(0), sample_cpu64(1)};
    cpus[1].fcw = 0x27f;
    cpus[1].fsw = 0x1;
    cpus[1].ftw = 0x3;
    cpus[1].mxcsr = 0x1f80;
    Image img{{address_pattern_range(0, 0xa0000), address_pattern_range(0x100000, 0x10000)}, cpus};
    images::write_elf_vbox(dir / "v.core", img, {.format_version = version, .ext_size = 512});
    auto m = open_image((dir / "v.core").string());
    EXPECT_EQ(m->format_name(), "elf-vbox");
    ASSERT_EQ(m->ranges().size(), 2u);
    EXPECT_EQ(read_bytes(*m, 0x10fff0, 16), expected_pattern(0x10fff0, 16));
    ASSERT_EQ(m->cpus().size(), 2u);
    for (std::uint32_t i = 0; i < 2; ++i) {
      SCOPED_TRACE(i);
      expect_full_state(m->cpus()[i], cpus[i]);
      EXPECT_EQ(m->cpus()[i].efer, 0xd01u);
      EXPECT_EQ(m->cpus()[i].kernel_gs_base, cpus[i].kernel_gs_base);
    }
    EXPECT_EQ(m->cpus()[1].fcw, 0x27f);
    EXPECT_EQ(m->cpus()[1].fsw, 0x1);
    EXPECT_EQ(m->cpus()[1].ftw, 0x3);
    EXPECT_EQ(m->cpus()[1].mxcsr, 0x1f80u);
  }
}

TEST(ElfVbox, MalformedDescriptors) {
  TempDir dir;
  const auto p = dir / "v.core";
  const std::string path = p.string();
  Image img{{address_pattern_range(0, 0x1000)}, {sample_cpu64(0)}};
  auto info = images::write_elf_vbox(p, img);
  const std::uint64_t desc = info.note_offsets[0] + 12 + 8;  // "VBCORE\0" padded to 8
  images::patch_value<std::uint32_t>(p, desc, 0xdeadbeef);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"magic 0xdeadbeef", "0xc01ac0de"});
  images::write_elf_vbox(p, img);
  images::patch_value<std::uint32_t>(p, desc + 20, 100000);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"says 100000 CPUs", "1 VBCPU notes"});
  images::write_elf_vbox(p, img);
  images::patch_value<std::uint32_t>(p, desc + 4, 0x00020000);
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"format version 0x20000"});
}

}  // namespace
}  // namespace pagedump::test
