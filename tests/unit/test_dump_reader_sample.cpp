// The dump reader against real files Windows (and DumpIt) wrote.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "pagedump/error.h"
#include "pagedump/reader/dump_file.h"
#include "support/samples.h"

using namespace pagedump;

namespace {

std::uint64_t reg(const format::NamedRegisters& regs, const std::string& name) {
  for (const auto& [n, v] : regs) {
    if (n == name) return v;
  }
  ADD_FAILURE() << name;
  return 0;
}

TEST(DumpReaderSample, DumpItFullDumpHeaderAndRuns) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19045-x64-full-first16k.dmp");
  auto d = DumpFile::open(path.string());
  const auto& h = d->header();
  EXPECT_TRUE(h.is64);
  EXPECT_EQ(h.dump_type, 1u);
  EXPECT_EQ(h.minor_version, 19045u);
  EXPECT_EQ(h.major_version, 0xFu);
  EXPECT_EQ(h.number_processors, 4u);
  EXPECT_EQ(h.machine_image_type, 0x8664u);
  EXPECT_EQ(h.directory_table_base, 0x1ad002u);  // PCID bits kept: the header's own value
  EXPECT_EQ(h.pfn_database, 0xffffec0000000000u);
  EXPECT_EQ(h.kd_debugger_data_block, 0xffffc509c480b080u);
  EXPECT_EQ(h.required_dump_space, 0x7fe88000u);
  EXPECT_EQ(h.attributes, 0x18u);
  EXPECT_EQ(h.comment, std::nullopt);
  EXPECT_EQ(d->layout(), MemoryLayout::runs);
  EXPECT_EQ(d->number_of_runs(), 5u);
  EXPECT_EQ(d->number_of_pages(), 523910u);
  ASSERT_EQ(d->runs().size(), 5u);
  const std::uint64_t want[5][2] = {
      {0x2, 0x9e}, {0x100, 0x251}, {0x3d8, 0xd7df}, {0xdbb8, 0x1fb7}, {0xfbff, 0x70401}};
  std::uint64_t offset = 0x2000;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(d->runs()[i].base_page, want[i][0]) << i;
    EXPECT_EQ(d->runs()[i].page_count, want[i][1]) << i;
    EXPECT_EQ(d->runs()[i].file_offset, offset) << i;
    offset += want[i][1] * 0x1000;
  }
  auto regs = d->context_registers();
  EXPECT_EQ(reg(regs, "rip"), 0xfffff8072aa9136du);
  EXPECT_EQ(reg(regs, "context_flags"), 0x10000fu);
  EXPECT_EQ(d->exception().code, 0x80000003u);
  EXPECT_EQ(d->exception().address, 0xfffff8072aa9136du);
}

TEST(DumpReaderSample, DumpItFirstTwoPagesReadAndTheThirdIsTruncated) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19045-x64-full-first16k.dmp");
  auto d = DumpFile::open(path.string());
  ASSERT_TRUE(d->truncated());
  EXPECT_EQ(d->truncated()->file_size, 0x4000u);
  EXPECT_EQ(d->truncated()->pages_in_file, 2u);
  EXPECT_EQ(d->truncated()->first_missing_page, 0x4u);
  EXPECT_EQ(d->truncated()->first_missing_offset, 0x4000u);

  // PFN 2 and 3 are the file's bytes 0x2000..0x3fff.
  std::vector<std::byte> mem(0x2000), file(0x2000);
  ASSERT_TRUE(d->read_physical(0x2000, mem));
  std::ifstream in(path, std::ios::binary);
  in.seekg(0x2000);
  in.read(reinterpret_cast<char*>(file.data()), 0x2000);
  EXPECT_EQ(mem, file);

  std::byte b[8];
  ReadResult r = d->read_physical(0x4000, b);
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.file_offset, 0x4000u);
  r = d->read_physical(0x100000, b);  // run 1 starts at file offset 0xa0000
  EXPECT_EQ(r.status, ReadStatus::truncated);
  EXPECT_EQ(r.file_offset, 0xa0000u);
  EXPECT_EQ(describe_dump_read(*d, r),
            "physical address 0x100000 is at file offset 0xa0000, beyond the end of the file "
            "(size 0x4000): the dump is truncated");
  EXPECT_EQ(d->read_physical(0x0, b).status, ReadStatus::not_present);  // PFN 0 is not in a run
}

TEST(DumpReaderSample, TriageDumpHeader) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto d = DumpFile::open(path.string());
  const auto& h = d->header();
  EXPECT_EQ(h.dump_type, 4u);
  EXPECT_EQ(d->layout(), MemoryLayout::none);
  EXPECT_EQ(h.minor_version, 19041u);
  EXPECT_EQ(h.number_processors, 16u);
  EXPECT_EQ(h.directory_table_base, 0x1ad000u);
  EXPECT_EQ(h.pfn_database, 0xfffff8047c6fc500u);
  EXPECT_EQ(h.ps_loaded_module_list, 0xfffff8047c62a390u);
  EXPECT_EQ(h.ps_active_process_head, 0xfffff8047c61e200u);
  EXPECT_EQ(h.kd_debugger_data_block, 0xfffff8047c600b20u);
  EXPECT_EQ(h.bugcheck_code, 0x1000007Eu);
  EXPECT_EQ(h.bugcheck_parameters[0], 0xffffffffc0000005u);
  EXPECT_EQ(h.bugcheck_parameters[1], 0xfffff8048b58334cu);
  EXPECT_EQ(h.bugcheck_parameters[2], 0xffff850429891ee8u);
  EXPECT_EQ(h.bugcheck_parameters[3], 0xffff850429891720u);
  EXPECT_EQ(h.product_type, 1u);
  EXPECT_EQ(h.suite_mask, 0x110u);
  EXPECT_EQ(h.mini_dump_fields, 0xCFFu);
  EXPECT_EQ(h.attributes, std::nullopt);
  auto regs = d->context_registers();
  EXPECT_EQ(reg(regs, "rip"), 0xfffff8048b58334cu);
  EXPECT_EQ(reg(regs, "rsp"), 0xffff850429892120u);
  EXPECT_EQ(reg(regs, "rax"), 0xffffc08be4da6240u);
  EXPECT_EQ(reg(regs, "mxcsr"), 0x1f80u);
  EXPECT_EQ(reg(regs, "context_flags"), 0x10001fu);
  EXPECT_EQ(d->exception().code, 0x80000003u);
  EXPECT_EQ(d->exception().flags, 1u);
  EXPECT_EQ(d->exception().address, 0xfffff8047bdf5a80u);
  std::byte b[1];
  EXPECT_EQ(d->read_physical(0x1ad000, b).status, ReadStatus::not_present);
}

}  // namespace
