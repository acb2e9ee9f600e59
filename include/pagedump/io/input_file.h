// A file opened read-only for positioned reads. The source of evidence is never written:
// there is no write path here at all. Reads are pread(2), so memory use does not depend
// on the file size and the object is safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace pagedump {

class InputFile {
 public:
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }
  int fd() const noexcept { return fd_; }

  // Reads up to out.size() bytes at offset; returns the count read (short only at end of file).
  std::size_t read_at(std::uint64_t offset, std::span<std::byte> out) const;

  // Reads exactly out.size() bytes or throws Error(truncated) naming `what` and the offset.
  void read_exact(std::uint64_t offset, std::span<std::byte> out, const char* what) const;

  template <class T>
  T read_struct(std::uint64_t offset, const char* what) const {
    T value;
    read_exact(offset, std::as_writable_bytes(std::span(&value, 1)), what);
    return value;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace pagedump
