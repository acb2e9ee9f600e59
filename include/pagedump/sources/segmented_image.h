// The shape every image format reduces to: physical ranges, each stored contiguously at some
// file offset. Raw images, ELF cores, LiME and VMware all open into one of these; only the
// parsing differs. Memory use is one small record per stored range (the count of which every
// parser bounds), never per page and never with the image size.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pagedump/io/input_file.h"
#include "pagedump/physical_memory.h"
#include "pagedump/sources/file_holes.h"

namespace pagedump {

// Most ranges any parser accepts from a file: generous for real captures (QEMU writes one per
// RAM block, LiME one per System RAM resource), small enough that a forged count cannot
// exhaust memory.
inline constexpr std::size_t kMaxImageSegments = 1u << 16;
// Most processors any parser accepts.
inline constexpr std::size_t kMaxImageCpus = 4096;

struct ImageSegment {
  PhysicalRange range;
  std::uint64_t file_offset = 0;
};

class SegmentedImage : public PhysicalMemory {
 public:
  // Checks the segments: non-empty ranges, no wrap-around, no two overlapping, and each one's
  // bytes inside the file. Adjacent segments stay separate ranges, as the capture laid them
  // out. `what` names a segment in messages ("PT_LOAD", "LiME range", ...).
  SegmentedImage(InputFile file, std::string format_name, std::vector<ImageSegment> segments,
                 std::vector<CpuState> cpus, const char* what);

  std::string_view format_name() const override { return format_name_; }
  std::span<const PhysicalRange> ranges() const override { return ranges_; }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override;
  std::span<const CpuState> cpus() const override { return cpus_; }
  StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const override;

  const InputFile& file() const noexcept { return file_; }
  std::span<const ImageSegment> segments() const noexcept { return segments_; }

 private:
  InputFile file_;
  FileHoles holes_{file_};
  std::string format_name_;
  std::vector<ImageSegment> segments_;
  std::vector<PhysicalRange> ranges_;
  std::vector<CpuState> cpus_;
};

}  // namespace pagedump
