// The triage reader on the real Windows 10 19041 x64 small memory dump.
#include <gtest/gtest.h>

#include <cstring>

#include "pagedump/format/context.h"
#include "pagedump/format/exception_record.h"
#include "support/samples.h"
#include "triage_test_util.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::format;

TEST(TriageSample, SectionsAndSizes) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  const TriageDump& d = *o->dump;
  EXPECT_EQ(d.size_of_dump(), 0x13a28cu);
  EXPECT_EQ(d.valid_offset(), 0x13a288u);
  EXPECT_EQ(d.context_range(), (FileRange{0x348, 0x4D0}));
  EXPECT_EQ(d.exception_range(), (FileRange{0xF00, 0x98}));
  EXPECT_EQ(d.prcb_range(), (FileRange{0x21B8, 0xAF00}));
  EXPECT_EQ(d.process_range(), (FileRange{0xD0B8, 0xA40}));
  EXPECT_EQ(d.thread_range(), (FileRange{0xDAF8, 0x898}));
  EXPECT_EQ(d.stack_range(), (FileRange{0xE390, 0x2118}));
  EXPECT_EQ(d.top_of_stack(), 0xffff850429890ee8u);
  EXPECT_EQ(d.kdbg_range(), (FileRange{0x104A8, 0x380}));
  EXPECT_EQ(d.driver_list_range(), (FileRange{0x10828, 0x15D18 - 0x10828}));
  EXPECT_EQ(d.string_pool_range(), (FileRange{0x15D18, 0x3720}));
  EXPECT_EQ(d.data_blocks_table_range(), (FileRange{0x19438, 0x727 * 16}));
  EXPECT_EQ(d.fields().triage_options, 0xFFFFFFFFu);
  EXPECT_EQ(d.fields().broken_driver_offset, 0u);
  EXPECT_FALSE(d.broken_driver_index());
  EXPECT_EQ(d.fields().data_page_size, 0u);
  EXPECT_EQ(d.fields().service_pack_build, 0u);
  ASSERT_TRUE(d.mm_storage());
  EXPECT_EQ(d.mm_storage()->file_offset, 0x2080u);
  EXPECT_EQ(d.mm_storage()->version, 1u);
  EXPECT_EQ(d.mm_storage()->size, 0x50u);
  // Windows' own dump meets every habit checked as a warning.
  EXPECT_TRUE(d.warnings().empty()) << d.warnings().front();
}

TEST(TriageSample, HeaderContextIsTheFaultingOne) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  auto c = load<ContextAmd64>(o->dump->context());
  EXPECT_EQ(c.Rip, 0xfffff8048b58334cu);
  auto e = load<ExceptionRecord64>(o->dump->exception());
  EXPECT_EQ(e.ExceptionCode, kStatusBreakpoint);
  EXPECT_EQ(e.ExceptionAddress, 0xfffff8047bdf5a80u);
}

TEST(TriageSample, Drivers) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  const auto& drv = o->dump->drivers();
  ASSERT_EQ(drv.size(), 0x97u);
  EXPECT_EQ(o->dump->driver_stride(), 0x90u);
  EXPECT_EQ(drv[0].name, "ntoskrnl.exe");
  EXPECT_EQ(drv[0].path, "\\SystemRoot\\system32\\ntoskrnl.exe");
  EXPECT_EQ(drv[0].base, 0xfffff8047ba00000u);
  EXPECT_EQ(drv[0].size, 0x1046000u);
  EXPECT_EQ(drv[0].checksum, 0xa5938cu);
  EXPECT_EQ(drv[0].timestamp, 0x0D8333E6u);
  EXPECT_EQ(drv[1].name, "hal.dll");
  EXPECT_EQ(drv[1].base, 0xfffff80479440000u);
  EXPECT_EQ(drv[1].size, 0x6000u);
  EXPECT_EQ(drv[143].name, "amdppm.sys");
  EXPECT_EQ(drv[143].path, "\\SystemRoot\\System32\\drivers\\amdppm.sys");
  EXPECT_EQ(drv[143].base, 0xfffff8048b580000u);
  EXPECT_EQ(drv[143].size, 0x3b000u);
  EXPECT_EQ(drv[143].timestamp, 0xc9c03000u);
  EXPECT_EQ(drv[150].name, "rdpbus.sys");
}

TEST(TriageSample, UnloadedDrivers) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  const auto& u = o->dump->unloaded_drivers();
  ASSERT_EQ(u.size(), 4u);
  EXPECT_EQ(o->dump->unloaded_drivers_range(), (FileRange{0x20D0, 8 + 4 * 0x38}));
  EXPECT_EQ(u[0].name, "dam.sys");
  EXPECT_EQ(u[0].start, 0xfffff80487de0000u);
  EXPECT_EQ(u[0].end, 0xfffff80487dfc000u);
  EXPECT_EQ(u[1].name, "WdBoot.sys");
  EXPECT_EQ(u[1].start, 0xfffff80479d30000u);
  EXPECT_EQ(u[2].name, "hwpolicy.sys");
  EXPECT_EQ(u[3].name, "mcupdate.dll");
  EXPECT_EQ(u[3].start, 0xfffff804793e0000u);
  EXPECT_EQ(u[3].end, 0xfffff80479409000u);
}

TEST(TriageSample, DataBlocksAndKdbg) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  const TriageDump& d = *o->dump;
  ASSERT_EQ(d.data_blocks().size(), 0x727u);
  EXPECT_EQ(d.data_blocks()[0].file_offset, 0x206A8u);
  EXPECT_EQ(d.data_blocks()[1].address, 0xfffff804782d4180u);  // KPRCB of processor 0
  EXPECT_EQ(d.data_blocks()[1].size, 0xAF00u);
  ASSERT_TRUE(d.kdbg());
  EXPECT_EQ(d.kdbg()->KernBase, 0xfffff8047ba00000u);
  EXPECT_EQ(d.kdbg()->OffsetPrcbContext, 0x85c0u);
  EXPECT_EQ(d.kdbg()->SizePrcb, 0xaf00u);
  std::uint32_t tag = 0;
  ASSERT_TRUE(o->view->read_virtual(0xfffff8047c600b30, std::as_writable_bytes(std::span(&tag, 1))));
  EXPECT_EQ(tag, pagedump::format::tag("KDBG"));
}

TEST(TriageSample, KdbgCopyReadableAtItsVa) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  std::vector<std::byte> kdbg(0x380);
  ASSERT_TRUE(o->view->read_virtual(0xfffff8047c600b20, kdbg));
  EXPECT_EQ(kdbg, std::vector<std::byte>(o->dump->kdbg_bytes().begin(), o->dump->kdbg_bytes().end()));
}

TEST(TriageSample, StackReadableAtTopOfStack) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  std::vector<std::byte> stack(0x2118);
  ASSERT_TRUE(o->view->read_virtual(0xffff850429890ee8, stack));
  EXPECT_EQ(stack, o->dump->read_range({0xE390, 0x2118}));
  // The return address KeBugCheckEx was called from sits at rsp.
  std::uint64_t ret = 0;
  std::memcpy(&ret, stack.data(), 8);
  EXPECT_EQ(ret & 0xfffff80400000000ull, 0xfffff80400000000ull);
}

TEST(TriageSample, CrashingProcessorAsWinDbgShowsIt) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto o = open_triage(path, true);
  CrashingProcessor cpu = o->dump->crashing_processor(*o->view);
  EXPECT_EQ(cpu.number, 0u);
  EXPECT_EQ(cpu.prcb_va, 0xfffff804782d4180u);
  EXPECT_EQ(cpu.source, CrashingProcessor::Source::prcb_context_pointer);
  EXPECT_EQ(cpu.context_va, 0xffff9b00021ff340u);
  ASSERT_EQ(cpu.context.size(), 0x4D0u);
  auto c = load<ContextAmd64>(cpu.context);
  EXPECT_EQ(c.Rip, 0xfffff8047bdf5a80u);  // nt!KeBugCheckEx
  EXPECT_EQ(c.Rsp, 0xffff850429890ee8u);
  EXPECT_EQ(c.Rcx, 0x7eu);
  EXPECT_EQ(c.Rbx, 0xfffff8047ba82b68u);
  EXPECT_EQ(c.R15, 0xfffff8047ba00000u);
  EXPECT_EQ(c.ContextFlags, 0x10000Fu);
}
