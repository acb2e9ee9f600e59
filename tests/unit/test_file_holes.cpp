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
