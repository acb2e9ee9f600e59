// A read-only shared mapping of a whole input file, for a dump reader that asks for one
// (DumpOpenOptions::map_file): a page read through it costs a page fault the first time and a
// copy after, where pread costs a system call and a copy every time, so a reader that touches
// thousands of scattered pages once typically runs at twice the speed (docs/performance.md).
//
// A mapping turns what pread reports as an error into SIGBUS: a file that shrinks while it is
// mapped, or storage that fails a read. copy() is therefore guarded: a process-wide SIGBUS
// handler, installed with the first mapping, jumps back into the copy that faulted, which then
// reports failure; a SIGBUS raised anywhere else goes to the handler the process had before,
// or ends the process as it would have without pagedump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pagedump {
class InputFile;
}

namespace pagedump::io_detail {

class MappedView {
 public:
  // Maps file.size() bytes of the file; throws Error(io) naming the file when it cannot.
  explicit MappedView(const InputFile& file);
  ~MappedView();
  MappedView(const MappedView&) = delete;
  MappedView& operator=(const MappedView&) = delete;

  std::uint64_t size() const noexcept { return size_; }

  // Copies out.size() bytes from `offset` (the caller keeps offset + out.size() <= size()).
  // False when the copy met SIGBUS: out then holds part of the bytes.
  bool copy(std::uint64_t offset, std::span<std::byte> out) const noexcept;

 private:
  const std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace pagedump::io_detail
