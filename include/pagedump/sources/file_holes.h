// Reading a capture that is a sparse file: where its holes are (SEEK_DATA / SEEK_HOLE), and
// reads that fill them with zeros without reading them. Most of a sparse capture is holes
// (RAM the guest never used), and asking is what lets a conversion skip them as `cp` does.
//
// The file system's last answers are remembered: one data extent and one hole. Discovery asks
// about the same few 64 KiB blocks many times over, and a read asks again where the writer
// just asked, so most questions are answered without the two lseek calls each would take
// (435 of a sparse conversion's 688 system calls were such lseek calls; 279 are left). The
// file must not change while it is read, which holds for a capture opened read-only.
#pragma once

#include <cstdint>
#include <mutex>
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
    bool holds(std::uint64_t offset) const noexcept { return offset >= begin && offset < end; }
  };
  StoredExtent ask(std::uint64_t offset, std::uint64_t limit) const;  // with mutex_ held

  const InputFile& file_;
  mutable std::mutex mutex_;  // a const image may be read from several threads
  mutable Span data_, hole_;
  mutable std::uint64_t seeks_ = 0;
};

}  // namespace pagedump
