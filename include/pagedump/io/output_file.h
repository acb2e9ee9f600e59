// An output that appears only when complete: bytes go to a temporary file created exclusively
// in the target folder (no following of a planted link), and commit() renames it over the
// target. Without `overwrite`, an existing target is never replaced, even one created while
// the output was being written. A write error (disk full, file-size limit) is reported with
// the target's name and leaves nothing behind; so does destroying an uncommitted output.
//
// Failure without loss (docs/robustness.md):
//  - The temporary file is ".NAME.pagedump-PID-XXXXXX" beside the target, created with
//    O_EXCL (mkostemp) and held under flock(LOCK_EX) for as long as it is being written.
//  - A writer killed outright (SIGKILL, power loss) leaves its temporary file; the next
//    OutputFile for the same target removes every such file whose lock it can take and whose
//    PID is no longer alive (both: a live writer holds its lock, and a reused PID only delays
//    the removal). Only regular files owned by this user are removed; links are never followed.
//  - install_interrupt_cleanup() makes SIGINT, SIGTERM and SIGHUP remove the temporary files
//    of live outputs before the process dies of the signal, and ignores SIGXFSZ so a
//    file-size limit is a write error (EFBIG) with a clear message instead of a kill.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace pagedump {

class OutputFile {
 public:
  // durable: commit() flushes the file to disk before the rename, and writes are started
  // towards the disk as they go (see write_behind). Without it the output is complete and
  // atomic for every reader, but a power loss soon after may leave it partly written.
  OutputFile(const std::string& target, bool overwrite, bool durable = true);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  const std::string& target() const noexcept { return target_; }
  const std::string& temp_path() const noexcept { return temp_; }

  // Positioned write of all bytes; throws Error(io) naming the target and the errno text.
  void write_at(std::uint64_t offset, std::span<const std::byte> bytes);
  // Sets the final size (holes read as zeros).
  void truncate(std::uint64_t size);
  // fsync (when durable), then rename onto the target. Throws Error(io) on failure (the temp
  // file is removed).
  void commit();

  // Free bytes available to this process in the target's folder.
  static std::uint64_t free_space(const std::string& target);

  // Removes the temporary files that dead writers left for `target` (see above); returns how
  // many were removed. The constructor calls it.
  static std::size_t remove_stale_temporaries(const std::string& target);

 private:
  void discard() noexcept;
  void test_stop_hook(std::uint64_t end) noexcept;
  void write_behind(std::uint64_t end) noexcept;
  std::string target_;
  std::string temp_;
  int fd_ = -1;
  int slot_ = -1;  // index in the interrupt-cleanup table
  bool overwrite_ = false;
  bool committed_ = false;
  bool durable_ = true;
  std::uint64_t stop_after_ = 0;  // PAGEDUMP_TEST_STOP_AFTER (0: off)
  std::uint64_t written_end_ = 0;   // highest byte written so far
  std::uint64_t writeback_to_ = 0;  // disk writes started for [0, writeback_to_)
  // PAGEDUMP_TEST_WRITE_ERROR=OFFSET:ERRNO: a write_at() that reaches past OFFSET fails with
  // ERRNO instead of writing (tests of EIO / ENOSPC without a failing disk). 0: off.
  std::uint64_t fail_at_ = 0;
  int fail_errno_ = 0;
};

// Throws Error(usage) when `output` is one of `inputs` (the same file: equal path, a hard
// link or a symbolic link to it, compared by device and inode). Inputs that do not exist and
// empty strings are ignored. Call before anything is written.
void refuse_output_over_input(const std::string& output, std::span<const std::string> inputs);

// See above. Idempotent; the CLI calls it once at start.
void install_interrupt_cleanup();

}  // namespace pagedump
