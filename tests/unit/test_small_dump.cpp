// Small memory dumps written from synthetic guests (x64 and x86 PAE), read back with
// pagedump's triage reader: every section in Windows' order with consistent offsets, and the
// bytes of the KPRCB, EPROCESS, ETHREAD, stack, KDBG and data blocks equal to the guest's
// memory; the size cap and its order of what is left out.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "pagedump/synth/guest.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/triage.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/writer/complete_dump.h"
#include "pagedump/writer/small_dump.h"
#include "support/samples.h"
#include "triage_test_util.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::Guest;
using pagedump::synth::GuestArch;
using pagedump::synth::GuestSpec;
using pagedump::test::open_triage;
using pagedump::test::OpenedTriage;
using pagedump::test::TempDir;

namespace {

GuestSpec crashed(pagedump::synth::GuestArch arch = pagedump::synth::GuestArch::x64) {
  GuestSpec spec;
  spec.arch = arch;
  spec.crashed = true;
  // Without captured registers the writer corrects nothing in the KPRCB: its copy must equal
  // memory byte for byte (CapturedRegistersReachTheKprcbCopy covers the other case).
  spec.cpu_state = false;
  return spec;
}

struct Written {
  Guest guest;
  DiscoveredSystem system;
  DumpWriteResult result;
  std::unique_ptr<OpenedTriage> dump;
};

Written write_small(GuestSpec spec, const TempDir& dir, SmallDumpOptions opts = {}) {
  spec.ram_mib = 256;
  Written w{build_guest(spec), {}, {}, {}};
  w.system = discover_system(w.guest);
  opts.output = (dir / "small.dmp").string();
  opts.quiet = true;
  opts.source_format = "synthetic";
  w.result = write_small_dump(w.guest, w.system, opts);
  w.dump = open_triage(dir / "small.dmp", spec.arch == GuestArch::x64);
  return w;
}

std::vector<std::byte> guest_bytes(const Written& w, std::uint64_t va, std::size_t size) {
  AddressSpace space(w.guest, w.system.paging, w.system.directory_table_base);
  std::vector<std::byte> out(size);
  space.read_virtual_or_throw(va, out);
  return out;
}

// Memory as the dump must show it: the KDBG decoded and KdpDataBlockEncoded cleared.
std::vector<std::byte> corrected_bytes(const Written& w, std::uint64_t va, std::size_t size) {
  auto out = guest_bytes(w, va, size);
  const auto& t = w.guest.truth;
  auto patch = [&](std::uint64_t at, std::span<const std::byte> bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (at + i >= va && at + i < va + size) out[at + i - va] = bytes[i];
    }
  };
  if (t.kdbg_encoded) {
    patch(t.kdbg_va, t.kdbg_plain);
    const std::byte zero{0};
    patch(t.keys.encoded_flag_va, std::span(&zero, 1));
  }
  return out;
}

std::vector<std::byte> file_bytes(const Written& w, FileRange r) {
  return w.dump->dump->read_range(r);
}

std::uint64_t file_size(const Written& w) { return w.dump->file->size(); }

// Offsets in Windows' order, back to back (reference §5.5).
void expect_windows_layout(const Written& w) {
  const TriageDump& d = *w.dump->dump;
  const TriageFields& f = d.fields();
  const bool is64 = d.is64();
  const auto& k = w.system.kdbg;
  EXPECT_EQ(f.context_offset, is64 ? 0x348u : 0x320u);
  EXPECT_EQ(f.exception_offset, is64 ? 0xF00u : 0x7D0u);
  EXPECT_EQ(f.mm_offset, is64 ? 0x2080u : 0x1068u);
  EXPECT_EQ(f.unloaded_drivers_offset, f.mm_offset + (is64 ? 0x50u : 0x34u));
  EXPECT_EQ(f.prcb_offset, f.unloaded_drivers_offset + (is64 ? 8u : 4u) +
                               w.system.unloaded_drivers.size() * (is64 ? 0x38u : 0x28u));
  EXPECT_EQ(f.process_offset, f.prcb_offset + k.SizePrcb);
  EXPECT_EQ(f.thread_offset, f.process_offset + k.SizeEProcess);
  EXPECT_EQ(f.call_stack_offset, f.thread_offset + k.SizeEThread);
  EXPECT_EQ(f.debugger_data_offset, f.call_stack_offset + f.size_of_call_stack);
  EXPECT_EQ(f.debugger_data_size, w.system.kdbg_block.size());
  EXPECT_EQ(f.driver_list_offset, f.debugger_data_offset + f.debugger_data_size);
  EXPECT_EQ(f.string_pool_offset, f.driver_list_offset + f.driver_count * (is64 ? 0x90u : 0x4Cu));
  EXPECT_EQ(f.data_blocks_offset, f.string_pool_offset + f.string_pool_size);
  std::uint64_t next = f.data_blocks_offset + 16ull * f.data_blocks_count;
  for (const auto& b : d.data_blocks()) {
    EXPECT_EQ(b.file_offset, next);
    next = b.file_offset + b.size;
  }
  EXPECT_LE(next, f.valid_offset);
  EXPECT_EQ(f.valid_offset, f.size_of_dump - 4);
  EXPECT_EQ(f.size_of_dump, file_size(w));
  EXPECT_EQ(f.size_of_dump, w.result.bytes_written);
  EXPECT_EQ(d.mini_dump_fields(), f.data_blocks_count ? 0xCFFu : 0x4FFu);
  EXPECT_TRUE(d.warnings().empty()) << d.warnings().front();
  // The header: DumpType 4, RequiredDumpSpace = file size, the physical memory block as fill.
  const auto& h = w.dump->header;
  std::uint32_t type = 0;
  std::uint64_t required = 0;
  std::uint32_t block_word = 0;
  if (is64) {
    std::memcpy(&type, h.data() + offsetof(format::DumpHeader64, DumpType), 4);
    std::memcpy(&required, h.data() + offsetof(format::DumpHeader64, RequiredDumpSpace), 8);
    std::memcpy(&block_word, h.data() + offsetof(format::DumpHeader64, PhysicalMemoryBlock), 4);
  } else {
    std::memcpy(&type, h.data() + offsetof(format::DumpHeader32, DumpType), 4);
    std::memcpy(&required, h.data() + offsetof(format::DumpHeader32, RequiredDumpSpace), 8);
    std::memcpy(&block_word, h.data() + offsetof(format::DumpHeader32, PhysicalMemoryBlock), 4);
  }
  EXPECT_EQ(type, 4u);
  EXPECT_EQ(required, file_size(w));
  EXPECT_EQ(block_word, format::kFill32);
}

// The structures of processor `cpu` and its thread, byte for byte.
void expect_structures(const Written& w, std::uint32_t cpu) {
  const TriageDump& d = *w.dump->dump;
  const auto& k = w.system.kdbg;
  const auto& gc = w.guest.truth.cpus[cpu];
  EXPECT_EQ(file_bytes(w, d.prcb_range()), guest_bytes(w, gc.prcb, k.SizePrcb));
  EXPECT_EQ(file_bytes(w, d.thread_range()), guest_bytes(w, gc.thread, k.SizeEThread));
  EXPECT_EQ(file_bytes(w, d.process_range()),
            guest_bytes(w, w.guest.truth.processes[0].eprocess, k.SizeEProcess));
  // The stack from the stack pointer to the base.
  EXPECT_EQ(d.top_of_stack(), gc.rsp);
  EXPECT_EQ(d.fields().size_of_call_stack, gc.stack_base - gc.rsp);
  EXPECT_EQ(file_bytes(w, d.stack_range()), guest_bytes(w, gc.rsp, gc.stack_base - gc.rsp));
  // The KDBG copy is the decoded block.
  const auto kdbg = d.kdbg_bytes();
  EXPECT_EQ(std::vector<std::byte>(kdbg.begin(), kdbg.end()), w.guest.truth.kdbg_plain);
  // The crashing processor as a reader finds it: KPRCB number and its context.
  const auto crashing = d.crashing_processor(*w.dump->view);
  EXPECT_EQ(crashing.number, cpu);
  EXPECT_EQ(crashing.prcb_va, gc.prcb);
  EXPECT_EQ(crashing.context_va, gc.context);
}

void expect_drivers(const Written& w, std::size_t count) {
  const auto& drivers = w.dump->dump->drivers();
  ASSERT_EQ(drivers.size(), count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& m = w.guest.truth.modules[i];
    EXPECT_EQ(drivers[i].path, m.full_name);
    EXPECT_EQ(drivers[i].name, m.base_name);
    EXPECT_EQ(drivers[i].base, m.base);
    EXPECT_EQ(drivers[i].size, m.size);
    EXPECT_EQ(drivers[i].checksum, m.checksum);
    EXPECT_EQ(drivers[i].timestamp, m.time_date_stamp);
  }
}

TEST(SmallDump, X64DefaultCarriesEverythingInWindowsOrder) {
  TempDir dir;
  auto w = write_small(crashed(), dir);
  expect_windows_layout(w);
  const TriageDump& d = *w.dump->dump;
  EXPECT_EQ(d.fields().triage_options, 0xFFFFFEFFu);  // not overflowed
  expect_structures(w, 0);
  expect_drivers(w, w.guest.truth.modules.size());
  EXPECT_EQ(d.drivers()[0].name, "ntoskrnl.exe");
  // Data blocks: the KPRCB and the CONTEXT at their addresses first, then what registers
  // point to; every block equal to memory.
  const auto& blocks = d.data_blocks();
  ASSERT_GE(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].address, w.guest.truth.ki_processor_block);
  EXPECT_EQ(blocks[0].size, 8u * w.guest.truth.cpus.size());
  EXPECT_EQ(blocks[1].address, w.guest.truth.cpus[0].prcb);
  EXPECT_EQ(blocks[1].size, 0xAF00u);
  EXPECT_EQ(blocks[2].address, w.guest.truth.cpus[0].context);
  EXPECT_EQ(blocks[2].size, 0x4D0u);
  EXPECT_EQ(blocks[3].address, w.guest.truth.cpus[0].rsp);  // Rsp, the first register in memory
  EXPECT_EQ(blocks[3].size, 0x100u);
  for (const auto& b : blocks) {
    EXPECT_EQ(file_bytes(w, {b.file_offset, b.size}), corrected_bytes(w, b.address, b.size))
        << std::hex << b.address;
  }
  // The bugcheck and the header context come from the machine.
  EXPECT_EQ(w.result.bugcheck.code, 0x1000007Eu);
  EXPECT_EQ(w.result.dump_type, 4u);
  EXPECT_EQ(w.result.pages, 0u);
  format::DumpHeader64 h;
  std::memcpy(&h, w.dump->header.data(), sizeof h);
  EXPECT_EQ(h.BugCheckCode, 0x1000007Eu);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.BugCheckParameter[i], w.guest.truth.bugcheck_parameters[i]);
  // The SKU.
  EXPECT_EQ(h.ProductType, w.guest.truth.nt_product_type);
  EXPECT_EQ(h.SuiteMask, w.guest.truth.suite_mask);
  EXPECT_EQ(h.MiniDumpFields, 0xCFFu);
  // Unloaded drivers as discovery found them, names cut to the 12 characters Windows keeps.
  ASSERT_EQ(d.unloaded_drivers().size(), w.system.unloaded_drivers.size());
  for (std::size_t i = 0; i < d.unloaded_drivers().size(); ++i) {
    EXPECT_EQ(d.unloaded_drivers()[i].name, w.system.unloaded_drivers[i].name.substr(0, 12));
    EXPECT_EQ(d.unloaded_drivers()[i].start, w.system.unloaded_drivers[i].start);
    EXPECT_EQ(d.unloaded_drivers()[i].end, w.system.unloaded_drivers[i].end);
  }
  // MM storage: version 1, size 0x50.
  ASSERT_TRUE(d.mm_storage());
  EXPECT_EQ(d.mm_storage()->version, 1u);
  EXPECT_EQ(d.mm_storage()->size, 0x50u);
}

TEST(SmallDump, X64ClassicIsExactly64KiBWithOverflow) {
  TempDir dir;
  SmallDumpOptions o;
  o.max_size = 65536;
  auto w = write_small(crashed(), dir, o);
  EXPECT_EQ(file_size(w), 65536u);
  expect_windows_layout(w);
  const TriageDump& d = *w.dump->dump;
  EXPECT_EQ(d.fields().triage_options & format::kTriageOptionOverflowed,
            format::kTriageOptionOverflowed);
  // Data blocks are left out first: the 0xAF00-byte KPRCB block does not fit; the small
  // KiProcessorBlock array (with which a reader finds the KPRCB's address), the CONTEXT and
  // the register blocks after it still do.
  ASSERT_GE(d.fields().data_blocks_count, 2u);
  EXPECT_EQ(d.data_blocks()[0].address, w.system.kdbg.KiProcessorBlock);
  EXPECT_EQ(d.data_blocks()[1].address, w.guest.truth.cpus[0].context);
  for (const auto& b : d.data_blocks()) EXPECT_NE(b.address, w.guest.truth.cpus[0].prcb);
  expect_structures(w, 0);                       // KPRCB, process, thread, whole stack
  ASSERT_GE(d.drivers().size(), 2u);
  EXPECT_EQ(d.drivers()[0].name, "ntoskrnl.exe");
  EXPECT_EQ(d.drivers()[1].name, "hal.dll");
  ASSERT_FALSE(w.result.notes.empty());
}

TEST(SmallDump, ClassicFlagEqualsMaxSize65536) {
  TempDir dir;
  SmallDumpOptions o;
  o.classic = true;
  auto w = write_small(crashed(), dir, o);
  EXPECT_EQ(file_size(w), 65536u);
  o.classic = true;
  o.max_size = 70000;
  EXPECT_THROW(write_small_dump(w.guest, w.system,
                                [&] {
                                  auto x = o;
                                  x.output = (dir / "x.dmp").string();
                                  return x;
                                }()),
               Error);
}

TEST(SmallDump, TightCapCutsTheStackFarEndThenDrivers) {
  TempDir dir;
  GuestSpec spec = crashed();
  SmallDumpOptions o;
  // Room for the fixed part, ntoskrnl's entry and 0x40 bytes of stack: the rest goes.
  auto full = write_small(spec, dir);
  const auto& f = full.dump->dump->fields();
  const std::uint64_t fixed = f.call_stack_offset + f.debugger_data_size;
  const std::uint64_t nt = 0x90 + format::dump_string_record_size(
                                      static_cast<std::uint32_t>(
                                          full.guest.truth.modules[0].full_name.size()));
  o.max_size = fixed + nt + 0x40 + 4;
  TempDir dir2;
  auto w = write_small(spec, dir2, o);
  const TriageDump& d = *w.dump->dump;
  EXPECT_EQ(file_size(w), ((fixed + nt + 7) & ~7ull) + 4);
  EXPECT_EQ(d.fields().size_of_call_stack, 0u);  // the stack goes before the driver list
  ASSERT_EQ(d.drivers().size(), 1u);
  EXPECT_EQ(d.drivers()[0].name, "ntoskrnl.exe");
  EXPECT_NE(d.fields().triage_options & format::kTriageOptionOverflowed, 0u);
  // Below the fixed part: refused, nothing written.
  o.max_size = fixed - 8;
  o.output = (dir2 / "none.dmp").string();
  try {
    write_small_dump(w.guest, w.system, o);
    FAIL() << "a cap below the fixed part was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("needs at least"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir2 / "none.dmp"));
}

TEST(SmallDump, CpuOptionSavesThatProcessorsThread) {
  TempDir dir;
  SmallDumpOptions o;
  o.cpu = 2;
  auto w = write_small(crashed(), dir, o);
  expect_windows_layout(w);
  expect_structures(w, 2);
}

TEST(SmallDump, BugcheckProcessorIsFoundFromTheParameters) {
  // The guest crashes on processor 0; a capture where processor 2's registers are named by
  // the bugcheck parameters picks processor 2.
  TempDir dir;
  GuestSpec spec = crashed();
  spec.ram_mib = 256;
  Guest g = build_guest(spec);
  DiscoveredSystem s = discover_system(g);
  ASSERT_TRUE(s.bugcheck);
  s.bugcheck->parameters[1] = 0;
  s.bugcheck->parameters[2] = g.truth.cpus[2].rsp + 0x20;
  s.bugcheck->parameters[3] = 0;
  SmallDumpOptions o;
  o.output = (dir / "small.dmp").string();
  auto r = write_small_dump(g, s, o);
  auto d = open_triage(dir / "small.dmp", true);
  EXPECT_EQ(d->dump->crashing_processor(*d->view).number, 2u);
}

TEST(SmallDump, X86PaeDefaultAndClassic) {
  TempDir dir;
  GuestSpec spec = crashed(GuestArch::x86_pae);
  auto w = write_small(spec, dir);
  expect_windows_layout(w);
  expect_structures(w, 0);
  expect_drivers(w, w.guest.truth.modules.size());
  const auto& blocks = w.dump->dump->data_blocks();
  ASSERT_GE(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].address, w.guest.truth.cpus[0].prcb);
  EXPECT_EQ(blocks[1].size, w.system.kdbg.SizePrcb);
  // 32-bit: the table holds the VA sign-extended.
  std::uint64_t raw = 0;
  w.dump->file->read_exact(w.dump->dump->fields().data_blocks_offset + 16,
                           std::as_writable_bytes(std::span(&raw, 1)), "block");
  EXPECT_EQ(raw, 0xFFFFFFFF00000000ull | w.guest.truth.cpus[0].prcb);

  TempDir dir2;
  SmallDumpOptions o;
  o.max_size = 65536;
  auto c = write_small(spec, dir2, o);
  EXPECT_EQ(file_size(c), 65536u);
  expect_windows_layout(c);
  expect_structures(c, 0);
  ASSERT_GE(c.dump->dump->drivers().size(), 2u);
  EXPECT_EQ(c.dump->dump->drivers()[1].name, c.guest.truth.modules[1].base_name);
}

// NT 5.x wrote the classic 64 KiB small dump, and so does pagedump by default for such a
// kernel. No NT 5.x guest is built: the x86 guest's discovered build is set to XP's 2600, the
// one fact the choice rests on.
TEST(SmallDump, Nt5KernelGetsTheClassic64KiBByDefault) {
  TempDir dir;
  GuestSpec spec = crashed(GuestArch::x86_pae);
  spec.ram_mib = 256;
  const Guest guest = build_guest(spec);
  DiscoveredSystem system = discover_system(guest);
  system.build = 2600;
  SmallDumpOptions o;
  o.output = (dir / "xp.dmp").string();
  o.quiet = true;
  const auto result = write_small_dump(guest, system, o);
  EXPECT_EQ(std::filesystem::file_size(o.output), 65536u);
  EXPECT_NE(std::find(result.notes.begin(), result.notes.end(),
                      "an NT 5.x kernel: the classic 64 KiB small dump is written"),
            result.notes.end());
  // This guest's content fits: nothing is left out, the file is padded to 64 KiB.
  auto dump = open_triage(dir / "xp.dmp", false);
  EXPECT_EQ(dump->dump->fields().triage_options & format::kTriageOptionOverflowed, 0u);
  EXPECT_EQ(dump->dump->drivers().size(), guest.truth.modules.size());
  // An explicit size wins over the default: the file is sized by its content.
  o.output = (dir / "xp-sized.dmp").string();
  o.max_size = 2u << 20;
  write_small_dump(guest, system, o);
  const auto content_size = std::filesystem::file_size(o.output);
  EXPECT_LT(content_size, 65536u);
  // Build 6000 (Vista) and later: sized by content by default.
  system.build = 6000;
  o.output = (dir / "vista.dmp").string();
  o.max_size.reset();
  write_small_dump(guest, system, o);
  EXPECT_EQ(std::filesystem::file_size(o.output), content_size);
}

TEST(SmallDump, CapturedRegistersReachTheKprcbCopy) {
  // With captured CPU state, the writer's CONTEXT (the captured registers) is what the header,
  // the KPRCB copy's ProcessorState and the CONTEXT data block hold, as in a complete dump.
  TempDir dir;
  GuestSpec spec = crashed();
  spec.cpu_state = true;
  auto w = write_small(spec, dir);
  const TriageDump& d = *w.dump->dump;
  const auto ctx = d.context();
  ASSERT_EQ(ctx.size(), 0x4D0u);
  const std::vector<std::byte> header_ctx(ctx.begin(), ctx.end());
  const auto prcb = file_bytes(w, d.prcb_range());
  const std::size_t at = w.system.kdbg.OffsetPrcbProcStateContext;
  EXPECT_EQ(std::vector<std::byte>(prcb.begin() + at, prcb.begin() + at + 0x4D0), header_ctx);
  ASSERT_GE(d.data_blocks().size(), 3u);
  const auto& b = d.data_blocks()[2];
  EXPECT_EQ(b.address, w.guest.truth.cpus[0].context);
  EXPECT_EQ(file_bytes(w, {b.file_offset, b.size}), header_ctx);
  std::uint64_t rsp = 0;
  std::memcpy(&rsp, header_ctx.data() + 0x98, 8);
  EXPECT_EQ(rsp, w.guest.truth.cpus[0].rsp);
  EXPECT_EQ(d.top_of_stack(), w.guest.truth.cpus[0].rsp);
}

TEST(SmallDump, MinidumpFileNames) {
  // 2020-06-15 12:00 UTC and 1999-12-31 23:59:59 UTC.
  EXPECT_EQ(minidump_file_name(132366960000000000ull, 1), "Mini061520-01.dmp");
  EXPECT_EQ(minidump_file_name(125911583990000000ull, 12), "Mini123199-12.dmp");
}

}  // namespace

namespace {

// Round trip on real Windows data: a guest holding the memory the real 19041 small dump
// carries, at its real addresses; pagedump's small dump of it carries the same bytes for the
// KPRCB, ETHREAD, EPROCESS, stack and data blocks, and the same driver list, as Windows' own.
TEST(SmallDumpSample, RoundTripAgainstWindowsSmallDump) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  GuestSpec spec;
  spec.sample = path;
  spec.sample_memory = true;
  spec.crashed = true;
  spec.cpu_state = false;
  spec.ram_mib = 512;
  Guest g = build_guest(spec);
  DiscoveredSystem s = discover_system(g);
  TempDir dir;
  SmallDumpOptions o;
  o.output = (dir / "ours.dmp").string();
  o.cpu = g.truth.sample_cpu;
  o.quiet = true;
  write_small_dump(g, s, o);
  auto ours = open_triage(dir / "ours.dmp", true);
  auto theirs = open_triage(path, true);
  const TriageDump& a = *ours->dump;
  const TriageDump& b = *theirs->dump;
  EXPECT_EQ(a.read_range(a.prcb_range()), b.read_range(b.prcb_range()));
  EXPECT_EQ(a.read_range(a.thread_range()), b.read_range(b.thread_range()));
  EXPECT_EQ(a.read_range(a.process_range()), b.read_range(b.process_range()));
  // Our stack starts at the CONTEXT's stack pointer; Windows' at KeBugCheckEx's, lower on the
  // same stack. Both end at the stack base; the common part is the same.
  const auto sa = a.read_range(a.stack_range());
  const auto sb = b.read_range(b.stack_range());
  EXPECT_EQ(a.top_of_stack() + sa.size(), b.top_of_stack() + sb.size());
  ASSERT_GE(a.top_of_stack(), b.top_of_stack());
  ASSERT_LE(sa.size(), sb.size());
  EXPECT_TRUE(std::equal(sa.begin(), sa.end(), sb.begin() + (a.top_of_stack() - b.top_of_stack())));
  // The driver list: names, bases, sizes, checksums, timestamps.
  ASSERT_EQ(a.drivers().size(), b.drivers().size());
  for (std::size_t i = 0; i < a.drivers().size(); ++i) {
    EXPECT_EQ(a.drivers()[i].path, b.drivers()[i].path);
    EXPECT_EQ(a.drivers()[i].base, b.drivers()[i].base);
    EXPECT_EQ(a.drivers()[i].size, b.drivers()[i].size);
    EXPECT_EQ(a.drivers()[i].checksum, b.drivers()[i].checksum) << a.drivers()[i].path;
    EXPECT_EQ(a.drivers()[i].timestamp, b.drivers()[i].timestamp) << a.drivers()[i].path;
  }
  // Every data block of ours that lies in memory the sample carries has Windows' bytes.
  std::size_t compared = 0;
  for (const auto& blk : a.data_blocks()) {
    std::vector<std::byte> mine = a.read_range({blk.file_offset, blk.size});
    std::vector<std::byte> real(blk.size);
    if (!theirs->view->read_virtual(blk.address, real)) continue;
    // Only memory the guest took from the sample (not the guest's own kernel image).
    const bool placed = std::any_of(g.truth.sample_regions.begin(), g.truth.sample_regions.end(),
                                    [&](const auto& r) {
                                      return blk.address >= r.first &&
                                             blk.address + blk.size <= r.first + r.second;
                                    });
    if (!placed) continue;
    EXPECT_EQ(mine, real) << std::hex << blk.address;
    ++compared;
  }
  EXPECT_GE(compared, 100u);  // 118 of 187 when written: the KPRCB, CONTEXT, pointed-to memory
  // The KDBG copy: Windows' decoded block (the guest lays it out at the sample's addresses).
  EXPECT_TRUE(std::ranges::equal(a.kdbg_bytes(), b.kdbg_bytes()));
  EXPECT_EQ(a.kd_debugger_data_block(), b.kd_debugger_data_block());
}

}  // namespace

namespace {

// Re-typing: a complete dump pagedump reads is an image like any other; its small dump carries
// the same sections as the small dump of the guest it was written from.
TEST(SmallDump, FromACompleteDump) {
  TempDir dir;
  auto direct = write_small(crashed(), dir);
  CompleteDumpOptions co;
  co.output = (dir / "full.dmp").string();
  co.quiet = true;
  write_complete_dump(direct.guest, direct.system, co);
  auto full = DumpFile::open(co.output);
  const DiscoveredSystem s = discover_system(*full);
  SmallDumpOptions so;
  so.output = (dir / "retyped.dmp").string();
  so.quiet = true;
  write_small_dump(*full, s, so);
  auto re = open_triage(dir / "retyped.dmp", true);
  const TriageDump& a = *direct.dump->dump;
  const TriageDump& b = *re->dump;
  EXPECT_EQ(a.fields().size_of_dump, b.fields().size_of_dump);
  for (auto range : {&TriageDump::prcb_range, &TriageDump::process_range,
                     &TriageDump::thread_range, &TriageDump::stack_range,
                     &TriageDump::kdbg_range, &TriageDump::driver_list_range,
                     &TriageDump::string_pool_range, &TriageDump::data_blocks_table_range}) {
    EXPECT_EQ((a.*range)(), (b.*range)());
    EXPECT_EQ(a.read_range((a.*range)()), b.read_range((b.*range)()));
  }
  ASSERT_EQ(a.data_blocks().size(), b.data_blocks().size());
  for (std::size_t i = 0; i < a.data_blocks().size(); ++i) {
    const auto& x = a.data_blocks()[i];
    const auto& y = b.data_blocks()[i];
    EXPECT_EQ(a.read_range({x.file_offset, x.size}), b.read_range({y.file_offset, y.size}));
  }
}

}  // namespace

namespace {

TEST(SmallDump, UnloadedDriversAsWindowsWritesThem) {
  TempDir dir;
  GuestSpec spec = crashed();
  spec.ram_mib = 256;
  Guest g = build_guest(spec);
  DiscoveredSystem s = discover_system(g);
  s.unloaded_drivers = {{"dam.sys", 0xfffff80487de0000ull, 0xfffff80487df0000ull},
                        {"mcupdate_GenuineIntel.dll", 0xfffff80479200000ull,
                         0xfffff80479400000ull}};
  SmallDumpOptions o;
  o.output = (dir / "u.dmp").string();
  write_small_dump(g, s, o);
  auto d = open_triage(dir / "u.dmp", true);
  const auto& u = d->dump->unloaded_drivers();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].name, "dam.sys");
  EXPECT_EQ(u[0].start, 0xfffff80487de0000ull);
  EXPECT_EQ(u[0].end, 0xfffff80487df0000ull);
  EXPECT_EQ(u[1].name, "mcupdate_Gen");  // WCHAR[12]
  // The UNICODE_STRING keeps the full name's length in bytes, its buffer 0 (as in the sample).
  format::DumpUnloadedDriver64 e{};
  d->file->read_exact(d->dump->fields().unloaded_drivers_offset + 8 + sizeof e,
                      std::as_writable_bytes(std::span(&e, 1)), "entry");
  EXPECT_EQ(e.NameLength, 2 * 25);
  EXPECT_EQ(e.NameMaximumLength, 2 * 25);
  EXPECT_EQ(e.NameBuffer, 0u);
  EXPECT_EQ(d->dump->fields().prcb_offset, 0x20D0u + 8 + 2 * 0x38);
}

}  // namespace
