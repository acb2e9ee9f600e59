// Memory use does not grow with the image: a 16 GiB sparse raw image and a 16 GiB ELF core
// are read end to end, by chunks, in a separate process whose peak RSS must stay under 64 MiB.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "image_writers.h"
#include "sources_test_util.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace pagedump::test {
namespace {

using images::bytes_range;
using images::Image;
using images::zero_range;

constexpr std::uint64_t kGiB = 1ull << 30;

// Zeros with `marker` at the start.
images::Range marked_range(std::uint64_t base, std::uint64_t size, std::string marker) {
  return {base, size, [base, marker](std::uint64_t pa, std::span<std::byte> out) {
            std::fill(out.begin(), out.end(), std::byte{0});
            if (pa == base) std::memcpy(out.data(), marker.data(), marker.size());
          }};
}

nlohmann::json probe(const std::filesystem::path& image) {
  auto r = run_command(std::string(READ_IMAGE_PROBE) + " '" + image.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(SourcesMemory, SixteenGiBSparseRawUnder64MiB) {
  TempDir dir;
  Image img{{bytes_range(0, to_bytes("START")), zero_range(5, 16 * kGiB - 10),
             bytes_range(16 * kGiB - 5, to_bytes("END!!"))},
            {}};
  images::write_raw(dir / "big.raw", img);
  auto j = probe(dir / "big.raw");
  EXPECT_EQ(j["total"].get<std::uint64_t>(), 16 * kGiB);
  EXPECT_EQ(j["nonzero"].get<std::uint64_t>(), 10u);
  EXPECT_LT(j["maxrss_kib"].get<long>(), 64 * 1024);
}

TEST(SourcesMemory, SixteenGiBElfCoreUnder64MiB) {
  TempDir dir;
  // QEMU's layout for a 16 GiB pc guest: 3 GiB below the PCI hole, 13 GiB above 4 GiB.
  Image img{{marked_range(0, 0x1000, "LOW"), zero_range(0x1000, 3 * kGiB - 0x1000),
             zero_range(4 * kGiB, 13 * kGiB - 0x1000), marked_range(17 * kGiB - 0x1000, 0x1000, "HIGH")},
            {sample_cpu64(0), sample_cpu64(1)}};
  images::write_elf_qemu(dir / "big.elf", img);
  auto j = probe(dir / "big.elf");
  EXPECT_EQ(j["total"].get<std::uint64_t>(), 16 * kGiB);
  EXPECT_EQ(j["nonzero"].get<std::uint64_t>(), 7u);
  EXPECT_LT(j["maxrss_kib"].get<long>(), 64 * 1024);
}

}  // namespace
}  // namespace pagedump::test
