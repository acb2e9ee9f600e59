// The format layer against real bytes Windows wrote.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "pagedump/format/dump_header.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"
#include "support/samples.h"

using namespace pagedump::format;

static std::vector<std::byte> read_prefix(const std::filesystem::path& p, std::size_t n) {
  std::vector<std::byte> buf(n);
  std::ifstream in(p, std::ios::binary);
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
  buf.resize(static_cast<std::size_t>(in.gcount()));
  return buf;
}

TEST(FormatSample, TriageHeaderFieldsAtTheirOffsets) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto bytes = read_prefix(path, 0x20000);
  ASSERT_GE(bytes.size(), 0x11000u);
  auto h = load<DumpHeader64>(bytes);
  EXPECT_EQ(h.Signature, kSignaturePage);
  EXPECT_EQ(h.ValidDump, kValidDump64);
  EXPECT_EQ(h.MajorVersion, 0xFu);
  EXPECT_EQ(h.MinorVersion, 19041u);
  EXPECT_EQ(h.DirectoryTableBase, 0x1ad000u);
  EXPECT_EQ(h.PfnDataBase, 0xfffff8047c6fc500u);
  EXPECT_EQ(h.MachineImageType, machine::kAmd64);
  EXPECT_EQ(h.NumberProcessors, 16u);
  EXPECT_EQ(h.BugCheckCode, 0x1000007Eu);
  EXPECT_TRUE(is_fill(h.BugCheckCodePad));
  EXPECT_EQ(h.BugCheckParameter[0], 0xffffffffc0000005u);
  EXPECT_EQ(h.KdDebuggerDataBlock, 0xfffff8047c600b20u);
  EXPECT_EQ(h.DumpType, 4u);
  EXPECT_EQ(h.ProductType, 1u);
  EXPECT_EQ(h.SuiteMask, 0x110u);
  EXPECT_EQ(h.MiniDumpFields, triage_fields::kWindows);
  EXPECT_EQ(h.Exception.ExceptionCode, 0x80000003u);
  EXPECT_EQ(h.Exception.ExceptionAddress, 0xfffff8047bdf5a80u);
  EXPECT_TRUE(is_fill(load<std::uint32_t>(bytes, offsetof(DumpHeader64, PhysicalMemoryBlock))));

  auto t = load<TriageDump64>(bytes, kHeaderSize64);
  EXPECT_EQ(t.ContextOffset, 0x348u);
  EXPECT_EQ(t.ExceptionOffset, 0xF00u);
  EXPECT_EQ(t.MmOffset, 0x2080u);
  EXPECT_EQ(t.PrcbOffset, 0x21B8u);
  EXPECT_EQ(t.DriverCount, 0x97u);
  EXPECT_EQ(t.ValidOffset, t.SizeOfDump - 4);
  EXPECT_EQ(t.TopOfStack, 0xffff850429890ee8u);
  EXPECT_EQ(t.DebuggerDataOffset, 0x104A8u);
  EXPECT_EQ(t.DebuggerDataSize, 0x380u);
  EXPECT_EQ(t.DataBlocksCount, 0x727u);
  EXPECT_EQ((t.StringPoolOffset - t.DriverListOffset) / t.DriverCount, sizeof(DumpDriverEntry64));

  auto k = load_kdbg(std::span(bytes).subspan(t.DebuggerDataOffset, t.DebuggerDataSize));
  EXPECT_EQ(k.Header.OwnerTag, kKdbgOwnerTag);
  EXPECT_EQ(k.Header.Size, 0x380u);
  EXPECT_EQ(k.KernBase, 0xfffff8047ba00000u);
  EXPECT_EQ(k.PsLoadedModuleList, 0xfffff8047c62a390u);
  EXPECT_EQ(k.OffsetPrcbContext, 0x85c0u);
  EXPECT_EQ(k.OffsetPrcbProcStateContext, 0x1f0u);
  EXPECT_EQ(k.SizePrcb, 0xaf00u);
  EXPECT_EQ(k.SizeEProcess, 0xa40u);
  EXPECT_EQ(k.SizeEThread, 0x898u);
  EXPECT_EQ(k.PteBase, 0xfffffd8000000000u);
  EXPECT_EQ(k.MmPfnDatabase, h.PfnDataBase);

  auto d0 = load<DumpDriverEntry64>(bytes, t.DriverListOffset);
  EXPECT_EQ(d0.DllBase, 0xfffff8047ba00000u);
  EXPECT_EQ(d0.SizeOfImage, 0x1046000u);
  EXPECT_EQ(d0.TimeDateStamp, 0x0D8333E6u);
}

TEST(FormatSample, FullDumpRunsFromDumpIt) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19045-x64-full-first16k.dmp");
  auto bytes = read_prefix(path, 0x4000);
  auto h = load<DumpHeader64>(bytes);
  EXPECT_EQ(h.DumpType, 1u);
  EXPECT_EQ(h.MinorVersion, 19045u);
  EXPECT_EQ(h.NumberProcessors, 4u);
  auto d = load<PhysicalMemoryDescriptor64Head>(bytes, offsetof(DumpHeader64, PhysicalMemoryBlock));
  EXPECT_EQ(d.NumberOfRuns, 5u);
  EXPECT_TRUE(is_fill(d.Pad));
  EXPECT_EQ(d.NumberOfPages, 523910u);
  auto r0 = load<PhysicalMemoryRun64>(bytes, offsetof(DumpHeader64, PhysicalMemoryBlock) + 0x10);
  EXPECT_EQ(r0.BasePage, 2u);
  EXPECT_EQ(r0.PageCount, 0x9eu);
}
