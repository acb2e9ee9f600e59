// Complete dumps written from synthetic guests, read back with pagedump's own reader: header
// fields, runs or bitmap, every page equal to the source except the corrections the writer
// makes (decoded KDBG, cleared KdpDataBlockEncoded, captured CONTEXTs), which are checked
// byte for byte.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "pagedump/synth/guest.h"
#include "pagedump/context_record.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/sources/open_image.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/writer/complete_dump.h"
#include "support/temp_dir.h"
#include "support/written_dump.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::Guest;
using pagedump::synth::GuestArch;
using pagedump::synth::GuestSpec;
using pagedump::test::TempDir;

namespace {

using Written = test::WrittenDump;

// Guests of 256 MiB: every test copies and compares all of RAM.
constexpr std::uint32_t kRamMiB = 256;

Written write_dump(GuestSpec spec, const TempDir& dir, CompleteDumpOptions opts = {}) {
  spec.ram_mib = kRamMiB;
  Written w{build_guest(spec), {}, {}, {}};
  w.system = discover_system(w.guest);
  opts.output = (dir / "out.dmp").string();
  opts.quiet = true;
  opts.source_format = "synthetic";
  w.result = write_complete_dump(w.guest, w.system, opts);
  w.dump = DumpFile::open(opts.output);
  return w;
}

void expect_pages_equal_source(const Written& w) {
  const auto corrected = test::corrected_pages(w.guest, w.system);
  std::vector<std::byte> a(1 << 20), b(1 << 20);
  std::uint64_t compared = 0;
  for (const auto& r : w.guest.ranges()) {
    for (std::uint64_t pa = r.base; pa < r.end(); pa += a.size()) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(a.size(), r.end() - pa));
      ASSERT_TRUE(w.guest.read_physical(pa, std::span(a).first(n)).ok());
      auto rr = w.dump->read_physical(pa, std::span(b).first(n));
      ASSERT_TRUE(rr.ok()) << describe(rr);
      if (std::memcmp(a.data(), b.data(), n) == 0) {
        compared += n;
        continue;
      }
      for (std::size_t off = 0; off < n; off += 0x1000) {
        if (std::memcmp(a.data() + off, b.data() + off, 0x1000) != 0) {
          EXPECT_TRUE(corrected.count(pa + off)) << "page " << std::hex << pa + off
                                                 << " differs from the source";
        }
      }
      compared += n;
    }
  }
  EXPECT_EQ(compared, w.guest.total_bytes());
}

void expect_header_matches(const Written& w, std::uint32_t dump_type) {
  const auto& t = w.guest.truth;
  const auto& h = w.dump->header();
  EXPECT_EQ(h.dump_type, dump_type);
  EXPECT_EQ(h.major_version, 0xFu);
  EXPECT_EQ(h.minor_version, t.build);
  EXPECT_EQ(h.machine_image_type, t.machine);
  EXPECT_EQ(h.directory_table_base, t.dtb);
  EXPECT_EQ(h.pfn_database, t.mm_pfn_database_va);
  EXPECT_EQ(h.ps_loaded_module_list, t.ps_loaded_module_list);
  EXPECT_EQ(h.ps_active_process_head, t.ps_active_process_head);
  EXPECT_EQ(h.kd_debugger_data_block, t.kdbg_va);
  EXPECT_EQ(h.number_processors, t.cpus.size());
  EXPECT_EQ(h.product_type, t.nt_product_type);
  EXPECT_EQ(h.suite_mask, t.suite_mask);
  EXPECT_EQ(h.system_time, t.system_time);
  EXPECT_EQ(h.system_up_time, t.interrupt_time);
  EXPECT_EQ(h.required_dump_space, w.dump->file_size());
  EXPECT_EQ(w.result.bytes_written, w.dump->file_size());
  ASSERT_TRUE(h.comment.has_value());
  EXPECT_EQ(*h.comment, "pagedump " PAGEDUMP_VERSION " from a synthetic memory image");
  // Bugcheck: the machine's own when it crashed, else MANUALLY_INITIATED_CRASH.
  EXPECT_EQ(h.bugcheck_code, t.bugcheck_code ? t.bugcheck_code : 0xE2u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(h.bugcheck_parameters[i], t.bugcheck_code ? t.bugcheck_parameters[i] : 0u);
  }
  // Exception: a non-continuable breakpoint at the header context's instruction pointer.
  const auto& e = w.dump->exception();
  EXPECT_EQ(e.code, 0x80000003u);
  EXPECT_EQ(e.flags, 1u);
  EXPECT_EQ(e.address, t.cpus[0].rip);
  const CpuArch arch = t.arch == GuestArch::x64 ? CpuArch::x64 : CpuArch::x86;
  EXPECT_EQ(context_instruction_pointer(arch, w.dump->context_bytes()), t.cpus[0].rip);
  EXPECT_EQ(context_stack_pointer(arch, w.dump->context_bytes()), t.cpus[0].rsp);
}

// Through the dump's own header: KDBG decoded and readable, flag cleared, contexts in place.
void expect_debugger_view(const Written& w) {
  const auto& t = w.guest.truth;
  const auto& h = w.dump->header();
  const PagingMode mode = t.arch == GuestArch::x64 ? PagingMode::x64_4level : PagingMode::x86_pae;
  AddressSpace space(*w.dump, mode, *h.directory_table_base);
  std::vector<std::byte> kdbg(t.kdbg_plain.size());
  ASSERT_TRUE(space.read_virtual(*h.kd_debugger_data_block, kdbg).ok());
  EXPECT_TRUE(kdbg == t.kdbg_plain);
  if (t.kdbg_encoded) {
    std::uint8_t flag = 0xFF;
    ASSERT_TRUE(space.read_virtual(t.keys.encoded_flag_va, std::as_writable_bytes(std::span(&flag, 1))).ok());
    EXPECT_EQ(flag, 0);
  }
  const CpuArch arch = t.arch == GuestArch::x64 ? CpuArch::x64 : CpuArch::x86;
  const std::size_t size = arch == CpuArch::x64 ? 0x4D0 : 0x2CC;
  for (std::size_t i = 0; i < t.cpus.size(); ++i) {
    std::vector<std::byte> ctx(size);
    ASSERT_TRUE(space.read_virtual(t.cpus[i].context, ctx).ok());
    EXPECT_EQ(context_instruction_pointer(arch, ctx), t.cpus[i].rip) << "cpu " << i;
    EXPECT_EQ(context_stack_pointer(arch, ctx), t.cpus[i].rsp) << "cpu " << i;
    // The debugger's stack walk starts there: the page is in the dump even when it is zeros
    // (and a bitmap dump leaves zero pages out).
    std::array<std::byte, 8> top{}, source{};
    ASSERT_TRUE(space.read_virtual(t.cpus[i].rsp, top).ok()) << "cpu " << i;
    ASSERT_TRUE(AddressSpace(w.guest, mode, t.dtb).read_virtual(t.cpus[i].rsp, source).ok());
    EXPECT_EQ(top, source) << "cpu " << i;
    // So are the KPRCB and its current thread, whole.
    std::vector<std::byte> prcb(w.system.kdbg.SizePrcb), thread(w.system.kdbg.SizeEThread);
    EXPECT_TRUE(space.read_virtual(t.cpus[i].prcb, prcb).ok()) << "cpu " << i;
    EXPECT_TRUE(space.read_virtual(t.cpus[i].thread, thread).ok()) << "cpu " << i;
    if (arch == CpuArch::x64) {
      format::ContextAmd64 c;
      std::memcpy(&c, ctx.data(), sizeof c);
      EXPECT_EQ(c.ContextFlags & 0x100000u, 0x100000u);
      EXPECT_EQ(c.MxCsr, c.FltSave.MxCsr);
      EXPECT_EQ(c.SegCs, 0x10);
    }
  }
}

}  // namespace

TEST(CompleteDump, X64EncodedKdbgWithCapturedRegisters) {
  TempDir dir;
  auto w = write_dump({}, dir);
  EXPECT_EQ(w.result.dump_type, 1u);
  expect_header_matches(w, 1);
  ASSERT_EQ(w.dump->runs().size(), w.guest.truth.memory_map.size());
  for (std::size_t i = 0; i < w.dump->runs().size(); ++i) {
    EXPECT_EQ(w.dump->runs()[i].base_page * 0x1000, w.guest.truth.memory_map[i].base);
    EXPECT_EQ(w.dump->runs()[i].page_count * 0x1000, w.guest.truth.memory_map[i].size);
  }
  expect_pages_equal_source(w);
  expect_debugger_view(w);
}

TEST(CompleteDump, X64PlainKdbgWithoutCapturedRegisters) {
  TempDir dir;
  GuestSpec s;
  s.kdbg_encoded = false;
  s.cpu_state = false;
  s.low_stub = false;
  auto w = write_dump(s, dir);
  expect_header_matches(w, 1);
  expect_pages_equal_source(w);
  expect_debugger_view(w);
}

TEST(CompleteDump, X64CrashedKeepsTheMachinesBugcheck) {
  TempDir dir;
  GuestSpec s;
  s.crashed = true;
  auto w = write_dump(s, dir);
  expect_header_matches(w, 1);
  EXPECT_EQ(w.result.bugcheck.code, w.guest.truth.bugcheck_code);
}

TEST(CompleteDump, BugcheckOverride) {
  TempDir dir;
  CompleteDumpOptions o;
  o.bugcheck = Bugcheck{0x161, {1, 2, 3, 4}};
  auto w = write_dump({}, dir, o);
  EXPECT_EQ(w.dump->header().bugcheck_code, 0x161u);
  EXPECT_EQ(w.dump->header().bugcheck_parameters[3], 4u);
}

TEST(CompleteDump, X86Pae) {
  TempDir dir;
  GuestSpec s;
  s.arch = GuestArch::x86_pae;
  s.kdbg_encoded = false;
  s.low_stub = false;
  auto w = write_dump(s, dir);
  EXPECT_EQ(w.dump->header().format(), "PAGEDUMP");
  EXPECT_EQ(w.dump->header().pae_enabled, true);
  expect_header_matches(w, 1);
  expect_pages_equal_source(w);
  expect_debugger_view(w);
}

TEST(CompleteDump, ManyRunsGiveABitmapDumpThatReadsBack) {
  TempDir dir;
  GuestSpec s;
  s.many_runs = true;
  auto w = write_dump(s, dir);
  EXPECT_GE(w.guest.truth.memory_map.size(), 43u);
  EXPECT_EQ(w.result.dump_type, 5u);
  expect_header_matches(w, 5);
  ASSERT_TRUE(w.dump->bitmap().has_value());
  EXPECT_EQ(w.dump->bitmap()->signature, 0x504D4446u);  // FDMP
  EXPECT_EQ(w.dump->bitmap()->present_pages, w.guest.total_bytes() / 0x1000);
  expect_pages_equal_source(w);
  expect_debugger_view(w);
}

TEST(CompleteDump, BitmapTypeLeavesOutZeroPages) {
  TempDir dir;
  CompleteDumpOptions o;
  o.layout = CompleteDumpLayout::bitmap;
  o.omit_zero_pages = true;
  auto w = write_dump({}, dir, o);
  EXPECT_EQ(w.result.dump_type, 5u);
  EXPECT_LT(w.dump->file_size(), w.guest.total_bytes() / 16);
  expect_debugger_view(w);
  // A zero page of the source is simply absent: not present, not invented.
  std::array<std::byte, 8> b{};
  EXPECT_EQ(w.dump->read_physical((kRamMiB - 32) * 0x100000ull, b).status,
            ReadStatus::not_present);
}

// From a raw file whose unused RAM is a file-system hole: the holes are skipped without being
// read, the dump's zero pages stay holes (or are left out of a bitmap), and every byte reads
// back as the source has it.
TEST(CompleteDump, SparseRawImageGivesASparseDumpWithTheSourcesBytes) {
  TempDir dir;
  GuestSpec spec;
  spec.ram_mib = kRamMiB;
  Written w{build_guest(spec), {}, {}, {}};
  w.guest.write_raw(dir / "g.raw", dir / "g.map");
  OpenImageOptions io;
  io.memory_map = (dir / "g.map").string();
  auto image = open_image((dir / "g.raw").string(), io);
  w.system = discover_system(*image);
  std::uint64_t nonzero_pages = 0;
  std::vector<std::byte> page(0x1000);
  const std::vector<std::byte> zero(0x1000);
  for (const auto& r : w.guest.ranges()) {
    for (std::uint64_t pa = r.base; pa < r.end(); pa += 0x1000) {
      ASSERT_TRUE(w.guest.read_physical(pa, page).ok());
      nonzero_pages += page != zero;
    }
  }
  ASSERT_LT(nonzero_pages * 0x1000, w.guest.total_bytes() / 8);

  CompleteDumpOptions opts;
  opts.output = (dir / "runs.dmp").string();
  opts.quiet = true;
  opts.source_format = "synthetic";
  w.result = write_complete_dump(*image, w.system, opts);
  w.dump = DumpFile::open(opts.output);
  EXPECT_EQ(w.result.dump_type, 1u);
  expect_pages_equal_source(w);
  expect_debugger_view(w);
  struct stat st {};
  ASSERT_EQ(::stat(opts.output.c_str(), &st), 0);
  // Allocated: the header and the pages that hold data, not the holes.
  EXPECT_LE(std::uint64_t(st.st_blocks) * 512, 0x2000 + nonzero_pages * 0x1000 + (1u << 20));
  EXPECT_EQ(std::uint64_t(st.st_size), w.dump->file_size());

  opts.output = (dir / "bitmap.dmp").string();
  opts.layout = CompleteDumpLayout::bitmap;
  opts.omit_zero_pages = true;
  w.result = write_complete_dump(*image, w.system, opts);
  w.dump = DumpFile::open(opts.output);
  EXPECT_EQ(w.result.dump_type, 5u);
  ASSERT_TRUE(w.dump->bitmap().has_value());
  // Every page of data, and of the zero pages only those a debugger reads first of each
  // processor: its stack page, KPRCB, current thread and process (the corrections leave no page
  // zero here).
  const PagingMode mode =
      w.guest.truth.arch == GuestArch::x64 ? PagingMode::x64_4level : PagingMode::x86_pae;
  const AddressSpace guest_space(w.guest, mode, w.guest.truth.dtb);
  const format::KdDebuggerData64& k = w.system.kdbg;
  std::set<std::uint64_t> zero_kept_pages;
  auto keep = [&](std::uint64_t va, std::uint64_t size) {
    for (std::uint64_t p = va & ~0xFFFull; p < va + size; p += 0x1000) {
      const Translation t = guest_space.translate(p);
      ASSERT_TRUE(t.ok()) << std::hex << p;
      ASSERT_TRUE(w.guest.read_physical(t.pa & ~0xFFFull, page).ok());
      if (page == zero) zero_kept_pages.insert(t.pa & ~0xFFFull);
    }
  };
  for (const auto& cpu : w.guest.truth.cpus) {
    keep(cpu.rsp, 1);
    keep(cpu.prcb, k.SizePrcb);
    keep(cpu.thread, k.SizeEThread);
    std::uint64_t process = 0;
    ASSERT_TRUE(guest_space
                    .read_virtual(cpu.thread + k.OffsetKThreadApcProcess,
                                  std::as_writable_bytes(std::span(&process, 1)))
                    .ok());
    keep(process, k.SizeEProcess);
  }
  // The guest's stacks hold nothing yet; its KPRCBs, threads and processes are mostly zeros.
  EXPECT_GE(zero_kept_pages.size(), 4u);
  EXPECT_EQ(w.dump->bitmap()->present_pages, nonzero_pages + zero_kept_pages.size());
  expect_debugger_view(w);
}

TEST(CompleteDump, ExistingOutputIsNotReplacedWithoutForce) {
  TempDir dir;
  const auto path = dir / "out.dmp";
  { std::ofstream(path) << "precious"; }
  auto guest = build_guest({});
  auto sys = discover_system(guest);
  CompleteDumpOptions o;
  o.output = path.string();
  o.quiet = true;
  try {
    write_complete_dump(guest, sys, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the file exists; use --force to replace it"),
              std::string::npos);
  }
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(CrashDumpHeader, RoutineContract) {
  auto guest = build_guest({});
  auto sys = discover_system(guest);
  std::vector<std::byte> buf(0x3000, std::byte{0x5A});
  std::uint32_t needed = 0;
  EXPECT_EQ(ke_initialize_crash_dump_header(sys, 2, 0, buf.data(), 0x3000, &needed),
            PAGEDUMP_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(needed, 0x2000u);
  EXPECT_EQ(ke_initialize_crash_dump_header(sys, 1, 1, buf.data(), 0x3000, nullptr),
            PAGEDUMP_STATUS_INVALID_PARAMETER);
  needed = 0;
  EXPECT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, nullptr, 0, &needed),
            PAGEDUMP_STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(needed, 0x2000u);
  EXPECT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, buf.data(), 0x1FFF, &needed),
            PAGEDUMP_STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(buf[0], std::byte{0x5A});  // not written
  ASSERT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, buf.data(), 0x3000, &needed),
            PAGEDUMP_STATUS_SUCCESS);
  EXPECT_EQ(buf[0x2000], std::byte{0x5A});  // nothing past the header
  auto h = format::load<format::DumpHeader64>(buf);
  const auto& t = guest.truth;
  EXPECT_EQ(h.Signature, format::kSignaturePage);
  EXPECT_EQ(h.ValidDump, format::kValidDump64);
  EXPECT_EQ(h.MajorVersion, 0xFu);
  EXPECT_EQ(h.MinorVersion, 19041u);
  EXPECT_EQ(h.DirectoryTableBase, t.dtb);
  EXPECT_EQ(h.PfnDataBase, t.mm_pfn_database_va);
  EXPECT_EQ(h.PsLoadedModuleList, t.ps_loaded_module_list);
  EXPECT_EQ(h.PsActiveProcessHead, t.ps_active_process_head);
  EXPECT_EQ(h.MachineImageType, 0x8664u);
  EXPECT_EQ(h.NumberProcessors, t.cpus.size());
  EXPECT_EQ(h.KdDebuggerDataBlock, t.kdbg_va);
  EXPECT_EQ(h.DumpType, 1u);
  EXPECT_EQ(h.SystemTime, t.system_time);
  EXPECT_EQ(h.SystemUpTime, t.interrupt_time);
  EXPECT_EQ(h.ProductType, t.nt_product_type);
  EXPECT_EQ(h.SuiteMask, t.suite_mask);
  // Left for the writer: still the fill.
  EXPECT_TRUE(format::is_fill(h.RequiredDumpSpace));
  EXPECT_TRUE(format::is_fill(h.BugCheckCode));
  EXPECT_TRUE(format::is_fill(h.BugCheckParameter[0]));
  EXPECT_TRUE(format::is_fill(h.Exception.ExceptionCode));
  EXPECT_TRUE(format::is_fill(format::load<std::uint64_t>(buf, 0x348 + 0xF8)));  // context Rip
  EXPECT_TRUE(format::is_fill(format::load<std::uint32_t>(buf, 0x8C)));  // descriptor pad
  auto d = format::load<format::PhysicalMemoryDescriptor64Head>(buf, 0x88);
  ASSERT_EQ(d.NumberOfRuns, t.memory_map.size());
  std::uint64_t pages = 0;
  for (std::size_t i = 0; i < t.memory_map.size(); ++i) {
    auto r = format::load<format::PhysicalMemoryRun64>(buf, 0x98 + i * 16);
    EXPECT_EQ(r.BasePage, t.memory_map[i].base / 0x1000);
    EXPECT_EQ(r.PageCount, t.memory_map[i].size / 0x1000);
    pages += r.PageCount;
  }
  EXPECT_EQ(d.NumberOfPages, pages);
  // The routine is deterministic: a second call writes the same bytes.
  std::vector<std::byte> again(0x2000);
  ASSERT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, again.data(), 0x2000, nullptr),
            PAGEDUMP_STATUS_SUCCESS);
  EXPECT_TRUE(std::equal(again.begin(), again.end(), buf.begin()));
}

TEST(CrashDumpHeader, TooManyRunsIsNotSupported) {
  GuestSpec s;
  s.many_runs = true;
  auto guest = build_guest(s);
  auto sys = discover_system(guest);
  std::vector<std::byte> buf(0x2000);
  std::uint32_t needed = 0;
  EXPECT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, buf.data(), 0x2000, &needed),
            PAGEDUMP_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(needed, 0x2000u);
}

TEST(CrashDumpHeader, X86HeaderHasPaeAndIs4KiB) {
  GuestSpec s;
  s.arch = GuestArch::x86_pae;
  s.kdbg_encoded = false;
  s.low_stub = false;
  auto guest = build_guest(s);
  auto sys = discover_system(guest);
  std::vector<std::byte> buf(0x1000);
  std::uint32_t needed = 0;
  ASSERT_EQ(ke_initialize_crash_dump_header(sys, 1, 0, buf.data(), 0x1000, &needed),
            PAGEDUMP_STATUS_SUCCESS);
  EXPECT_EQ(needed, 0x1000u);
  auto h = format::load<format::DumpHeader32>(buf);
  EXPECT_EQ(h.ValidDump, format::kValidDump32);
  EXPECT_EQ(h.PaeEnabled, 1u);
  EXPECT_EQ(h.MinorVersion, 7601u);
  EXPECT_EQ(h.MachineImageType, 0x14Cu);
  EXPECT_EQ(h.DirectoryTableBase, guest.truth.dtb);
  EXPECT_EQ(h.KdDebuggerDataBlock, guest.truth.kdbg_va & 0xFFFFFFFFu);
}
