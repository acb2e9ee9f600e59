// Raw images (with and without a memory map), LiME, VMware, format recognition and the
// formats recognised but not read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "builders/dump/dump_builder.h"
#include "image_writers.h"
#include "pagedump/io/input_file.h"
#include "pagedump/sources/open_image.h"
#include "pagedump/sources/raw_image.h"
#include "sources_test_util.h"
#include "support/temp_dir.h"

namespace pagedump::test {
namespace {

using images::address_pattern_range;
using images::bytes_range;
using images::Image;
using images::zero_range;

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(RawImage, WholeFileIsOneRangeAndReadsBack) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x5000)}, {}};
  images::write_raw(dir / "m.raw", img);
  auto m = open_image((dir / "m.raw").string());
  EXPECT_EQ(m->format_name(), "raw");
  ASSERT_EQ(m->ranges().size(), 1u);
  EXPECT_EQ(m->ranges()[0], (PhysicalRange{0, 0x5000}));
  EXPECT_EQ(m->total_bytes(), 0x5000u);
  EXPECT_EQ(read_bytes(*m, 0x1ff8, 0x20), expected_pattern(0x1ff8, 0x20));
  EXPECT_TRUE(m->cpus().empty());
  std::vector<std::byte> past(8);
  ReadResult r = m->read_physical(0x4ffc, past);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0x5000u);
}

TEST(RawImage, FileSystemHoleInsideTheFileIsMemoryOfZeros) {
  TempDir dir;
  // 4 MiB of zeros between two marked pages: the writer leaves it a hole.
  Image img{{bytes_range(0, to_bytes("first")), zero_range(0x1000, 0x400000),
             bytes_range(0x401000, to_bytes("last"))},
            {}};
  images::write_raw(dir / "s.raw", img);
  auto m = open_image((dir / "s.raw").string());
  ASSERT_EQ(m->ranges().size(), 1u);
  EXPECT_EQ(m->ranges()[0].size, 0x401004u);
  std::vector<std::byte> big(0x401004);
  ASSERT_TRUE(m->read_physical(0, big).ok());
  EXPECT_EQ(std::memcmp(big.data(), "first", 5), 0);
  EXPECT_EQ(std::memcmp(big.data() + 0x401000, "last", 4), 0);
  std::size_t nonzero = 0;
  for (std::size_t i = 5; i < 0x401000; ++i) nonzero += big[i] != std::byte{0};
  EXPECT_EQ(nonzero, 0u);
}

TEST(RawImage, StoredExtentFollowsTheFilesHoles) {
  TempDir dir;
  Image img{{bytes_range(0, to_bytes("first")), zero_range(0x1000, 0x400000),
             bytes_range(0x401000, to_bytes("last"))},
            {}};
  images::write_raw(dir / "s.raw", img);
  {
    InputFile probe((dir / "s.raw").string());
    if (::lseek(probe.fd(), 0x1000, SEEK_DATA) != 0x401000) {
      GTEST_SKIP() << "the file system of " << dir.path() << " does not report holes";
    }
  }
  auto m = open_image((dir / "s.raw").string());
  const std::uint64_t end = m->ranges()[0].end();
  EXPECT_EQ(m->stored_extent(0, end).known_zero, false);
  EXPECT_EQ(m->stored_extent(0, end).end, 0x1000u);  // the file's first block
  EXPECT_EQ(m->stored_extent(0x1000, end).known_zero, true);
  EXPECT_EQ(m->stored_extent(0x1000, end).end, 0x401000u);
  EXPECT_EQ(m->stored_extent(0x2000, 0x3000).end, 0x3000u);  // never past the limit
  EXPECT_EQ(m->stored_extent(0x401000, end).known_zero, false);
  EXPECT_EQ(m->stored_extent(0x401000, end).end, end);
  // Outside the image: nothing known.
  EXPECT_EQ(m->stored_extent(end, end + 0x1000).known_zero, false);
}

TEST(RawImage, TextMemoryMapMakesGapsHoles) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x2000), address_pattern_range(0x5000, 0x1000)}, {}};
  images::write_raw(dir / "m.raw", img);
  images::write_memory_map(dir / "map.txt", img);
  OpenImageOptions o;
  o.memory_map = (dir / "map.txt").string();
  auto m = open_image((dir / "m.raw").string(), o);
  ASSERT_EQ(m->ranges().size(), 2u);
  EXPECT_EQ(m->ranges()[0], (PhysicalRange{0, 0x2000}));
  EXPECT_EQ(m->ranges()[1], (PhysicalRange{0x5000, 0x1000}));
  EXPECT_EQ(read_bytes(*m, 0x5100, 16), expected_pattern(0x5100, 16));
  std::vector<std::byte> b(0x10);
  ReadResult r = m->read_physical(0x1ff8, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0x2000u);
  EXPECT_FALSE(m->contains(0x3000));
  EXPECT_EQ(describe(r), "physical address 0x2000 is not in the image");
}

TEST(RawImage, JsonMemoryMapAsSourcesPrintsIt) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x3000)}, {}};
  images::write_raw(dir / "m.raw", img);
  write_text(dir / "map.json",
             R"({"format":"raw","ranges":[{"base":4096,"size":4096},{"base":"0x2000","size":4096}],"total_bytes":8192,"cpus":[]})");
  auto ranges = parse_memory_map((dir / "map.json").string());
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], (PhysicalRange{0x1000, 0x1000}));
  EXPECT_EQ(ranges[1], (PhysicalRange{0x2000, 0x1000}));
}

TEST(RawImage, MalformedMemoryMapsAreRejected) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x3000)}, {}};
  images::write_raw(dir / "m.raw", img);
  const auto map = (dir / "map").string();
  write_text(map, "0x0 0x2000\n0x1000 0x3000\n");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"overlap", "0x1000-0x3000"});
  write_text(map, "0x0 0x2000 0x5\n");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"map:1", "START END"});
  write_text(map, "zz 0x2000\n");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"'zz' is not a hexadecimal"});
  write_text(map, "0x3000 0x2000\n");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"not above START"});
  write_text(map, "# nothing\n");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"no ranges"});
  write_text(map, R"({"ranges":[{"base":1}]})");
  expect_error([&] { parse_memory_map(map); }, ErrorKind::inconsistent, {"ranges[0]", "\"size\""});
  // A range past the end of the raw file.
  write_text(map, "0x0 0x1000\n0x2000 0x4000\n");
  OpenImageOptions o;
  o.memory_map = map;
  expect_error([&] { open_image((dir / "m.raw").string(), o); }, ErrorKind::truncated,
               {"physical 0x2000-0x4000", "past the end of the file (size 0x3000)"});
}

TEST(RawImage, MemoryMapOnlyForRaw) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x1000)}, {}};
  images::write_lime(dir / "m.lime", img);
  images::write_memory_map(dir / "map", img);
  OpenImageOptions o;
  o.memory_map = (dir / "map").string();
  expect_error([&] { open_image((dir / "m.lime").string(), o); }, ErrorKind::usage,
               {"--memory-map applies to raw images only", "'lime'"});
  // Forcing raw reads the LiME file as flat bytes, headers included.
  o.format = "raw";
  auto m = open_image((dir / "m.lime").string(), o);
  EXPECT_EQ(m->format_name(), "raw");
}

TEST(Lime, RangesWithInclusiveEndReadBack) {
  TempDir dir;
  Image img{{address_pattern_range(0x1000, 0x9f000), address_pattern_range(0x100000, 0x200000)}, {}};
  auto headers = images::write_lime(dir / "m.lime", img);
  EXPECT_EQ(headers, (std::vector<std::uint64_t>{0, 0x20 + 0x9f000}));
  auto m = open_image((dir / "m.lime").string());
  EXPECT_EQ(m->format_name(), "lime");
  ASSERT_EQ(m->ranges().size(), 2u);
  EXPECT_EQ(m->ranges()[0], (PhysicalRange{0x1000, 0x9f000}));
  EXPECT_EQ(m->ranges()[1], (PhysicalRange{0x100000, 0x200000}));
  EXPECT_EQ(read_bytes(*m, 0x9fff8, 8), expected_pattern(0x9fff8, 8));
  EXPECT_EQ(read_bytes(*m, 0x2ffff0, 16), expected_pattern(0x2ffff0, 16));
  std::vector<std::byte> b(16);
  EXPECT_EQ(m->read_physical(0x0, b).status, ReadStatus::not_present);
  ReadResult r = m->read_physical(0x9fff8, b);
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0xa0000u);
}

TEST(Lime, MalformedFilesGiveClearErrors) {
  TempDir dir;
  Image img{{address_pattern_range(0x1000, 0x1000), address_pattern_range(0x3000, 0x1000)}, {}};
  const auto p = dir / "m.lime";
  const auto second = images::write_lime(p, img)[1];
  const std::string path = p.string();

  images::patch_value<std::uint32_t>(p, second, 0x12345678);
  expect_error([&] { open_image(path, {.format = "lime", .memory_map = {}}); }, ErrorKind::inconsistent,
               {"LiME range header 1", "file offset 0x1020", "magic 0x12345678", "expected 0x4c694d45"});

  images::write_lime(p, img);
  images::patch_value<std::uint32_t>(p, second + 4, 2);
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"version 2"});

  images::write_lime(p, img);
  images::patch_value<std::uint64_t>(p, second + 8, 0x1800);  // overlaps the first range
  images::patch_value<std::uint64_t>(p, second + 16, 0x27ff);
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"overlap", "0x1000-0x2000", "0x1800-0x2800"});

  images::write_lime(p, img);
  images::patch_value<std::uint64_t>(p, second + 16, 0x4fff);  // past the end of the file
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"0x3000-0x4fff", "needs 0x2000 bytes"});

  images::write_lime(p, img);
  images::patch_value<std::uint64_t>(p, second + 16, 0x2000);  // end below start
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"below start 0x3000"});

  images::write_lime(p, img);
  std::filesystem::resize_file(p, std::filesystem::file_size(p) + 7);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"7 trailing bytes"});
}

TEST(Vmware, RegionTableMapsVmemAboveFourGiB) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x10000), address_pattern_range(0x100000000ull, 0x8000)},
            {sample_cpu64(0), sample_cpu64(1)}};
  images::write_vmware(dir / "vm.vmem", dir / "vm.vmss", img);
  for (const char* open_as : {"vm.vmem", "vm.vmss"}) {
    SCOPED_TRACE(open_as);
    auto m = open_image((dir / open_as).string());
    EXPECT_EQ(m->format_name(), "vmware");
    ASSERT_EQ(m->ranges().size(), 2u);
    EXPECT_EQ(m->ranges()[1], (PhysicalRange{0x100000000ull, 0x8000}));
    EXPECT_EQ(read_bytes(*m, 0x100000000ull + 0x7ff0, 16), expected_pattern(0x100007ff0ull, 16));
    EXPECT_EQ(read_bytes(*m, 0xfff0, 16), expected_pattern(0xfff0, 16));
    std::vector<std::byte> b(16);
    EXPECT_EQ(m->read_physical(0x10000, b).status, ReadStatus::not_present);
    ASSERT_EQ(m->cpus().size(), 2u);
    const CpuState want = sample_cpu64(1);
    const CpuState& c = m->cpus()[1];
    EXPECT_EQ(c.index, 1u);
    EXPECT_EQ(c.gpr, want.gpr);
    EXPECT_EQ(c.rip, want.rip);
    EXPECT_EQ(c.rflags, want.rflags);
    EXPECT_EQ(c.cr0, want.cr0);
    EXPECT_EQ(c.cr3, want.cr3);
    EXPECT_EQ(c.cr4, want.cr4);
    EXPECT_EQ(c.idtr.base, want.idtr.base);
    EXPECT_EQ(c.gdtr.base, want.gdtr.base);
  }
}

TEST(Vmware, LoneVmemIsRawAndBadCheckpointsAreRejected) {
  TempDir dir;
  Image img{{address_pattern_range(0, 0x2000), address_pattern_range(0x4000, 0x1000)}, {sample_cpu64(0)}};
  images::write_vmware(dir / "vm.vmem", dir / "vm.vmss", img);
  std::filesystem::copy_file(dir / "vm.vmem", dir / "lone.vmem");
  auto lone = open_image((dir / "lone.vmem").string());
  EXPECT_EQ(lone->format_name(), "raw");
  EXPECT_EQ(lone->total_bytes(), 0x3000u);

  const auto vmss = dir / "vm.vmss";
  const std::string path = vmss.string();
  images::patch_value<std::uint32_t>(vmss, 8, 100000);  // absurd group count
  expect_error([&] { open_image(path); }, ErrorKind::inconsistent, {"100000 groups"});

  images::write_vmware(dir / "vm.vmem", vmss, img);
  images::patch_value<std::uint32_t>(vmss, 0, 0xbed0bed0);
  expect_error([&] { open_image(path); }, ErrorKind::unsupported, {"32-bit VMware checkpoint"});

  // The memory group's size cut to 10 bytes: its tags run past the group end.
  images::write_vmware(dir / "vm.vmem", vmss, img);
  images::patch_value<std::uint64_t>(vmss, 12 + 72, 10);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"group end", "'memory'"});

  // Regions past the end of the .vmem.
  images::write_vmware(dir / "vm.vmem", vmss, img);
  std::filesystem::resize_file(dir / "vm.vmem", 0x2000);
  expect_error([&] { open_image(path); }, ErrorKind::truncated, {"memory region for physical 0x4000-0x5000"});
}

TEST(Detection, RecognisedButUnsupportedFormatsAreNamed) {
  TempDir dir;
  struct Case {
    const char* file;
    std::string head;
    ErrorKind kind;
    const char* says;
  } cases[] = {
      {"hiberfil.sys", "HIBR" + std::string(60, '\0'), ErrorKind::unsupported, "hibernation file"},
      {"w.bin", "wake" + std::string(60, '\0'), ErrorKind::unsupported, "hibernation file"},
      {"k.dump", "KDUMP   " + std::string(60, '\0'), ErrorKind::unsupported, "compressed kdump"},
      {"f.dump", "makedumpfile" + std::string(60, '\0'), ErrorKind::unsupported, "makedumpfile flattened"},
      {"u.dmp", "MDMP" + std::string(60, '\0'), ErrorKind::user_mode_dump, "user-mode minidump"},
      {"vm.vmrs", std::string(64, 'x'), ErrorKind::unsupported, "Hyper-V saved state"},
      {"k.dmp", "PAGEDU64" + std::string(60, '\0'), ErrorKind::truncated, "shorter than the 0x2000-byte PAGEDU64 header"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    write_text(dir / c.file, c.head);
    expect_error([&] { open_image((dir / c.file).string()); }, c.kind, {c.says});
  }
  InputFile dump((dir / "k.dmp").string());
  EXPECT_EQ(detect_image_format(dump), "dump");
}

TEST(Detection, KernelDumpOpensThroughTheDumpReader) {
  TempDir dir;
  DumpSpec spec;
  spec.dump_type = 5;
  spec.runs = {{0x1, 2}, {0x10, 1}};
  write_dump(dir / "bitmap.dmp", spec);
  auto img = open_image((dir / "bitmap.dmp").string());
  EXPECT_EQ(img->format_name(), "dump-bitmap-full");
  ASSERT_EQ(img->ranges().size(), 2u);
  EXPECT_EQ(img->ranges()[0], (PhysicalRange{0x1000, 0x2000}));
  EXPECT_EQ(img->ranges()[1], (PhysicalRange{0x10000, 0x1000}));
  std::byte b[2];
  ASSERT_TRUE(img->read_physical(0x10ffe, b));
  EXPECT_EQ(b[0], page_byte(0x10, 0xffe));
  EXPECT_EQ(img->read_physical(0x3000, b).status, ReadStatus::not_present);
}

TEST(Detection, UnknownFormatNameIsAUsageError) {
  TempDir dir;
  write_text(dir / "x", "abc");
  expect_error([&] { open_image((dir / "x").string(), {.format = "qcow2", .memory_map = {}}); }, ErrorKind::usage,
               {"unknown image format 'qcow2'", "elf-qemu", "lime"});
}

TEST(Detection, EmptyFileIsNotAnImage) {
  TempDir dir;
  write_text(dir / "empty", "");
  expect_error([&] { open_image((dir / "empty").string()); }, ErrorKind::inconsistent, {"empty"});
}

}  // namespace
}  // namespace pagedump::test
