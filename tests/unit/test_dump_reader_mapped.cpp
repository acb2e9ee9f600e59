// DumpOpenOptions::map_file: the same bytes and the same failures as pread, and a file that
// shrinks under the mapping fails a read instead of ending the process.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "dump_test_util.h"

namespace pagedump::test {
namespace {

std::unique_ptr<DumpFile> open_mapped(const std::filesystem::path& path) {
  DumpOpenOptions options;
  options.map_file = true;
  return DumpFile::open(path.string(), options);
}

TEST(MappedDump, ReadsTheSameBytesAndFailuresAsPreadInEveryLayout) {
  struct Layout {
    DumpArch arch;
    std::uint32_t type;
  };
  for (const Layout l :
       {Layout{DumpArch::x64, 1}, Layout{DumpArch::x86, 1}, Layout{DumpArch::x64, 2},
        Layout{DumpArch::x64, 5}, Layout{DumpArch::x64, 6}, Layout{DumpArch::x64, 8}}) {
    SCOPED_TRACE(::testing::Message()
                 << "dump type " << l.type << (is_64bit(l.arch) ? " x64" : " x86"));
    DumpSpec spec;
    spec.arch = l.arch;
    spec.dump_type = l.type;
    spec.runs = {{0x1, 0x30}, {0x40, 0x30}};
    auto o = build_and_open(spec);
    auto mapped = open_mapped(o.path);
    EXPECT_TRUE(mapped->mapped());
    EXPECT_FALSE(o.dump->mapped());
    struct Read {
      std::uint64_t pa;
      std::size_t size;
    };
    // A whole page, a field, one across pages, three pages unaligned, 64 KiB and more (pread
    // in both), one running into the gap, one starting in it.
    for (const Read r : {Read{0x5000, kPageSize}, Read{0x40008, 8}, Read{0x1ff0, 0x20},
                         Read{0x2800, 3 * kPageSize}, Read{0x41000, 0x20 * kPageSize},
                         Read{0x2f000, 3 * kPageSize}, Read{0x31000, kPageSize}}) {
      SCOPED_TRACE(::testing::Message() << std::hex << "read of " << r.size << " at " << r.pa);
      std::vector<std::byte> want(r.size), got(r.size);
      const ReadResult a = o.dump->read_physical(r.pa, want);
      const ReadResult b = mapped->read_physical(r.pa, got);
      EXPECT_EQ(a.status, b.status);
      EXPECT_EQ(a.address, b.address);
      EXPECT_EQ(a.file_offset, b.file_offset);
      if (a) {
        EXPECT_EQ(got, want);
        EXPECT_EQ(got[0], page_byte(r.pa / kPageSize, r.pa % kPageSize));
        EXPECT_EQ(got[r.size - 1],
                  page_byte((r.pa + r.size - 1) / kPageSize, (r.pa + r.size - 1) % kPageSize));
      }
    }
    std::vector<std::byte> page(kPageSize);
    const ReadResult absent = mapped->read_physical(0x31000, page);
    EXPECT_EQ(absent.status, ReadStatus::not_present);
    EXPECT_EQ(absent.address, 0x31000u);
  }
}

TEST(MappedDump, ADumpTruncatedBeforeOpeningReportsTruncationAsWithPread) {
  DumpSpec spec;
  spec.runs = {{0x2, 0x20}};
  spec.truncate_to = 0x2000 + 0x10 * 0x1000 + 0x800;
  auto o = build_and_open(spec);
  auto mapped = open_mapped(o.path);
  std::vector<std::byte> page(kPageSize);
  // Page 0x12 is half in the file: the mapping would hold zeros past the end, pread stops.
  for (const DumpFile* d : {o.dump.get(), mapped.get()}) {
    const ReadResult r = d->read_physical(0x12000, page);
    EXPECT_EQ(r.status, ReadStatus::truncated);
    EXPECT_EQ(r.address, 0x12800u);
    EXPECT_EQ(r.file_offset, 0x12800u);
    EXPECT_EQ(page[0x7ff], page_byte(0x12, 0x7ff));
  }
  std::byte b[8];
  ASSERT_TRUE(mapped->read_physical(0x12000 + 0x7f8, b));
  EXPECT_EQ(b[7], page_byte(0x12, 0x7ff));
}

TEST(MappedDump, AFileThatShrinksAfterOpeningFailsTheReadInsteadOfEndingTheProcess) {
  DumpSpec spec;
  spec.runs = {{0x1, 0x20}};
  auto o = build_and_open(spec);
  auto mapped = open_mapped(o.path);
  std::vector<std::byte> page(kPageSize);
  ASSERT_TRUE(mapped->read_physical(0x18000, page));
  EXPECT_EQ(page[0x123], page_byte(0x18, 0x123));
  // Cut to the first 0x10 pages: 0x11 and above are gone, and pages under the mapping that
  // are gone raise SIGBUS where pread would have returned fewer bytes.
  std::filesystem::resize_file(o.path, o.built.first_page_offset + 0x10 * kPageSize);
  const std::uint64_t at = o.built.first_page_offset + 0x17 * kPageSize;
  ReadResult r = mapped->read_physical(0x18000, page);
  EXPECT_EQ(r.status, ReadStatus::io_error);
  EXPECT_EQ(r.address, 0x18000u);
  EXPECT_EQ(r.file_offset, at);
  EXPECT_EQ(describe_dump_read(*mapped, r),
            fmt::format("physical address 0x18000: its page at file offset {:#x} could not be "
                        "read through the file's mapping (the file is shorter than when it was "
                        "opened, or the storage reported an I/O error)",
                        at));
  std::byte field[8];
  r = mapped->read_physical(0x1c010, field);
  EXPECT_EQ(r.status, ReadStatus::io_error);
  EXPECT_EQ(r.address, 0x1c010u);
  EXPECT_EQ(r.file_offset, o.built.first_page_offset + 0x1b * kPageSize + 0x10);
  // What is still in the file reads as before, from any thread, between failures.
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> buf(kPageSize);
      for (std::uint64_t i = 0; i < 64; ++i) {
        const std::uint64_t pfn = 0x1 + (i * 5 + std::uint64_t(t)) % 0x20;
        const ReadResult res = mapped->read_physical(pfn * kPageSize, buf);
        const bool kept = pfn <= 0x10;
        if (kept ? !res || buf[0x77] != page_byte(pfn, 0x77) : res.status != ReadStatus::io_error) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// A SIGBUS that no mapped read of the reader caused is not the reader's: it goes to the
// handler the program had (here one that exits with 42), or ends the process. Exit codes 3
// and 4: the set-up failed, so that no other way of dying passes for the SIGBUS.
void touch_a_shrunk_mapping(const std::filesystem::path& dir) {
  const auto path = dir / "other.bin";
  std::ofstream(path).put('x');
  std::filesystem::resize_file(path, 2 * kPageSize);
  const int fd = ::open(path.c_str(), O_RDONLY);
  void* m = fd < 0 ? MAP_FAILED : ::mmap(nullptr, 2 * kPageSize, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) std::_Exit(3);
  std::filesystem::resize_file(path, 0);
  (void)static_cast<volatile const char*>(m)[kPageSize];  // SIGBUS
}

void read_a_mapped_page(const std::filesystem::path& dump) {
  auto mapped = open_mapped(dump);  // installs the reader's handler
  std::byte b[8];
  if (!mapped->read_physical(0x1000, b)) std::_Exit(4);
}

void exit_42(int) {
  std::_Exit(42);
}

TEST(MappedDumpDeathTest, ASigbusOutsideTheReaderGoesToTheProgramsHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: no handler installed yet
  DumpSpec spec;
  auto o = build_and_open(spec);
  EXPECT_EXIT(
      {
        struct sigaction a {};
        a.sa_handler = exit_42;
        sigemptyset(&a.sa_mask);
        ::sigaction(SIGBUS, &a, nullptr);
        read_a_mapped_page(o.path);  // the reader's handler goes over the program's
        touch_a_shrunk_mapping(o.dir->path());
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(42), "");
}

TEST(MappedDumpDeathTest, ASigbusOutsideTheReaderStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DumpSpec spec;
  auto o = build_and_open(spec);
  EXPECT_EXIT(
      {
        read_a_mapped_page(o.path);
        touch_a_shrunk_mapping(o.dir->path());
        std::_Exit(0);
      },
      // Killed by the default action; under AddressSanitizer, whose handler the program had,
      // its report and exit code 1.
      [](int status) {
        return (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
               (WIFEXITED(status) && WEXITSTATUS(status) == 1);
      },
      "");
}

}  // namespace
}  // namespace pagedump::test
