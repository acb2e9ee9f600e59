// Kernel dumps of guests whose System page tables are hostile (docs/robustness.md): tables that
// reference themselves at every level of the kernel half, loops between tables, tables shared
// under every entry (hundreds of millions of VAs over a few pages), and large pages mapped under
// every entry of hundreds of tables. Discovery still finds the system, the writer ends, and the
// dump holds exactly the pages of a clean guest's kernel dump plus the pages the hostile tables
// add, each once. Counts are asserted, not time: a writer that works per VA or per mapped page
// instead of per distinct page would not finish within the test's limit.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include <fmt/format.h>

#include "pagedump/discovery/system.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/synth/guest.h"
#include "pagedump/writer/kernel_dump.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::Guest;
using pagedump::synth::GuestSpec;
using pagedump::test::TempDir;

namespace {

constexpr std::uint64_t kPage = 0x1000;
// Present | writable | accessed | dirty, as Windows writes kernel entries; kLarge is PS.
constexpr std::uint64_t kEntry = 0x63;
constexpr std::uint64_t kLarge = 0x80;

std::uint64_t pfn_of(std::uint64_t pa) {
  return pa / kPage;
}

// The PFNs a dump stores, among the guest's RAM.
std::set<std::uint64_t> stored_pfns(const Guest& g, const std::string& path) {
  auto dump = DumpFile::open(path);
  std::set<std::uint64_t> pfns;
  std::byte b{};
  for (const auto& r : g.truth.memory_map) {
    for (std::uint64_t pa = r.base; pa < r.end(); pa += kPage) {
      if (dump->read_physical(pa, std::span(&b, 1)).ok()) pfns.insert(pfn_of(pa));
    }
  }
  EXPECT_EQ(dump->stored_pages(), pfns.size()) << "the dump stores pages outside the guest's RAM";
  return pfns;
}

DumpWriteResult write_kernel(const Guest& g, const DiscoveredSystem& sys, const std::string& out) {
  KernelDumpOptions o;
  o.output = out;
  o.quiet = true;
  o.source_format = "synthetic";
  return write_kernel_dump(g, sys, o);
}

// The largest range of RAM below 4 GiB.
const PhysicalRange& low_ram(const Guest& g) {
  const PhysicalRange* best = nullptr;
  for (const auto& r : g.truth.memory_map) {
    if (r.end() <= (4ull << 30) && (!best || r.size > best->size)) best = &r;
  }
  if (!best) throw std::logic_error("the guest has no RAM below 4 GiB");
  return *best;
}

class HostileTables {
 public:
  HostileTables(Guest& g, const std::set<std::uint64_t>& clean) : g_(g), clean_(clean) {
    const auto& low = low_ram(g);
    next_ = low.end() - kPage;
    floor_ = low.base;
  }

  // A page of RAM the guest never wrote and its clean kernel dump does not hold: zeros.
  std::uint64_t spare() {
    for (; next_ >= floor_ + kPage; next_ -= kPage) {
      const std::uint64_t pa = next_;
      if (g_.memory.pages().count(pfn_of(pa)) || clean_.count(pfn_of(pa))) continue;
      next_ -= kPage;
      added_.insert(pfn_of(pa));
      return pa;
    }
    throw std::logic_error("no spare page left in the guest");
  }
  // A PML4 slot of the kernel half that the guest leaves empty.
  unsigned free_kernel_slot() {
    for (unsigned i = 256; i < 512; ++i) {
      if (taken_.count(i) || entry(g_.truth.dtb, i) != 0) continue;
      taken_.insert(i);
      return i;
    }
    throw std::logic_error("no free PML4 slot in the kernel half");
  }
  void set(std::uint64_t table, unsigned index, std::uint64_t value) {
    g_.memory.put<std::uint64_t>(table + index * 8, value);
  }
  std::uint64_t entry(std::uint64_t table, unsigned index) const {
    return g_.memory.get<std::uint64_t>(table + index * 8);
  }
  // Pages the hostile tables bring in: the spare pages taken, plus what tests add.
  std::set<std::uint64_t>& added() { return added_; }

 private:
  Guest& g_;
  const std::set<std::uint64_t>& clean_;
  std::uint64_t next_ = 0, floor_ = 0;
  std::set<unsigned> taken_;
  std::set<std::uint64_t> added_;
};

struct Clean {
  Guest guest;
  DiscoveredSystem system;
  std::set<std::uint64_t> pfns;
};

Clean clean_guest(const TempDir& dir) {
  GuestSpec spec;
  spec.ram_mib = 192;
  Clean c{build_guest(spec), {}, {}};
  c.system = discover_system(c.guest);
  const std::string out = (dir / "clean.dmp").string();
  write_kernel(c.guest, c.system, out);
  c.pfns = stored_pfns(c.guest, out);
  return c;
}

std::set<std::uint64_t> united(const std::set<std::uint64_t>& a, const std::set<std::uint64_t>& b) {
  std::set<std::uint64_t> u = a;
  u.insert(b.begin(), b.end());
  return u;
}

// Discovery over the hostile guest finds the clean guest's system, and its kernel dump holds
// exactly the clean dump's pages plus the pages the hostile tables add. Returns that set.
std::set<std::uint64_t> expect_exact_kernel_dump(const Clean& c, HostileTables& h,
                                                 const TempDir& dir) {
  const DiscoveredSystem sys = discover_system(c.guest);
  EXPECT_EQ(sys.directory_table_base, c.system.directory_table_base);
  EXPECT_EQ(sys.kernel_base, c.guest.truth.kernel_base);
  const std::string out = (dir / "hostile.dmp").string();
  const DumpWriteResult r = write_kernel(c.guest, sys, out);
  auto expected = united(c.pfns, h.added());
  EXPECT_EQ(r.pages, expected.size());
  EXPECT_EQ(stored_pfns(c.guest, out), expected);
  return expected;
}

}  // namespace

// (a) a self-reference at every level, (b) one PDPT, PD and PT shared under every entry (2^27
// VAs of 8 data pages, in two PML4 slots), (c) loops up and across levels.
TEST(KernelDumpHostile, SelfReferencesLoopsAndSharedTablesGiveTheExactPageSet) {
  TempDir dir;
  Clean c = clean_guest(dir);
  ASSERT_GT(c.pfns.size(), 100u);
  HostileTables h(c.guest, c.pfns);
  const std::uint64_t pml4 = c.guest.truth.dtb;

  // (a) PML4[a] -> PDPT_A; PDPT_A[0] -> itself, [1] -> PD_A; PD_A[0] -> itself, [1] -> PT_A;
  //     PT_A[0] -> itself (a PTE mapping its own table), [1] -> data.
  const std::uint64_t pdpt_a = h.spare(), pd_a = h.spare(), pt_a = h.spare(), data_a = h.spare();
  h.set(pml4, h.free_kernel_slot(), pdpt_a | kEntry);
  h.set(pdpt_a, 0, pdpt_a | kEntry);
  h.set(pdpt_a, 1, pd_a | kEntry);
  h.set(pd_a, 0, pd_a | kEntry);
  h.set(pd_a, 1, pt_a | kEntry);
  h.set(pt_a, 0, pt_a | kEntry);
  h.set(pt_a, 1, data_a | kEntry);

  // (b) two PML4 slots -> PDPT_B; its 512 entries -> PD_B; its 512 -> PT_B; its 512 -> 8 pages.
  const std::uint64_t pdpt_b = h.spare(), pd_b = h.spare(), pt_b = h.spare();
  std::vector<std::uint64_t> data_b;
  for (int i = 0; i < 8; ++i) data_b.push_back(h.spare());
  h.set(pml4, h.free_kernel_slot(), pdpt_b | kEntry);
  h.set(pml4, h.free_kernel_slot(), pdpt_b | kEntry);
  for (unsigned i = 0; i < 512; ++i) {
    h.set(pdpt_b, i, pd_b | kEntry);
    h.set(pd_b, i, pt_b | kEntry);
    h.set(pt_b, i, data_b[i % 8] | kEntry);
  }

  // (c) PML4[c] -> PDPT_C; PDPT_C[0] -> PD_C, [1] -> PT_C (a PT used as a PD); PD_C[0] ->
  //     PDPT_C (back up), [1] -> PT_C; PT_C[0] -> data, [1] -> PDPT_C (a table as data).
  const std::uint64_t pdpt_c = h.spare(), pd_c = h.spare(), pt_c = h.spare(), data_c = h.spare();
  h.set(pml4, h.free_kernel_slot(), pdpt_c | kEntry);
  h.set(pdpt_c, 0, pd_c | kEntry);
  h.set(pdpt_c, 1, pt_c | kEntry);
  h.set(pd_c, 0, pdpt_c | kEntry);
  h.set(pd_c, 1, pt_c | kEntry);
  h.set(pt_c, 0, data_c | kEntry);
  h.set(pt_c, 1, pdpt_c | kEntry);
  ASSERT_EQ(h.added().size(), 4u + 11u + 4u);

  // Discovery is not misled by the new tables.
  const auto expected = expect_exact_kernel_dump(c, h, dir);

  // The same through the CLI, from a raw image of the hostile guest.
  const auto raw = dir / "hostile.raw", map = dir / "hostile.map", cli_out = dir / "cli.dmp";
  c.guest.write_raw(raw, map);
  auto run = test::run_command(fmt::format("{} convert {} --memory-map {} --type kernel -q -o {}",
                                           test::cli_path(), raw.string(), map.string(),
                                           cli_out.string()));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(stored_pfns(c.guest, cli_out.string()), expected);
}

// Large pages under every entry of many tables: 512 distinct PDs, each mapping the same 2 MiB
// 512 times (2^18 large mappings, 2^27 page frames if counted per mapping), and a PDPT of 512
// 1 GiB pages over the RAM above 4 GiB. Each frame is added once.
TEST(KernelDumpHostile, LargePagesUnderEveryEntryOfManyTables) {
  TempDir dir;
  Clean c = clean_guest(dir);
  HostileTables h(c.guest, c.pfns);
  const std::uint64_t pml4 = c.guest.truth.dtb;
  const std::uint64_t big = 16ull << 20;  // 2 MiB-aligned, inside the low RAM
  ASSERT_GE(big, low_ram(c.guest).base);
  ASSERT_LE(big + (2ull << 20), low_ram(c.guest).end());

  const std::uint64_t pdpt_d = h.spare();
  h.set(pml4, h.free_kernel_slot(), pdpt_d | kEntry);
  for (unsigned i = 0; i < 512; ++i) {
    const std::uint64_t pd = h.spare();
    h.set(pdpt_d, i, pd | kEntry);
    for (unsigned j = 0; j < 512; ++j) h.set(pd, j, big | kEntry | kLarge);
  }
  for (std::uint64_t pa = big; pa < big + (2ull << 20); pa += kPage) h.added().insert(pfn_of(pa));

  const std::uint64_t pdpt_e = h.spare();
  h.set(pml4, h.free_kernel_slot(), pdpt_e | kEntry);
  for (unsigned i = 0; i < 512; ++i) h.set(pdpt_e, i, (4ull << 30) | kEntry | kLarge);
  std::uint64_t high_pages = 0;
  for (const auto& r : c.guest.truth.memory_map) {
    if (r.base < (4ull << 30) || r.end() > (5ull << 30)) continue;
    for (std::uint64_t pa = r.base; pa < r.end(); pa += kPage) {
      h.added().insert(pfn_of(pa));
      ++high_pages;
    }
  }
  ASSERT_GE(high_pages, 4096u);  // the guest has at least 16 MiB above 4 GiB

  expect_exact_kernel_dump(c, h, dir);
}
