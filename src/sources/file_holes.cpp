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

// How far below the last hole a question counts as a scan walking down into it.
constexpr std::uint64_t kWalkDown = 1024 * 1024;

}  // namespace

StoredExtent FileHoles::extent(std::uint64_t offset, std::uint64_t limit) const {
  std::lock_guard lock(mutex_);
  if (const Span* s = known(offset)) return {s->hole, std::min(limit, s->end)};
  return ask(offset, limit);
}

const FileHoles::Span* FileHoles::known(std::uint64_t offset) const {
  for (const Span& s : known_) {
    if (s.holds(offset)) return &s;
  }
  return nullptr;
}

void FileHoles::remember(Span span) const {
  if (span.begin >= span.end) return;
  known_[next_] = span;
  next_ = (next_ + 1) % known_.size();
}

StoredExtent FileHoles::answer_hole(Span hole, std::uint64_t limit) const {
  remember(hole);
  last_hole_ = hole;
  return {true, std::min(limit, hole.end)};
}

off_t FileHoles::seek(std::uint64_t offset, int whence) const {
  ++seeks_;
  return ::lseek(file_.fd(), static_cast<off_t>(offset), whence);
}

std::optional<std::uint64_t> FileHoles::next_data(std::uint64_t from) const {
  const off_t data = seek(from, SEEK_DATA);
  if (data >= 0) return static_cast<std::uint64_t>(data);
  // ENXIO: a hole up to the end of the file. Anything else: no answer.
  if (errno == ENXIO) return kToTheEnd;
  return std::nullopt;
}

StoredExtent FileHoles::ask(std::uint64_t offset, std::uint64_t limit) const {
  // Where a known hole ends, data begins (SEEK_DATA said so): only its end is unknown.
  for (const Span& s : known_) {
    if (s.hole && s.end == offset && s.end != kToTheEnd) return ask_data_end(offset, limit);
  }
  if (last_hole_.begin < last_hole_.end && offset < last_hole_.begin &&
      last_hole_.begin - offset <= kWalkDown) {
    if (auto e = ask_walking_down(offset, limit)) return *e;
  }
  const auto data = next_data(offset);
  if (!data) {
    // The file system reports no holes, and will not for any other offset either.
    remember({offset, kToTheEnd, false});
    return {false, limit};
  }
  if (*data > offset) return answer_hole({offset, *data, true}, limit);
  return ask_data_end(offset, limit);
}

std::optional<StoredExtent> FileHoles::ask_walking_down(std::uint64_t offset,
                                                        std::uint64_t limit) const {
  // Ask from as far below offset as the last hole reaches above it, so that each question
  // doubles what is known, but from past what is known already there.
  std::uint64_t from = offset - std::min(offset, last_hole_.end - offset);
  for (std::size_t i = 0; i < known_.size(); ++i) {
    const Span* s = known(from);
    if (!s) break;
    from = s->end;
  }
  if (from >= offset) return std::nullopt;
  const auto data = next_data(from);
  if (!data) return std::nullopt;
  if (*data > offset) return answer_hole({from, *data, true}, limit);
  remember({from, *data, true});  // a hole below offset, met on the way
  if (*data == offset) return ask_data_end(offset, limit);
  // Data below offset: where it ends, and where the data after it begins, bound the hole
  // offset is in, or the data.
  const off_t end = seek(*data, SEEK_HOLE);
  if (end < 0 || static_cast<std::uint64_t>(end) <= *data) return std::nullopt;
  const Span found{*data, static_cast<std::uint64_t>(end), false};
  remember(found);
  if (found.holds(offset)) return StoredExtent{false, std::min(limit, found.end)};
  const auto next = next_data(found.end);
  if (!next) return std::nullopt;
  if (*next > offset) return answer_hole({found.end, *next, true}, limit);
  remember({found.end, *next, true});
  return std::nullopt;
}

StoredExtent FileHoles::ask_data_end(std::uint64_t offset, std::uint64_t limit) const {
  const off_t hole = seek(offset, SEEK_HOLE);
  if (hole < 0 || static_cast<std::uint64_t>(hole) <= offset) return {false, limit};
  remember({offset, static_cast<std::uint64_t>(hole), false});
  return {false, std::min(limit, static_cast<std::uint64_t>(hole))};
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
