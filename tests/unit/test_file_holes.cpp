// FileHoles: the extents of a sparse file as SEEK_DATA / SEEK_HOLE report them, the reads that
// fill its holes without reading, and the answers it remembers instead of asking again.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pagedump/io/input_file.h"
#include "pagedump/sources/file_holes.h"
#include "support/temp_dir.h"

namespace pagedump::test {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// data [0, 64 KiB), a hole to 1 MiB, data [1 MiB, 1 MiB + 8 KiB), a hole to 2 MiB (the end).
std::string write_sparse_file(const TempDir& dir) {
  const std::string path = (dir / "sparse.raw").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  std::vector<char> data(64 * 1024, 'a');
  EXPECT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(::pwrite(fd, data.data(), 8192, kMiB), 8192);
  EXPECT_EQ(::ftruncate(fd, 2 * kMiB), 0);
  ::close(fd);
  return path;
}

bool reports_holes(const InputFile& f) {
  return ::lseek(f.fd(), 64 * 1024, SEEK_DATA) == kMiB;
}

TEST(FileHoles, ExtentsFollowTheFileSystemAndRepeatedQuestionsAreNotAskedAgain) {
  TempDir dir;
  InputFile file(write_sparse_file(dir));
  if (!reports_holes(file)) GTEST_SKIP() << "the file system of " << dir.path() << " has no holes";
  FileHoles holes(file);
  const std::uint64_t end = 2 * kMiB;

  EXPECT_EQ(holes.extent(0, end).known_zero, false);
  EXPECT_EQ(holes.extent(0, end).end, 64 * 1024u);
  EXPECT_EQ(holes.seeks(), 2u);  // SEEK_DATA, then SEEK_HOLE
  // Inside the data extent just found: answered from memory, and never past the limit.
  EXPECT_EQ(holes.extent(0x3000, end).end, 64 * 1024u);
  EXPECT_EQ(holes.extent(0x3000, 0x5000).end, 0x5000u);
  EXPECT_EQ(holes.seeks(), 2u);

  EXPECT_EQ(holes.extent(64 * 1024, end).known_zero, true);
  EXPECT_EQ(holes.extent(64 * 1024, end).end, kMiB);
  EXPECT_EQ(holes.seeks(), 3u);  // SEEK_DATA found data further on
  EXPECT_EQ(holes.extent(512 * 1024, end).known_zero, true);
  EXPECT_EQ(holes.extent(512 * 1024, end).end, kMiB);
  // The data extent found first is still remembered beside the hole.
  EXPECT_EQ(holes.extent(0, end).end, 64 * 1024u);
  EXPECT_EQ(holes.seeks(), 3u);

  EXPECT_EQ(holes.extent(kMiB + 0x1000, end).known_zero, false);
  EXPECT_EQ(holes.extent(kMiB + 0x1000, end).end, kMiB + 8192);
  EXPECT_EQ(holes.seeks(), 5u);
  // The hole at the end of the file: SEEK_DATA finds no data (ENXIO).
  EXPECT_EQ(holes.extent(kMiB + 8192, end).known_zero, true);
  EXPECT_EQ(holes.extent(kMiB + 8192, end).end, end);
  EXPECT_EQ(holes.extent(end - 0x1000, end).known_zero, true);
  EXPECT_EQ(holes.seeks(), 6u);
}

// Data pages at the given MiB offsets (4 KiB each) in a file of `size` MiB, holes elsewhere.
std::string write_pages_at(const TempDir& dir, const std::vector<std::uint64_t>& mib,
                           std::uint64_t size) {
  const std::string path = (dir / "pages.raw").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  std::vector<char> page(4096, 'p');
  for (std::uint64_t m : mib) {
    EXPECT_EQ(::pwrite(fd, page.data(), page.size(), static_cast<off_t>(m * kMiB)), 4096);
  }
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size * kMiB)), 0);
  ::close(fd);
  return path;
}

TEST(FileHoles, AWalkDownThroughAHoleAsksAboutLog2OfItsBlocks) {
  // Data pages at 0, 3 and 16 MiB: walking down from just below 16 MiB in 64 KiB steps, as
  // discovery's kernel scan does, crosses the hole (3 MiB, 16 MiB), the page at 3 MiB and the
  // hole (0, 3 MiB). 255 questions, each answered exactly.
  TempDir dir;
  InputFile file(write_pages_at(dir, {0, 3, 16}, 20));
  if (::lseek(file.fd(), 4096, SEEK_DATA) != static_cast<off_t>(3 * kMiB)) {
    GTEST_SKIP() << "the file system of " << dir.path() << " has no holes";
  }
  FileHoles holes(file);
  const std::uint64_t end = 20 * kMiB;
  EXPECT_FALSE(holes.extent(16 * kMiB, end).known_zero);  // the scan starts from data
  for (std::uint64_t at = 16 * kMiB - 64 * 1024; at >= 64 * 1024; at -= 64 * 1024) {
    const StoredExtent e = holes.extent(at, at + 64 * 1024);
    if (at == 3 * kMiB) {
      EXPECT_FALSE(e.known_zero) << at;
      EXPECT_EQ(e.end, 3 * kMiB + 4096) << at;
    } else if (at > 3 * kMiB) {
      EXPECT_TRUE(e.known_zero) << at;
      EXPECT_EQ(e.end, at + 64 * 1024) << at;
    } else {
      EXPECT_TRUE(e.known_zero) << at;
      EXPECT_EQ(e.end, at + 64 * 1024) << at;
    }
  }
  // One question a block, as before, would be 255 or more.
  EXPECT_LE(holes.seeks(), 20u);
  // What was learned on the way stays right: the page at 3 MiB ends where it does, the hole
  // after it reaches 16 MiB.
  EXPECT_EQ(holes.extent(3 * kMiB + 4096, end).end, 16 * kMiB);
  EXPECT_TRUE(holes.extent(3 * kMiB + 4096, end).known_zero);
}

TEST(FileHoles, SixteenExtentsAskedInTurnAreAskedOnce) {
  // Eight data pages with holes between them: discovery comes back to the same page tables and
  // kernel pages in turn. Once all sixteen extents are known, nothing is asked again.
  TempDir dir;
  InputFile file(write_pages_at(dir, {1, 2, 3, 4, 5, 6, 7, 8}, 9));
  if (::lseek(file.fd(), 0, SEEK_DATA) != static_cast<off_t>(kMiB)) {
    GTEST_SKIP() << "the file system of " << dir.path() << " has no holes";
  }
  FileHoles holes(file);
  const std::uint64_t end = 9 * kMiB;
  for (int round = 0; round < 3; ++round) {
    for (std::uint64_t m = 1; m <= 8; ++m) {
      EXPECT_FALSE(holes.extent(m * kMiB, end).known_zero);
      EXPECT_EQ(holes.extent(m * kMiB, end).end, m * kMiB + 4096);
      EXPECT_TRUE(holes.extent(m * kMiB + 4096, end).known_zero);
      EXPECT_EQ(holes.extent(m * kMiB + 4096, end).end, m == 8 ? end : (m + 1) * kMiB);
    }
    if (round == 0) {
      // Each page: SEEK_DATA and SEEK_HOLE, the first; SEEK_HOLE only where a hole found
      // before ends; and SEEK_DATA for the hole after it.
      EXPECT_EQ(holes.seeks(), 17u);
    }
  }
  EXPECT_EQ(holes.seeks(), 17u);
}

TEST(FileHoles, ReadsFillHolesWithZerosAndStopAtTheEndOfTheFile) {
  TempDir dir;
  InputFile file(write_sparse_file(dir));
  FileHoles holes(file);
  std::vector<std::byte> out(3 * kMiB, std::byte{0x55});
  // From 32 KiB: 32 KiB of data, the hole, 8 KiB of data, the hole, then the file ends.
  EXPECT_EQ(holes.read(32 * 1024, out), 2 * kMiB - 32 * 1024);
  EXPECT_EQ(out[0], std::byte{'a'});
  EXPECT_EQ(out[32 * 1024 - 1], std::byte{'a'});
  EXPECT_EQ(out[32 * 1024], std::byte{0});
  EXPECT_EQ(out[kMiB - 32 * 1024 - 1], std::byte{0});
  EXPECT_EQ(out[kMiB - 32 * 1024], std::byte{'a'});
  EXPECT_EQ(out[kMiB - 32 * 1024 + 8191], std::byte{'a'});
  EXPECT_EQ(out[kMiB - 32 * 1024 + 8192], std::byte{0});
  EXPECT_EQ(out[2 * kMiB - 32 * 1024 - 1], std::byte{0});
  EXPECT_EQ(out[2 * kMiB - 32 * 1024], std::byte{0x55});  // past the end: untouched
}

TEST(FileHoles, ThreadsAskingAtOnceGetTheSameAnswers) {
  TempDir dir;
  InputFile file(write_sparse_file(dir));
  if (!reports_holes(file)) GTEST_SKIP() << "the file system of " << dir.path() << " has no holes";
  FileHoles holes(file);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&holes, &wrong, t] {
      for (int i = 0; i < 2000; ++i) {
        // Alternate between the two data extents and the hole between them, so each thread
        // keeps replacing what the others remembered.
        const std::uint64_t at[] = {0x1000, 0x20000, kMiB + 0x1000};
        const StoredExtent e = holes.extent(at[(i + t) % 3], 2 * kMiB);
        const StoredExtent want[] = {{false, 64 * 1024}, {true, kMiB}, {false, kMiB + 8192}};
        const StoredExtent& w = want[(i + t) % 3];
        if (e.known_zero != w.known_zero || e.end != w.end) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace pagedump::test
