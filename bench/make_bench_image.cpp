// Writes a benchmark image: a synthetic Windows guest with SIZE GiB of RAM as a raw image plus
// its memory map (PATH.map). sparse: RAM the guest does not use is a file hole; dense: it is
// pseudo-random; half-zero: every other MiB of it is pseudo-random and every other byte of
// the file is written as zeros, holes included (as a capture tool writes a machine's memory),
// so that only reading finds them; half-zero-holes: the same RAM, but what the guest leaves
// unused below 256 MiB and the gap below 4 GiB stay file holes.
//   make_bench_image PATH SIZE_GIB sparse|dense|half-zero|half-zero-holes
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pagedump/synth/guest.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_bench_image PATH SIZE_GIB sparse|dense|half-zero|half-zero-holes\n");
    return 2;
  }
  const std::string path = argv[1];
  const std::uint64_t gib = std::strtoull(argv[2], nullptr, 10);
  const std::string kind = argv[3];
  if (gib == 0 || gib > 1024) return 2;
  pagedump::synth::GuestSpec spec;
  spec.ram_mib = static_cast<std::uint32_t>(gib * 1024);
  auto g = pagedump::synth::build_guest(spec);
  g.write_raw(path, path + ".map", /*overwrite=*/true);  // the benchmark's own scratch files
  if (kind == "sparse") return 0;
  // The guest's structures live below 256 MiB and in the first 16 MiB above 4 GiB.
  constexpr std::uint64_t kMiB = 1 << 20;
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return 1;
  std::vector<std::uint64_t> buf(kMiB / 8);
  const std::vector<std::uint64_t> zeros(kMiB / 8);
  std::uint64_t x = 0x9E3779B97F4A7C15ull, mib = 0;
  for (const auto& r : g.truth.memory_map) {
    std::uint64_t from = std::max<std::uint64_t>(r.base, r.base >= (4ull << 30)
                                                             ? r.base + 16 * kMiB
                                                             : 256 * kMiB);
    from = (from + kMiB - 1) & ~(kMiB - 1);
    for (std::uint64_t off = from; off + kMiB <= r.end(); off += kMiB, ++mib) {
      if (kind != "dense" && (mib & 1)) {
        if (::pwrite(fd, zeros.data(), kMiB, static_cast<off_t>(off)) != static_cast<ssize_t>(kMiB)) {
          return 1;
        }
        continue;
      }
      for (auto& w : buf) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w = x;
      }
      if (::pwrite(fd, buf.data(), kMiB, static_cast<off_t>(off)) != static_cast<ssize_t>(kMiB)) {
        return 1;
      }
    }
  }
  if (kind == "half-zero") {  // no holes left: every zero is written
    const off_t size = ::lseek(fd, 0, SEEK_END);
    for (off_t at = ::lseek(fd, 0, SEEK_HOLE); at >= 0 && at < size;) {
      const off_t end = std::max<off_t>(::lseek(fd, at, SEEK_DATA), at);
      const off_t stop = end > at ? end : size;  // no data after the hole: to the end
      for (off_t o = at; o < stop;) {
        const auto n = static_cast<std::size_t>(std::min<off_t>(stop - o, off_t(kMiB)));
        if (::pwrite(fd, zeros.data(), n, o) != static_cast<ssize_t>(n)) return 1;
        o += static_cast<off_t>(n);
      }
      at = ::lseek(fd, stop, SEEK_HOLE);
    }
  }
  ::close(fd);
  return 0;
}
