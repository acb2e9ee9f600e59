// Reads every byte of an image through open_image() in 1 MiB chunks and reports, as JSON,
// the bytes read, how many were non-zero, and the process's peak resident memory. A separate
// executable, so that the peak is this reading alone.
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "pagedump/error.h"
#include "pagedump/sources/open_image.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: read_image_probe IMAGE [FORMAT]\n");
    return 2;
  }
  try {
    pagedump::OpenImageOptions o;
    if (argc > 2) o.format = argv[2];
    auto image = pagedump::open_image(argv[1], o);
    std::vector<std::byte> buf(1u << 20);
    const std::vector<std::byte> zeros(buf.size());
    std::uint64_t total = 0, nonzero = 0;
    for (const auto& r : image->ranges()) {
      for (std::uint64_t off = 0; off < r.size; off += buf.size()) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), r.size - off));
        std::span<std::byte> chunk(buf.data(), n);
        image->read_physical_or_throw(r.base + off, chunk);
        total += n;
        if (std::memcmp(chunk.data(), zeros.data(), n) == 0) continue;
        const auto* words = reinterpret_cast<const std::uint64_t*>(chunk.data());
        for (std::size_t i = 0; i < n / 8; ++i) {
          if (words[i] != 0) {
            for (std::size_t k = 0; k < 8; ++k) nonzero += chunk[i * 8 + k] != std::byte{0};
          }
        }
        for (std::size_t k = n / 8 * 8; k < n; ++k) nonzero += chunk[k] != std::byte{0};
      }
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("{\"total\": %llu, \"nonzero\": %llu, \"maxrss_kib\": %ld}\n",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(nonzero),
                ru.ru_maxrss);
    return 0;
  } catch (const pagedump::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
