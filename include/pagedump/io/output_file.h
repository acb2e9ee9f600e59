// An output that appears only when complete: bytes go to a temporary file created exclusively
// in the target folder (no following of a planted link), and commit() renames it over the
// target. Without `overwrite`, an existing target is never replaced, even one created while
// the output was being written. A write error (disk full, file-size limit) is reported with
// the target's name and leaves nothing behind; so does destroying an uncommitted output.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace pagedump {

class OutputFile {
 public:
  OutputFile(const std::string& target, bool overwrite);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  const std::string& target() const noexcept { return target_; }
  const std::string& temp_path() const noexcept { return temp_; }

  // Positioned write of all bytes; throws Error(io) naming the target and the errno text.
  void write_at(std::uint64_t offset, std::span<const std::byte> bytes);
  // Sets the final size (holes read as zeros).
  void truncate(std::uint64_t size);
  // fsync, then rename onto the target. Throws Error(io) on failure (the temp file is removed).
  void commit();

  // Free bytes available to this process in the target's folder.
  static std::uint64_t free_space(const std::string& target);

 private:
  void discard() noexcept;
  std::string target_;
  std::string temp_;
  int fd_ = -1;
  bool overwrite_ = false;
  bool committed_ = false;
};

}  // namespace pagedump
