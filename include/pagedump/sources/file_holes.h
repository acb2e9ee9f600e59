// Reading a capture that is a sparse file: where its holes are (SEEK_DATA / SEEK_HOLE), and
// reads that fill them with zeros without reading them. Most of a sparse capture is holes
// (RAM the guest never used), and asking is what lets a conversion skip them as `cp` does.
//
// The file system's answers are remembered: the last 16 extents, data and holes alike.
// Discovery comes back to the same page tables and kernel pages many times over, and a read
// asks again where the writer just asked, so most questions are answered without the one or two
// lseek calls each would take; and a scan walking down through a hole asks about log2 of its
// blocks (ask_walking_down). A sparse conversion of the benchmark's image made 435 lseek calls
// of its 688 system calls with nothing remembered, 279 with one extent of each kind, 123 now.
// The file must not change while it is read, which holds for a capture opened read-only.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>

#include "pagedump/io/input_file.h"
#include "pagedump/physical_memory.h"

namespace pagedump {

class FileHoles {
 public:
  explicit FileHoles(const InputFile& file) : file_(file) {}
  FileHoles(const FileHoles&) = delete;
  FileHoles& operator=(const FileHoles&) = delete;

  // How the file stores [offset, limit) from `offset` on: a hole (zeros) or data, up to where
  // that ends or `limit`. All data when the file system reports no holes.
  StoredExtent extent(std::uint64_t offset, std::uint64_t limit) const;

  // Reads file bytes at `offset` into `out`; stretches the file system reports as holes are
  // filled with zeros without reading. Returns the count of bytes available (short only at
  // the end of the file). Throws Error when the read fails.
  std::size_t read(std::uint64_t offset, std::span<std::byte> out) const;

  // lseek calls made so far (for tests of what the remembered answers save).
  std::uint64_t seeks() const;

 private:
  struct Span {
    std::uint64_t begin = 0, end = 0;  // [begin, end); empty when begin == end
    bool hole = false;
    bool holds(std::uint64_t offset) const noexcept { return offset >= begin && offset < end; }
  };
  // With mutex_ held.
  const Span* known(std::uint64_t offset) const;
  void remember(Span span) const;
  StoredExtent answer_hole(Span hole, std::uint64_t limit) const;
  off_t seek(std::uint64_t offset, int whence) const;
  // SEEK_DATA from `from`: where data begins (the largest offset when none follows), or
  // nullopt when the file system gives no answer.
  std::optional<std::uint64_t> next_data(std::uint64_t from) const;
  // What the file system says about offset.
  StoredExtent ask(std::uint64_t offset, std::uint64_t limit) const;
  // Just below the last hole a scan is walking down through it (discovery looks for the
  // kernel's image from high addresses down, 64 KiB at a time): asking from twice as far below
  // each time takes about log2(n) questions for a hole of n blocks, not n. nullopt when data
  // in between leaves offset to be asked about as usual.
  std::optional<StoredExtent> ask_walking_down(std::uint64_t offset, std::uint64_t limit) const;
  // Where the data that begins at offset ends.
  StoredExtent ask_data_end(std::uint64_t offset, std::uint64_t limit) const;

  const InputFile& file_;
  mutable std::mutex mutex_;  // a const image may be read from several threads
  // The last extents learned, data and holes alike, replaced oldest first; and the hole last
  // given as an answer, which a scan walking down meets next.
  mutable std::array<Span, 16> known_{};
  mutable std::size_t next_ = 0;
  mutable Span last_hole_;
  mutable std::uint64_t seeks_ = 0;
};

}  // namespace pagedump
