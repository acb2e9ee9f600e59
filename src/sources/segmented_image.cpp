#include "pagedump/sources/segmented_image.h"

#include <algorithm>

#include <fmt/format.h>

#include "pagedump/error.h"

namespace pagedump {

SegmentedImage::SegmentedImage(InputFile file, std::string format_name,
                               std::vector<ImageSegment> segments, std::vector<CpuState> cpus,
                               const char* what)
    : file_(std::move(file)),
      format_name_(std::move(format_name)),
      segments_(std::move(segments)),
      cpus_(std::move(cpus)) {
  if (segments_.size() > kMaxImageSegments) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} {}s, more than the {} a capture can plausibly hold",
                            file_.path(), segments_.size(), what, kMaxImageSegments));
  }
  for (const auto& s : segments_) {
    if (s.range.size == 0) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: {} at physical {:#x} is empty", file_.path(), what,
                              s.range.base));
    }
    if (s.range.base + s.range.size < s.range.base) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: {} at physical {:#x} of size {:#x} wraps past the end of the "
                              "address space",
                              file_.path(), what, s.range.base, s.range.size));
    }
    if (s.file_offset > file_.size() || s.range.size > file_.size() - s.file_offset) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: {} for physical {:#x}-{:#x} is stored at file offset "
                              "{:#x}-{:#x}, past the end of the file (size {:#x})",
                              file_.path(), what, s.range.base, s.range.end(), s.file_offset,
                              s.file_offset + s.range.size, file_.size()));
    }
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const ImageSegment& a, const ImageSegment& b) { return a.range.base < b.range.base; });
  for (std::size_t i = 1; i < segments_.size(); ++i) {
    const auto& prev = segments_[i - 1].range;
    const auto& cur = segments_[i].range;
    if (cur.base < prev.end()) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: {}s overlap: physical {:#x}-{:#x} and {:#x}-{:#x}",
                              file_.path(), what, prev.base, prev.end(), cur.base, cur.end()));
    }
  }
  ranges_.reserve(segments_.size());
  for (const auto& s : segments_) ranges_.push_back(s.range);
}

ReadResult SegmentedImage::read_physical(std::uint64_t pa, std::span<std::byte> out) const {
  std::size_t done = 0;
  // First segment whose end lies beyond pa.
  auto it = std::upper_bound(segments_.begin(), segments_.end(), pa,
                             [](std::uint64_t a, const ImageSegment& s) { return a < s.range.end(); });
  while (done < out.size()) {
    const std::uint64_t addr = pa + done;
    if (addr < pa) return {ReadStatus::not_present, addr, 0};  // wrapped
    while (it != segments_.end() && it->range.end() <= addr) ++it;
    if (it == segments_.end() || addr < it->range.base) return {ReadStatus::not_present, addr, 0};
    const std::uint64_t in_seg = addr - it->range.base;
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(it->range.size - in_seg, out.size() - done));
    const std::uint64_t off = it->file_offset + in_seg;
    std::size_t got = 0;
    try {
      got = holes_.read(off, out.subspan(done, n));
    } catch (const Error&) {
      return {ReadStatus::io_error, addr, off};
    }
    if (got != n) return {ReadStatus::truncated, addr + got, off + got};
    done += n;
  }
  return {};
}

StoredExtent SegmentedImage::stored_extent(std::uint64_t pa, std::uint64_t limit) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), pa,
                             [](std::uint64_t a, const ImageSegment& s) { return a < s.range.end(); });
  if (it == segments_.end() || pa < it->range.base || limit <= pa) return {false, limit};
  const std::uint64_t off = it->file_offset + (pa - it->range.base);
  const StoredExtent e = holes_.extent(off, off + (std::min(it->range.end(), limit) - pa));
  return {e.known_zero, pa + (e.end - off)};
}

}  // namespace pagedump
