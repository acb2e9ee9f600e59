#include "pagedump/sources/file_holes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace pagedump {
namespace {

constexpr std::uint64_t kToTheEnd = std::numeric_limits<std::uint64_t>::max();

// Below this size a plain read is cheaper than asking the file system where its holes are.
constexpr std::size_t kSparseProbeMin = 64 * 1024;

}  // namespace

StoredExtent FileHoles::extent(std::uint64_t offset, std::uint64_t limit) const {
  std::lock_guard lock(mutex_);
  if (data_.holds(offset)) return {false, std::min(limit, data_.end)};
  if (hole_.holds(offset)) return {true, std::min(limit, hole_.end)};
  return ask(offset, limit);
}

StoredExtent FileHoles::ask(std::uint64_t offset, std::uint64_t limit) const {
  ++seeks_;
  const off_t data = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    // ENXIO: a hole up to the end of the file. Anything else: the file system reports no
    // holes, and will not for any other offset either.
    if (errno == ENXIO) {
      hole_ = {offset, kToTheEnd};
      return {true, limit};
    }
    data_ = {offset, kToTheEnd};
    return {false, limit};
  }
  const auto data_at = static_cast<std::uint64_t>(data);
  if (data_at > offset) {
    hole_ = {offset, data_at};
    return {true, std::min(limit, data_at)};
  }
  ++seeks_;
  const off_t hole = ::lseek(file_.fd(), static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0 || static_cast<std::uint64_t>(hole) <= offset) return {false, limit};
  data_ = {offset, static_cast<std::uint64_t>(hole)};
  return {false, std::min(limit, data_.end)};
}

std::size_t FileHoles::read(std::uint64_t offset, std::span<std::byte> out) const {
  if (out.size() < kSparseProbeMin) return file_.read_at(offset, out);
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t pos = offset + done;
    if (pos >= file_.size()) break;
    const StoredExtent e =
        extent(pos, std::min<std::uint64_t>(pos + (out.size() - done), file_.size()));
    const auto n = static_cast<std::size_t>(e.end - pos);
    if (e.known_zero) {
      std::memset(out.data() + done, 0, n);
      done += n;
      continue;
    }
    const std::size_t got = file_.read_at(pos, out.subspan(done, n));
    done += got;
    if (got != n) break;
  }
  return done;
}

std::uint64_t FileHoles::seeks() const {
  std::lock_guard lock(mutex_);
  return seeks_;
}

}  // namespace pagedump
