#include "pagedump/sources/lime_image.h"

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/lime.h"
#include "pagedump/sources/segmented_image.h"

namespace pagedump {

std::unique_ptr<PhysicalMemory> open_lime_image(const std::string& path) {
  using namespace pagedump::format;
  InputFile f(path);
  std::vector<ImageSegment> segments;
  std::uint64_t pos = 0;
  while (pos < f.size()) {
    if (f.size() - pos < sizeof(LimeRangeHeader)) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: {} trailing bytes at file offset {:#x}, too few for a LiME "
                              "range header ({} bytes)",
                              path, f.size() - pos, pos, sizeof(LimeRangeHeader)));
    }
    const auto h = f.read_struct<LimeRangeHeader>(pos, "LiME range header");
    if (h.magic != kLimeMagic) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: LiME range header {} at file offset {:#x} has magic {:#010x}, "
                              "expected {:#010x}",
                              path, segments.size(), pos, h.magic, kLimeMagic));
    }
    if (h.version != kLimeVersion) {
      throw Error(ErrorKind::unsupported,
                  fmt::format("{}: LiME range header at file offset {:#x} has version {} (1 "
                              "expected)",
                              path, pos, h.version));
    }
    if (h.e_addr < h.s_addr || h.e_addr - h.s_addr == ~std::uint64_t{0}) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: LiME range header at file offset {:#x}: end {:#x} (inclusive) "
                              "is below start {:#x} or spans the whole address space",
                              path, pos, h.e_addr, h.s_addr));
    }
    const std::uint64_t size = h.e_addr - h.s_addr + 1;
    const std::uint64_t data = pos + sizeof(LimeRangeHeader);
    if (size > f.size() - data) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: LiME range {:#x}-{:#x} at file offset {:#x} needs {:#x} bytes, "
                              "only {:#x} remain in the file",
                              path, h.s_addr, h.e_addr, pos, size, f.size() - data));
    }
    if (segments.size() >= kMaxImageSegments) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: more than {} LiME ranges", path, kMaxImageSegments));
    }
    segments.push_back({{h.s_addr, size}, data});
    pos = data + size;
  }
  if (segments.empty()) throw Error(ErrorKind::inconsistent, fmt::format("{}: empty file", path));
  return std::make_unique<SegmentedImage>(std::move(f), "lime", std::move(segments),
                                          std::vector<CpuState>{}, "LiME range");
}

}  // namespace pagedump
