// Micro-benchmarks of the hot paths: page-table translation, virtual and physical reads of a
// dump (complete and bitmap: bitmap lookups), KDBG decoding, building a kernel dump's page set
// and discovery of a whole synthetic guest.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include "pagedump/synth/guest.h"
#include "pagedump/discovery/system.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/writer/complete_dump.h"
#include "page_set_writer.h"

using namespace pagedump;

namespace {

const synth::Guest& guest() {
  static const synth::Guest g = [] {
    synth::GuestSpec s;
    s.ram_mib = 512;
    return synth::build_guest(s);
  }();
  return g;
}

// A complete dump (runs) and a bitmap dump of the guest, written once per process.
const std::string& dump_path(bool bitmap) {
  static const std::string dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("pagedump-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  static std::string paths[2];
  std::string& p = paths[bitmap ? 1 : 0];
  if (p.empty()) {
    p = dir + (bitmap ? "/bitmap.dmp" : "/full.dmp");
    auto sys = discover_system(guest());
    CompleteDumpOptions o;
    o.output = p;
    o.force = true;
    o.quiet = true;
    // The bitmap dump keeps zero pages too: most of the synthetic kernel image is zero, and
    // the random reads should find the same pages in both dumps.
    if (bitmap) o.layout = CompleteDumpLayout::bitmap;
    write_complete_dump(guest(), sys, o);
  }
  return p;
}

void BM_Translate(benchmark::State& state) {
  const auto& g = guest();
  AddressSpace space(g, PagingMode::x64_4level, g.truth.dtb);
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> vas(4096);
  for (auto& va : vas) va = g.truth.kernel_base + (rng() % g.truth.kernel_size);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(space.translate(vas[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Translate);

void BM_TranslateUncached(benchmark::State& state) {
  const auto& g = guest();
  AddressSpace space(g, PagingMode::x64_4level, g.truth.dtb);
  std::uint64_t va = g.truth.kernel_base;
  for (auto _ : state) {
    space.clear_cache();
    benchmark::DoNotOptimize(space.translate(va));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranslateUncached);

void BM_KdbgDecode(benchmark::State& state) {
  std::vector<std::byte> block(0x380, std::byte{0x5A});
  format::KdbgKeys keys{0x1234567890abcdefull, 0xfedcba0987654321ull, 0xfffff8047c63c8e0ull};
  for (auto _ : state) {
    format::kdbg_decode(block, keys);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 0x380);
}
BENCHMARK(BM_KdbgDecode);

void BM_DumpSequentialRead(benchmark::State& state) {
  auto dump = DumpFile::open(dump_path(false));
  std::vector<std::byte> buf(1 << 20);
  const auto ranges = dump->ranges();
  for (auto _ : state) {
    for (const auto& r : ranges) {
      for (std::uint64_t pa = r.base; pa + buf.size() <= r.end(); pa += buf.size()) {
        benchmark::DoNotOptimize(dump->read_physical(pa, buf));
      }
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(dump->total_bytes()));
}
BENCHMARK(BM_DumpSequentialRead)->Unit(benchmark::kMillisecond);

void BM_DumpRandomVirtualPage(benchmark::State& state) {
  DumpOpenOptions options;
  options.map_file = state.range(1) != 0;
  auto dump = DumpFile::open(dump_path(state.range(0) != 0), options);
  const auto& g = guest();
  AddressSpace space(*dump, PagingMode::x64_4level, g.truth.dtb);
  // Addresses are drawn from the kernel image's pages that the dump holds (all of them, since
  // both dumps keep zero pages): a read of an absent page would measure a failure.
  std::vector<std::uint64_t> vas;
  space.for_each_mapping(g.truth.kernel_base, g.truth.kernel_base + g.truth.kernel_size - 1,
                         [&](const Mapping& m) {
                           for (std::uint64_t off = 0; off < m.size; off += 0x1000) {
                             if (dump->contains(m.pa + off)) vas.push_back(m.va + off);
                           }
                           return true;
                         });
  if (vas.empty()) {
    state.SkipWithError("no page of the kernel image is in the dump");
    return;
  }
  std::mt19937_64 rng(2);
  std::vector<std::byte> page(0x1000);
  for (auto _ : state) {
    if (!space.read_virtual(vas[rng() % vas.size()], page)) {
      state.SkipWithError("a read failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["pages"] = static_cast<double>(vas.size());
}
BENCHMARK(BM_DumpRandomVirtualPage)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"bitmap", "mapped"});

// The kernel dump's page set: one bit per PFN added as the page-table walk finds it, then read
// back as runs. Arg: pages added (every other PFN of a 2x larger range, so runs are short).
void BM_PfnBitmapBuild(benchmark::State& state) {
  const auto pages = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    writer::PfnBitmap set;
    for (std::uint64_t i = 0; i < pages; ++i) set.add(0x100 + 2 * i);
    std::uint64_t runs = 0;
    set.for_each_run([&](const writer::PfnRun&) { ++runs; });
    benchmark::DoNotOptimize(runs);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PfnBitmapBuild)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

void BM_DiscoverGuest(benchmark::State& state) {
  const auto& g = guest();
  for (auto _ : state) benchmark::DoNotOptimize(discover_system(g));
}
BENCHMARK(BM_DiscoverGuest)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
