// The page loop every dump writer shares. A run of PFNs is read a chunk at a time with the
// overlays applied and handed on as maximal spans, each either bytes to store or pages of
// zeros. Zeros the source knows without reading (holes of a sparse file) are never read, and
// a page an overlay corrected is always bytes, even when the correction made it zero: so the
// writers skip unused RAM at the speed `cp` skips holes, and never per page.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "overlays.h"
#include "page_set_writer.h"
#include "pagedump/physical_memory.h"

namespace pagedump::writer {

struct PageSpan {
  std::uint64_t pfn = 0;
  std::uint64_t count = 0;
  std::span<const std::byte> bytes;  // count pages; empty when the pages are all zero
  bool zero() const noexcept { return bytes.empty(); }
};

class PageStream {
 public:
  PageStream(const PhysicalMemory& image, const Overlays& overlays);

  // Calls visit() for consecutive spans covering the run, in PFN order. Throws Error (truncated
  // / not_present) naming the first address the image cannot give.
  void stream(const PfnRun& run, const std::function<void(const PageSpan&)>& visit);

  // Reads are 64 KiB (kSmallReadPages) until 4 MiB have been read, then 1 MiB (kChunkPages).
  // The buffer is reserved whole and never zeroed, so only the pages a read filled are ever
  // touched, and touching a page of memory for the first time is a page fault: 9 us on the
  // benchmark's virtual machine, seven times a 4 KiB read from the page cache. A sparse image
  // (its few MiB of data pages between holes) thus touches 64 KiB of the buffer, not 1 MiB,
  // and a dense image makes 60 more reads than it would at 1 MiB from the start.
  static constexpr std::size_t kChunkPages = 256;
  static constexpr std::size_t kSmallReadPages = 16;
  static constexpr std::uint64_t kSmallReadBytes = 4 << 20;

 private:
  const PhysicalMemory& image_;
  const Overlays& overlays_;
  std::unique_ptr<std::byte[]> buffer_;
  std::uint64_t bytes_read_ = 0;
};

}  // namespace pagedump::writer
