// Shared by the fuzz targets: the parsers take paths (they pread a file), so each run's input
// is written to one in-memory file per process (memfd) and opened as /proc/self/fd/N. No
// file system churn, no disk, and the parsers run exactly as on a real file.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

namespace pagedump::fuzz {

class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  // Replaces the content with `bytes`.
  const std::string& set(std::span<const std::uint8_t> bytes) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                                 static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// Little-endian integer at `at`, or 0 past the end.
inline std::uint64_t le(std::span<const std::uint8_t> d, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width && at + i < d.size(); ++i) v |= std::uint64_t(d[at + i]) << (8 * i);
  return v;
}

}  // namespace pagedump::fuzz
