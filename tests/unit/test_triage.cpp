// Synthetic triage dumps (64- and 32-bit) read back section by section and byte by byte.
#include <gtest/gtest.h>

#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/exception_record.h"
#include "triage_test_util.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::format;

namespace {

std::vector<std::byte> file_bytes(const BuiltTriage& b, FileRange r) {
  return {b.bytes.begin() + std::ptrdiff_t(r.offset), b.bytes.begin() + std::ptrdiff_t(r.end())};
}

class TriageRoundTrip : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(TriageRoundTrip, HeaderFieldsAndExtent) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageDump& d = *o->dump;
  const auto& L = built.layout;
  EXPECT_EQ(d.is64(), is64);
  EXPECT_EQ(d.triage_header_offset(), is64 ? 0x2000u : 0x1000u);
  EXPECT_EQ(d.machine(), is64 ? machine::kAmd64 : machine::kI386);
  EXPECT_EQ(d.size_of_dump(), L.size_of_dump);
  EXPECT_EQ(d.valid_offset(), L.size_of_dump - 4);
  EXPECT_EQ(d.fields().triage_options, 0xFFFFFFFFu);
  EXPECT_EQ(d.fields().top_of_stack, spec.top_of_stack);
  EXPECT_EQ(d.kd_debugger_data_block(), spec.kd_debugger_data_block);
  EXPECT_EQ(d.mini_dump_fields(), triage_fields::kWindows);
  EXPECT_TRUE(d.warnings().empty()) << d.warnings().front();
}

TEST_P(TriageRoundTrip, ContextExceptionAndMm) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageDump& d = *o->dump;
  EXPECT_EQ(d.context_range().offset, is64 ? 0x348u : 0x320u);
  ASSERT_EQ(d.context().size(), is64 ? 0x4D0u : 0x2CCu);
  EXPECT_TRUE(std::equal(d.context().begin(), d.context().end(), spec.context.begin()));
  if (is64) {
    EXPECT_EQ(load<ContextAmd64>(d.context()).Rip, typical::kFaultRip64);
    auto e = load<ExceptionRecord64>(d.exception());
    EXPECT_EQ(e.ExceptionCode, kStatusBreakpoint);
    EXPECT_EQ(e.ExceptionAddress, typical::kCpuRip64);
  } else {
    EXPECT_EQ(load<ContextI386>(d.context()).Eip, typical::kFaultEip32);
    auto e = load<ExceptionRecord32>(d.exception());
    EXPECT_EQ(e.ExceptionAddress, typical::kCpuEip32);
  }
  EXPECT_EQ(d.exception_range().offset, is64 ? 0xF00u : 0x7D0u);
  ASSERT_TRUE(d.mm_storage());
  EXPECT_EQ(d.mm_storage()->file_offset, is64 ? 0x2080u : 0x1068u);
  EXPECT_EQ(d.mm_storage()->version, 1u);
  EXPECT_EQ(d.mm_storage()->size, is64 ? 0x50u : 0x34u);
}

TEST_P(TriageRoundTrip, UnloadedDrivers) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const auto& u = o->dump->unloaded_drivers();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].name, "dam.sys");
  EXPECT_EQ(u[0].start, spec.unloaded[0].start);
  EXPECT_EQ(u[0].end, spec.unloaded[0].end);
  EXPECT_EQ(u[1].name, "averylongdri");  // Windows keeps 12 characters
  EXPECT_EQ(o->dump->unloaded_drivers_range().size, (is64 ? 8u : 4u) + 2 * (is64 ? 0x38u : 0x28u));
}

TEST_P(TriageRoundTrip, CopiesSizedBySectionOrder) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageDump& d = *o->dump;
  EXPECT_EQ(d.prcb_range(), (FileRange{built.layout.prcb, spec.prcb.size()}));
  EXPECT_EQ(d.process_range(), (FileRange{built.layout.process, spec.process.size()}));
  EXPECT_EQ(d.thread_range(), (FileRange{built.layout.thread, spec.thread.size()}));
  EXPECT_EQ(d.read_range(d.prcb_range()), spec.prcb);
  EXPECT_EQ(d.read_range(d.process_range()), spec.process);
  EXPECT_EQ(d.read_range(d.thread_range()), spec.thread);
  EXPECT_EQ(d.stack_range(), (FileRange{built.layout.stack, spec.stack.size()}));
  EXPECT_EQ(d.read_range(d.stack_range()), spec.stack);
}

TEST_P(TriageRoundTrip, DriversFromTheStringPool) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  spec.broken_driver_index = 2;
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageDump& d = *o->dump;
  EXPECT_EQ(d.driver_stride(), is64 ? 0x90u : 0x4Cu);
  ASSERT_EQ(d.drivers().size(), 3u);
  EXPECT_EQ(d.drivers()[0].name, "ntoskrnl.exe");
  EXPECT_EQ(d.drivers()[0].path, "\\SystemRoot\\system32\\ntoskrnl.exe");
  EXPECT_EQ(d.drivers()[0].base, spec.drivers[0].base);
  EXPECT_EQ(d.drivers()[0].size, 0x1046000u);
  EXPECT_EQ(d.drivers()[0].checksum, 0xa5938cu);
  EXPECT_EQ(d.drivers()[0].timestamp, 0x0D8333E6u);
  EXPECT_EQ(d.drivers()[0].string_offset, built.layout.string_pool);
  EXPECT_EQ(d.drivers()[1].name, "hal.dll");
  EXPECT_EQ(d.drivers()[2].name, "amdppm.sys");
  EXPECT_EQ(d.drivers()[2].path, "\\SystemRoot\\System32\\drivers\\amdppm.sys");
  EXPECT_EQ(d.drivers()[2].entry_offset, built.layout.driver_list + 2 * d.driver_stride());
  ASSERT_TRUE(d.broken_driver_index());
  EXPECT_EQ(*d.broken_driver_index(), 2u);
}

TEST_P(TriageRoundTrip, KdbgCopyDecoded) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageDump& d = *o->dump;
  EXPECT_EQ(d.kdbg_range(), (FileRange{built.layout.kdbg, 0x380}));
  ASSERT_TRUE(d.kdbg());
  EXPECT_EQ(d.kdbg()->Header.OwnerTag, kKdbgOwnerTag);
  EXPECT_EQ(d.kdbg()->SizePrcb, is64 ? typical::kSizePrcb64 : typical::kSizePrcb32);
  EXPECT_EQ(d.kdbg_bytes().size(), 0x380u);
}

TEST_P(TriageRoundTrip, DataBlocksInTableOrder) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const auto& b = o->dump->data_blocks();
  ASSERT_EQ(b.size(), spec.blocks.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i].address, spec.blocks[i].address) << i;
    EXPECT_EQ(b[i].file_offset, built.layout.block_offsets[i]) << i;
    EXPECT_EQ(b[i].size, spec.blocks[i].bytes.size()) << i;
    EXPECT_EQ(file_bytes(built, {b[i].file_offset, b[i].size}), spec.blocks[i].bytes) << i;
  }
  EXPECT_EQ(o->dump->data_blocks_table_range(), (FileRange{built.layout.blocks_table, 16 * b.size()}));
}

TEST_P(TriageRoundTrip, ViewReadsEveryCarriedRangeByteForByte) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const TriageView& v = *o->view;
  for (const auto& blk : spec.blocks) {
    std::vector<std::byte> got(blk.bytes.size());
    ASSERT_TRUE(v.read_virtual(blk.address, got)) << std::hex << blk.address;
    EXPECT_EQ(got, blk.bytes);
  }
  std::vector<std::byte> stack(spec.stack.size());
  ASSERT_TRUE(v.read_virtual(spec.top_of_stack, stack));
  EXPECT_EQ(stack, spec.stack);
  std::vector<std::byte> kdbg(spec.kdbg.size());
  ASSERT_TRUE(v.read_virtual(spec.kd_debugger_data_block, kdbg));
  EXPECT_EQ(kdbg, spec.kdbg);
  std::uint32_t tag = 0;
  ASSERT_TRUE(v.read_virtual(spec.kd_debugger_data_block + 0x10, std::as_writable_bytes(std::span(&tag, 1))));
  EXPECT_EQ(tag, kKdbgOwnerTag);
}

TEST_P(TriageRoundTrip, ViewReadSpansAdjacentBlocks) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  // Blocks 2 (CONTEXT) and 3 touch: a read across the seam takes bytes from both.
  const auto& a = spec.blocks[2];
  const auto& b = spec.blocks[3];
  ASSERT_EQ(a.address + a.bytes.size(), b.address);
  std::vector<std::byte> got(0x20);
  ASSERT_TRUE(o->view->read_virtual(b.address - 0x10, got));
  EXPECT_TRUE(std::equal(got.begin(), got.begin() + 0x10, a.bytes.end() - 0x10));
  EXPECT_TRUE(std::equal(got.begin() + 0x10, got.end(), b.bytes.begin()));
  EXPECT_TRUE(o->view->is_mapped(a.address, a.bytes.size() + b.bytes.size()));
}

TEST_P(TriageRoundTrip, ViewReportsFirstMissingAddress) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  const auto& b = spec.blocks[3];  // ends in a gap
  std::vector<std::byte> got(b.bytes.size() + 8);
  ReadResult r = o->view->read_virtual(b.address, got);
  EXPECT_EQ(r.status, ReadStatus::not_mapped);
  EXPECT_EQ(r.address, b.address + b.bytes.size());
  std::byte one[1];
  r = o->view->read_virtual(0x1000, one);
  EXPECT_EQ(r.status, ReadStatus::not_mapped);
  EXPECT_EQ(r.address, 0x1000u);
  EXPECT_FALSE(o->view->is_mapped(b.address, b.bytes.size() + 1));
}

TEST_P(TriageRoundTrip, CrashingProcessorThroughTheKprcbPointer) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  CrashingProcessor cpu = o->dump->crashing_processor(*o->view);
  EXPECT_EQ(cpu.number, typical::kPrcbNumber);
  EXPECT_EQ(cpu.prcb_va, spec.blocks[1].address);
  EXPECT_EQ(cpu.source, CrashingProcessor::Source::prcb_context_pointer);
  EXPECT_EQ(cpu.context_va, spec.blocks[2].address);
  if (is64) {
    auto c = load<ContextAmd64>(cpu.context);
    EXPECT_EQ(c.Rip, typical::kCpuRip64);
    EXPECT_EQ(c.Rsp, typical::kCpuRsp64);
    EXPECT_EQ(c.Rcx, typical::kCpuRcx64);
    EXPECT_EQ(c.R15, typical::kKernBase64);
  } else {
    auto c = load<ContextI386>(cpu.context);
    EXPECT_EQ(c.Eip, typical::kCpuEip32);
    EXPECT_EQ(c.Esp, typical::kCpuEsp32);
    EXPECT_EQ(c.Ecx, typical::kCpuEcx32);
  }
}

TEST_P(TriageRoundTrip, CrashingProcessorFoundByContentWithoutKiProcessorBlock) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  spec.blocks.erase(spec.blocks.begin());  // no KiProcessorBlock array in the dump
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  CrashingProcessor cpu = o->dump->crashing_processor(*o->view);
  EXPECT_EQ(cpu.prcb_va, spec.blocks[0].address);
  EXPECT_EQ(cpu.context_va, spec.blocks[1].address);
}

TEST_P(TriageRoundTrip, CrashingProcessorFallsBackToProcessorState) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  store(spec.kdbg, offsetof(KdDebuggerData64, OffsetPrcbContext), std::uint16_t(0));
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  CrashingProcessor cpu = o->dump->crashing_processor(*o->view);
  const std::size_t at = is64 ? 0x1f0 : typical::kOffsetPrcbProcState32;
  EXPECT_EQ(cpu.source, CrashingProcessor::Source::prcb_processor_state);
  EXPECT_EQ(cpu.context_va, spec.blocks[1].address + at);
  EXPECT_TRUE(std::equal(cpu.context.begin(), cpu.context.end(), spec.prcb.begin() + std::ptrdiff_t(at)));
}

TEST_P(TriageRoundTrip, SecondaryDataAfterSizeOfDumpIsIgnored) {
  const bool is64 = GetParam();
  TempDir dir;
  auto spec = typical_triage_spec(is64);
  spec.after_size_of_dump = std::vector<std::byte>(0x100, std::byte{0x44});
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, is64);
  EXPECT_EQ(o->dump->size_of_dump(), built.bytes.size() - 0x100);
  EXPECT_TRUE(o->dump->warnings().empty());
}

INSTANTIATE_TEST_SUITE_P(Bits, TriageRoundTrip, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "x64" : "x86"; });

TEST(TriageView, SignExtendedAddressesOn32Bit) {
  TempDir dir;
  auto spec = typical_triage_spec(false);
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, false);
  std::uint32_t tag = 0;
  const std::uint64_t kdbg = spec.kd_debugger_data_block | 0xFFFFFFFF00000000ull;
  ASSERT_TRUE(o->view->read_virtual(kdbg + 0x10, std::as_writable_bytes(std::span(&tag, 1))));
  EXPECT_EQ(tag, kKdbgOwnerTag);
  std::byte one[1];
  EXPECT_EQ(o->view->read_virtual(0x1234567800000000ull, one).status, ReadStatus::not_mapped);
}

TEST(TriageDataPage, MappedAtItsAddress) {
  TempDir dir;
  auto spec = typical_triage_spec(true);
  spec.data_page.address = 0xffffc60000777000ull;
  spec.data_page.bytes.assign(0x1000, std::byte{0xA5});
  spec.data_page.bytes[0xFFF] = std::byte{0x5A};
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, true);
  EXPECT_EQ(o->dump->fields().data_page_address, 0xffffc60000777000u);
  EXPECT_EQ(o->dump->data_page_range(), (FileRange{built.layout.data_page, 0x1000}));
  EXPECT_TRUE(o->dump->warnings().empty()) << o->dump->warnings().front();
  std::byte last[1];
  ASSERT_TRUE(o->view->read_virtual(0xffffc60000777fffull, last));
  EXPECT_EQ(last[0], std::byte{0x5A});
  EXPECT_EQ(o->view->read_virtual(0xffffc60000778000ull, last).status, ReadStatus::not_mapped);
}

TEST(TriageCrashingProcessor, NumberBeyondNumberProcessorsFallsBackToContent) {
  TempDir dir;
  auto spec = typical_triage_spec(true);
  spec.processors = 1;  // KPRCB.Number 1 is then not a valid KiProcessorBlock index
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, true);
  CrashingProcessor cpu = o->dump->crashing_processor(*o->view);
  EXPECT_EQ(cpu.prcb_va, spec.blocks[1].address);  // the block equal to the copy
  EXPECT_EQ(load<ContextAmd64>(cpu.context).Rip, typical::kCpuRip64);
}

TEST(TriageCrashingProcessor, NoWayToTheKprcbIsAClearError) {
  TempDir dir;
  auto spec = typical_triage_spec(true);
  spec.blocks.erase(spec.blocks.begin(), spec.blocks.begin() + 2);  // no array, no KPRCB block
  auto built = build_triage_dump(spec);
  auto o = open_built(dir, built, true);
  try {
    o->dump->crashing_processor(*o->view);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_present);
    EXPECT_NE(std::string(e.what()).find("KiProcessorBlock[1] at 0xfffff80012cfdc88 is not in the dump and no "
                                         "data block holds the KPRCB copy"),
              std::string::npos)
        << e.what();
  }
}
