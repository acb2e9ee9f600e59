// Kernel dumps written from synthetic guests and read back with pagedump's reader: the page
// set is checked against an enumeration of the guest's kernel page tables made here, by a
// walker of its own (not for_each_mapping), and against the guest's ground truth (private
// user pages, KUSER_SHARED_DATA, the kernel image).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pagedump/synth/guest.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/sources/open_image.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/writer/complete_dump.h"
#include "pagedump/writer/kernel_dump.h"
#include "page_set_writer.h"
#include "support/samples.h"
#include "support/temp_dir.h"
#include "support/written_dump.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::Guest;
using pagedump::synth::GuestArch;
using pagedump::synth::GuestSpec;
using pagedump::test::TempDir;

namespace {

constexpr std::uint32_t kRamMiB = 256;
constexpr std::uint64_t kPage = 0x1000;
constexpr std::uint64_t kAddrMask = 0x000FFFFFFFFFF000ull;

bool holds(const PhysicalMemory& m, std::uint64_t pa) {
  for (const auto& r : m.ranges()) {
    if (pa >= r.base && pa + kPage <= r.end()) return true;
  }
  return false;
}

// The kernel half's leaf and table pages, walked with raw entry reads: x64 PML4 slots 256..511,
// PAE PDPT slots 2..3 (the guests use the default 2 GiB split). (table, level) pairs are
// entered once, which ends the self-map's recursion.
class KernelPages {
 public:
  KernelPages(const PhysicalMemory& m, std::uint64_t dtb, bool pae) : m_(m) {
    if (pae) {
      const std::uint64_t pdpt = dtb & 0xFFFFFFE0ull;
      add(pdpt & ~(kPage - 1));
      for (int i = 2; i < 4; ++i) {
        const std::uint64_t e = entry(pdpt + i * 8);
        if (e & 1) table(e & kAddrMask, 2, 0);
      }
    } else {
      table(dtb & kAddrMask, 4, 256);
    }
  }
  const std::set<std::uint64_t>& pages() const { return pages_; }

 private:
  std::uint64_t entry(std::uint64_t pa) const {
    std::uint64_t v = 0;
    if (!m_.read_physical(pa, std::as_writable_bytes(std::span(&v, 1)))) return 0;
    return v;
  }
  void add(std::uint64_t pa) {
    if (holds(m_, pa)) pages_.insert(pa);
  }
  void table(std::uint64_t pa, int level, int first_index) {
    if (!holds(m_, pa) || !seen_.insert({pa, level}).second) return;
    add(pa);
    for (int i = first_index; i < 512; ++i) {
      const std::uint64_t e = entry(pa + i * 8);
      if (!(e & 1)) continue;
      if (level == 1) {
        add(e & kAddrMask);
      } else if ((level == 2 || level == 3) && (e & 0x80)) {
        const std::uint64_t size = level == 2 ? 0x200000 : 0x40000000;
        const std::uint64_t base = e & kAddrMask & ~(size - 1);
        for (std::uint64_t p = base; p < base + size; p += kPage) add(p);
      } else {
        table(e & kAddrMask, level - 1, 0);
      }
    }
  }
  const PhysicalMemory& m_;
  std::set<std::uint64_t> pages_;
  std::set<std::pair<std::uint64_t, int>> seen_;
};

using Written = test::WrittenDump;

Written write_kernel(GuestSpec spec, const TempDir& dir, KernelDumpOptions opts = {}) {
  spec.ram_mib = kRamMiB;
  Written w{build_guest(spec), {}, {}, {}};
  w.system = discover_system(w.guest);
  opts.output = (dir / "kernel.dmp").string();
  opts.quiet = true;
  opts.source_format = "synthetic";
  w.result = write_kernel_dump(w.guest, w.system, opts);
  w.dump = DumpFile::open(opts.output);
  return w;
}

bool dump_has(const DumpFile& d, std::uint64_t pa) {
  std::byte b{};
  return d.read_physical(pa, std::span(&b, 1)).ok();
}

// Every kernel page is stored and holds the source's bytes (or the correction); the dump holds
// nothing else but `extra`.
void expect_kernel_pages(const Written& w, const std::set<std::uint64_t>& extra = {}) {
  const bool pae = w.guest.truth.arch == GuestArch::x86_pae;
  const KernelPages kernel(w.guest, w.guest.truth.dtb, pae);
  ASSERT_GT(kernel.pages().size(), 100u);
  const auto corrected = test::corrected_pages(w.guest, w.system);
  std::vector<std::byte> a(kPage), b(kPage);
  std::uint64_t differing = 0;
  for (std::uint64_t pa : kernel.pages()) {
    ASSERT_TRUE(w.guest.read_physical(pa, a).ok());
    auto r = w.dump->read_physical(pa, b);
    ASSERT_TRUE(r.ok()) << "kernel page " << std::hex << pa << ": " << describe(r);
    if (a != b) {
      ++differing;
      EXPECT_TRUE(corrected.count(pa)) << "page " << std::hex << pa << " differs from the source";
    }
  }
  if (w.guest.truth.kdbg_encoded) {
    EXPECT_GT(differing, 0u);
  }
  std::set<std::uint64_t> all = kernel.pages();
  all.insert(extra.begin(), extra.end());
  EXPECT_EQ(w.dump->stored_pages(), all.size());
  EXPECT_EQ(w.result.pages, all.size());
  EXPECT_TRUE(kernel.pages().count(w.guest.truth.kuser_pa));
  EXPECT_TRUE(kernel.pages().count(w.guest.truth.kdbg_pa & ~(kPage - 1)));
  EXPECT_TRUE(kernel.pages().count(w.guest.truth.kernel_pa));
}

void expect_kernel_header(const Written& w, std::uint32_t dump_options) {
  const auto& h = w.dump->header();
  EXPECT_EQ(h.dump_type, 6u);
  EXPECT_EQ(w.result.dump_type, 6u);
  EXPECT_EQ(h.directory_table_base, w.guest.truth.dtb);
  EXPECT_EQ(h.kd_debugger_data_block, w.guest.truth.kdbg_va);
  EXPECT_EQ(h.required_dump_space, w.dump->file_size());
  EXPECT_EQ(h.bugcheck_code, 0xE2u);
  ASSERT_TRUE(w.dump->bitmap().has_value());
  const auto& bm = *w.dump->bitmap();
  EXPECT_EQ(bm.signature, format::kSummaryDumpSignature);
  EXPECT_EQ(bm.dump_options, dump_options);
  EXPECT_EQ(bm.bitmap_bits % 64, 0u);
  EXPECT_EQ(bm.first_page_offset % kPage, 0u);
  EXPECT_EQ(w.dump->file_size(), bm.first_page_offset + bm.present_pages * kPage);
}

void expect_no_user_pages(const Written& w, std::uint64_t except_pid = ~0ull) {
  ASSERT_GE(w.guest.truth.processes.size(), 3u);
  for (const auto& p : w.guest.truth.processes) {
    if (!p.user_pa) continue;
    if (p.pid == except_pid) {
      EXPECT_TRUE(dump_has(*w.dump, p.user_pa)) << p.name;
    } else {
      EXPECT_FALSE(dump_has(*w.dump, p.user_pa)) << p.name << " private page is in the dump";
    }
  }
}

TEST(KernelDump, X64HoldsTheKernelAndNoUserPage) {
  TempDir dir;
  auto w = write_kernel({}, dir);
  expect_kernel_header(w, format::kDumpSummaryValidKernelVa);
  expect_kernel_pages(w);
  expect_no_user_pages(w);
  // Much smaller than the complete dump: only what the kernel maps.
  EXPECT_LT(w.result.bytes_written, std::uint64_t{kRamMiB} << 20 >> 2);
}

TEST(KernelDump, X86PaeHoldsTheKernelAndNoUserPage) {
  TempDir dir;
  GuestSpec spec;
  spec.arch = GuestArch::x86_pae;
  auto w = write_kernel(spec, dir);
  EXPECT_EQ(w.dump->header().machine_image_type, 0x14Cu);
  expect_kernel_header(w, format::kDumpSummaryValidKernelVa);
  expect_kernel_pages(w);
  expect_no_user_pages(w);
}

TEST(KernelDump, IncludeProcessAddsItsUserPagesAndTables) {
  for (GuestArch arch : {GuestArch::x64, GuestArch::x86_pae}) {
    SCOPED_TRACE(arch == GuestArch::x64 ? "x64" : "x86 PAE");
    TempDir dir;
    GuestSpec spec;
    spec.arch = arch;
    spec.ram_mib = kRamMiB;
    const Guest probe = build_guest(spec);
    const auto& proc = probe.truth.processes[2];
    KernelDumpOptions o;
    o.include_process = proc.pid;
    auto w = write_kernel(spec, dir, o);
    expect_kernel_header(w, format::kDumpSummaryValidKernelVa |
                                format::kDumpSummaryValidCurrentUserVa);
    expect_no_user_pages(w, proc.pid);
    // The user page reads back through the process's tables in the dump.
    const PagingMode mode =
        arch == GuestArch::x64 ? PagingMode::x64_4level : PagingMode::x86_pae;
    AddressSpace user(*w.dump, mode, proc.dtb);
    std::string marker(proc.user_marker.size(), '\0');
    ASSERT_TRUE(user.read_virtual(proc.user_va, std::as_writable_bytes(std::span(marker))).ok());
    EXPECT_EQ(marker, proc.user_marker);
    bool noted = false;
    for (const auto& n : w.result.notes) noted |= n.find(proc.name) != std::string::npos;
    EXPECT_TRUE(noted);
  }
}

// The kernel half starts where the KDBG's MmSystemRangeStart variable says (here a /3GB-like
// 0xC0000000 on the x86 PAE guest): the kernel image below it is then not stored.
TEST(KernelDump, SystemRangeStartComesFromTheKdbg) {
  TempDir dir;
  GuestSpec spec;
  spec.arch = GuestArch::x86_pae;
  spec.ram_mib = kRamMiB;
  Guest guest = build_guest(spec);
  const auto& t = guest.truth;
  ASSERT_FALSE(t.kdbg_encoded);
  // The variable lives in a spare part of KUSER_SHARED_DATA; the KDBG field holds its VA
  // (sign-extended, as KDBG64 stores 32-bit pointers).
  guest.memory.put<std::uint32_t>(t.kuser_pa + 0xF00, 0xC0000000u);
  guest.memory.put<std::uint64_t>(t.kdbg_pa + 0x1D0, 0xFFFFFFFF00000000ull | (t.kuser_va + 0xF00));
  auto sys = discover_system(guest);
  ASSERT_EQ(sys.kdbg.MmSystemRangeStart, 0xFFFFFFFF00000000ull | (t.kuser_va + 0xF00));
  KernelDumpOptions o;
  o.output = (dir / "k.dmp").string();
  o.quiet = true;
  auto r = write_kernel_dump(guest, sys, o);
  for (const auto& n : r.notes) EXPECT_EQ(n.find("MmSystemRangeStart"), std::string::npos) << n;
  auto dump = DumpFile::open(o.output);
  EXPECT_FALSE(dump_has(*dump, t.kernel_pa));
  EXPECT_TRUE(dump_has(*dump, t.kuser_pa));  // mapped at 0xFFDF0000
  // The page directory of the 0xC0000000 quarter is a table on the way.
  std::uint64_t pdpte = 0;
  ASSERT_TRUE(guest.read_physical((t.dtb & ~0x1Full) + 3 * 8,
                                  std::as_writable_bytes(std::span(&pdpte, 1))).ok());
  EXPECT_TRUE(dump_has(*dump, pdpte & kAddrMask));
  EXPECT_LT(dump->stored_pages(), 1000u);
}

// Without the variable the defaults apply, and the writer says so.
TEST(KernelDump, DefaultSystemRangeStart) {
  EXPECT_EQ(default_system_range_start(Architecture::x64), 0xFFFF800000000000ull);
  EXPECT_EQ(default_system_range_start(Architecture::x86), 0x80000000ull);
}

TEST(KernelDump, UnknownProcessIsRefusedWithTheKnownOnes) {
  TempDir dir;
  GuestSpec spec;
  spec.ram_mib = kRamMiB;
  auto guest = build_guest(spec);
  auto sys = discover_system(guest);
  KernelDumpOptions o;
  o.output = (dir / "k.dmp").string();
  o.quiet = true;
  o.include_process = 999;
  try {
    write_kernel_dump(guest, sys, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_present);
    EXPECT_NE(std::string(e.what()).find("--include-process 999: no such process"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("4 (System)"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "k.dmp"));
}

// Re-typing: a complete dump, opened as an image, gives the same kernel dump as the guest.
TEST(KernelDump, RetypesCompleteAndBitmapDumps) {
  for (GuestArch arch : {GuestArch::x64, GuestArch::x86_pae}) {
    for (auto layout : {CompleteDumpLayout::runs, CompleteDumpLayout::bitmap}) {
      SCOPED_TRACE(::testing::Message() << (arch == GuestArch::x64 ? "x64 " : "x86 PAE ")
                                        << (layout == CompleteDumpLayout::runs ? "runs" : "bitmap"));
      TempDir dir;
      GuestSpec spec;
      spec.arch = arch;
      auto direct = write_kernel(spec, dir);

      CompleteDumpOptions c;
      c.output = (dir / "complete.dmp").string();
      c.quiet = true;
      c.layout = layout;
      c.omit_zero_pages = layout == CompleteDumpLayout::bitmap;
      write_complete_dump(direct.guest, direct.system, c);
      auto image = open_image(c.output);
      EXPECT_EQ(image->format_name(), layout == CompleteDumpLayout::runs ? "dump-full"
                                                                          : "dump-bitmap-full");
      auto sys = discover_system(*image);
      KernelDumpOptions k;
      k.output = (dir / "retyped.dmp").string();
      k.quiet = true;
      auto r = write_kernel_dump(*image, sys, k);
      auto retyped = DumpFile::open(k.output);
      EXPECT_EQ(retyped->header().dump_type, 6u);
      EXPECT_EQ(retyped->header().directory_table_base, direct.guest.truth.dtb);
      // A bitmap source leaves out zero pages, so pages the kernel maps that are zero are not
      // in it to re-type: the re-typed set is the direct one less those.
      const KernelPages kernel(direct.guest, direct.guest.truth.dtb, arch == GuestArch::x86_pae);
      std::vector<std::byte> a(kPage), b(kPage);
      std::uint64_t compared = 0, zero = 0;
      for (std::uint64_t pa : kernel.pages()) {
        if (!dump_has(*retyped, pa)) {
          ASSERT_EQ(layout, CompleteDumpLayout::bitmap) << std::hex << pa;
          ASSERT_TRUE(direct.dump->read_physical(pa, a).ok());
          EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](std::byte x) { return x == std::byte{0}; }))
              << "non-zero kernel page " << std::hex << pa << " lost in re-typing";
          ++zero;
          continue;
        }
        ASSERT_TRUE(direct.dump->read_physical(pa, a).ok());
        ASSERT_TRUE(retyped->read_physical(pa, b).ok());
        EXPECT_TRUE(a == b) << "page " << std::hex << pa;
        ++compared;
      }
      // Nothing else is stored; from the runs source, every kernel page.
      EXPECT_EQ(retyped->stored_pages(), compared);
      EXPECT_EQ(compared + zero, direct.dump->stored_pages());
      if (layout == CompleteDumpLayout::runs) {
        EXPECT_EQ(zero, 0u);
      } else {
        // The zero-omitting source lacks the kernel's zero pages; the writer says so.
        EXPECT_GT(zero, 0u);
        // (Mappings are counted: a page mapped at two VAs counts twice.)
        std::uint64_t noted = 0;
        for (const auto& n : r.notes) {
          if (n.rfind("kernel half: ", 0) == 0 &&
              n.find(" page mappings lead to memory the image does not hold") != std::string::npos) {
            noted = std::stoull(n.substr(13));
          }
        }
        EXPECT_GE(noted, zero) << ::testing::PrintToString(r.notes);
        EXPECT_LE(noted, zero + 16) << ::testing::PrintToString(r.notes);
      }
      EXPECT_GT(compared, 50u);
      for (const auto& p : direct.guest.truth.processes) {
        if (p.user_pa) {
          EXPECT_FALSE(dump_has(*retyped, p.user_pa)) << p.name;
        }
      }
      EXPECT_EQ(r.dump_type, 6u);
    }
  }
}

// The CLI: a complete dump re-typed by `pagedump convert --type kernel`.
TEST(KernelDumpCli, ConvertTypeKernelWithJson) {
  TempDir dir;
  GuestSpec spec;
  spec.ram_mib = kRamMiB;
  auto guest = build_guest(spec);
  auto sys = discover_system(guest);
  CompleteDumpOptions c;
  c.output = (dir / "complete.dmp").string();
  c.quiet = true;
  write_complete_dump(guest, sys, c);
  const auto out = dir / "kernel.dmp";
  const auto& proc = guest.truth.processes[1];
  auto r = test::run_command(fmt::format("{} convert {} -o {} --type kernel --include-process {} "
                                         "--json",
                                         test::cli_path(), c.output, out.string(), proc.pid));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dump_type"], 6);
  EXPECT_EQ(j["output"], out.string());
  auto dump = DumpFile::open(out.string());
  EXPECT_EQ(j["pages"], dump->stored_pages());
  EXPECT_EQ(j["bytes_written"], dump->file_size());
  EXPECT_EQ(dump->bitmap()->dump_options, 3u);
  EXPECT_TRUE(dump_has(*dump, proc.user_pa));
  EXPECT_FALSE(dump_has(*dump, guest.truth.processes[2].user_pa));
}

TEST(KernelDumpCli, IncludeProcessNeedsTypeKernel) {
  TempDir dir;
  auto r = test::run_command(fmt::format("{} convert {} -o {} --include-process 4",
                                         test::cli_path(), (dir / "none").string(),
                                         (dir / "out.dmp").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--include-process needs --type kernel"), std::string::npos) << r.err;
}

}  // namespace

namespace {

std::vector<std::pair<std::uint64_t, std::uint64_t>> runs_of(const writer::PageSet& s) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  s.for_each_run([&](const writer::PfnRun& r) { out.emplace_back(r.first, r.count); });
  return out;
}

// The page set's runs: merged across 64-bit words and 2^18-PFN blocks, full words, duplicates.
TEST(PfnBitmap, RunsAcrossWordsAndBlocks) {
  writer::PfnBitmap s;
  EXPECT_EQ(s.end_pfn(), 0u);
  EXPECT_TRUE(runs_of(s).empty());
  for (std::uint64_t p = 60; p < 200; ++p) s.add(p);          // spans words 0..3, word 1/2 full
  for (std::uint64_t p = (1u << 18) - 3; p < (1u << 18) + 2; ++p) s.add(p);  // block boundary
  s.add(5);
  s.add(5);
  s.add(63 + (5ull << 18));  // a lone page in a far block
  EXPECT_EQ(s.page_count(), 140u + 5u + 1u + 1u);
  EXPECT_TRUE(s.contains(199));
  EXPECT_FALSE(s.contains(200));
  EXPECT_FALSE(s.contains(1ull << 40));
  EXPECT_EQ(s.end_pfn(), 64 + (5ull << 18));
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> expected{
      {5, 1}, {60, 140}, {(1u << 18) - 3, 5}, {63 + (5ull << 18), 1}};
  EXPECT_EQ(runs_of(s), expected);
}

// add_range sets whole words at a time: the same set and count as adding page by page, for
// ranges that start and end inside words, fill words, cross blocks and overlap.
TEST(PfnBitmap, AddRangeEqualsAddingEachPage) {
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges{
      {3, 1},
      {60, 140},
      {64, 64},
      {0, 0},
      {(1u << 18) - 70, 200},
      {100, 30},
      {5, 700},
      {1ull << 30, 1},
      {(3ull << 18) - 1, (1ull << 18) + 2}};
  writer::PfnBitmap ranged, single;
  for (const auto& [first, count] : ranges) {
    ranged.add_range(first, count);
    for (std::uint64_t p = first; p < first + count; ++p) single.add(p);
    EXPECT_EQ(ranged.page_count(), single.page_count()) << first << "+" << count;
  }
  EXPECT_EQ(runs_of(ranged), runs_of(single));
  EXPECT_EQ(ranged.end_pfn(), single.end_pfn());
  EXPECT_EQ(ranged.page_count(), 1u + 700u + 200u + 1u + (1ull << 18) + 2u);
}

TEST(PfnBitmap, RunListPageSetCountsAndEnd) {
  writer::RunListPageSet s({{1, 0x9E}, {0x100, 0x10}, {0x300, 0}});
  EXPECT_EQ(s.page_count(), 0xAEu);
  EXPECT_EQ(s.end_pfn(), 0x110u);  // the empty run does not count
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> expected{{1, 0x9E}, {0x100, 0x10}};
  EXPECT_EQ(runs_of(s), expected);
}

}  // namespace
