// Random 4 KiB virtual reads through a dump's own page tables, for comparison with another
// reader on the same dump and the same addresses (docs/performance.md):
//   random_reads [--map] DUMP COUNT SEED [LIST]
// picks COUNT random mapped 4 KiB kernel pages (seeded), writes their VAs to LIST (one hex VA a
// line) when given, then reads each one into a buffer and prints the reads per second. The
// list lets another reader replay exactly these reads. --map opens the dump with
// DumpOpenOptions::map_file.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/virtual_view.h"
#include "pagedump/translate/address_space.h"

using namespace pagedump;

int main(int argc, char** argv) try {
  DumpOpenOptions options;
  if (argc > 1 && std::string_view(argv[1]) == "--map") {
    options.map_file = true;
    --argc;
    ++argv;
  }
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: random_reads [--map] DUMP COUNT SEED [LIST]\n");
    return 2;
  }
  auto dump = DumpFile::open(argv[1], options);
  const std::uint64_t count = std::strtoull(argv[2], nullptr, 10);
  const auto mode = dump_paging_mode(*dump);
  if (!mode || !dump->header().directory_table_base) {
    std::fprintf(stderr, "random_reads: the dump has no page tables pagedump can walk\n");
    return 1;
  }
  AddressSpace space(*dump, *mode, *dump->header().directory_table_base);
  // Every mapped 4 KiB page of the kernel half whose bytes the dump holds.
  std::vector<std::uint64_t> pages;
  const std::uint64_t first = *mode == PagingMode::x64_4level ? 0xffff800000000000ull : 0x80000000ull;
  const std::uint64_t last = *mode == PagingMode::x64_4level ? ~0ull : 0xffffffffull;
  space.for_each_mapping(first, last, [&](const Mapping& m) {
    for (std::uint64_t off = 0; off < m.size && pages.size() < (1u << 22); off += kPageSize) {
      if (dump->contains(m.pa + off)) pages.push_back(m.va + off);
    }
    return pages.size() < (1u << 22);
  });
  if (pages.empty()) {
    std::fprintf(stderr, "random_reads: no mapped kernel page in the dump\n");
    return 1;
  }
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  std::vector<std::uint64_t> vas(count);
  for (auto& va : vas) va = pages[rng() % pages.size()];
  if (argc == 5) {
    std::ofstream list(argv[4]);
    for (auto va : vas) list << fmt::format("{:#x}\n", va);
  }
  space.clear_cache();
  const std::uint64_t walks_before = space.walks();
  std::vector<std::byte> page(kPageSize);
  std::uint64_t failed = 0, checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto va : vas) {
    if (!space.read_virtual(va, page)) ++failed;
    checksum += std::to_integer<std::uint8_t>(page[va % kPageSize]);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{} reads of 4 KiB from {} mapped kernel pages in {:.3f} s: {:.0f} reads/s ({} failed, "
             "checksum {}, {} page-table walks)\n",
             count, pages.size(), s, double(count) / s, failed, checksum,
             space.walks() - walks_before);
  return failed ? 1 : 0;
} catch (const Error& e) {
  std::fprintf(stderr, "random_reads: %s\n", e.what());
  return 1;
}
