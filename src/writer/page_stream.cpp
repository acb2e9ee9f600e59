#include "page_stream.h"

#include <algorithm>

#include "dump_finishing.h"

namespace pagedump::writer {

PageStream::PageStream(const PhysicalMemory& image, const Overlays& overlays)
    : image_(image),
      overlays_(overlays),
      buffer_(std::make_unique_for_overwrite<std::byte[]>(kChunkPages * kPageSize)) {}

void PageStream::stream(const PfnRun& run, const std::function<void(const PageSpan&)>& visit) {
  const std::uint64_t end = run.first + run.count;
  for (std::uint64_t pfn = run.first; pfn < end;) {
    const std::size_t chunk = bytes_read_ < kSmallReadBytes ? kSmallReadPages : kChunkPages;
    std::uint64_t n = std::min<std::uint64_t>(chunk, end - pfn);
    const std::uint64_t pa = pfn * kPageSize;
    // Ask the file system first: a hole is skipped without reading a byte of it, and bytes
    // are read only up to where the next hole starts.
    const StoredExtent extent = image_.stored_extent(pa, end * kPageSize);
    if (extent.known_zero) {
      const std::uint64_t zero_end = overlays_.first_page_touched(pa, extent.end & ~(kPageSize - 1));
      if (const std::uint64_t zeros = (zero_end - pa) / kPageSize; zeros > 0) {
        visit({pfn, zeros, {}});
        pfn += zeros;
        continue;
      }
    } else if (extent.end > pa) {
      n = std::min(n, (extent.end - pa + kPageSize - 1) / kPageSize);
    }
    auto data = std::span(buffer_.get(), n * kPageSize);
    read_corrected_pages(image_, overlays_, pfn, data);
    bytes_read_ += data.size();
    auto is_zero = [&](std::uint64_t i) {
      const std::uint64_t page = (pfn + i) * kPageSize;
      return is_zero_page(data.subspan(i * kPageSize, kPageSize)) &&
             overlays_.first_page_touched(page, page + kPageSize) == page + kPageSize;
    };
    for (std::uint64_t i = 0; i < n;) {
      const bool zero = is_zero(i);
      std::uint64_t j = i + 1;
      while (j < n && is_zero(j) == zero) ++j;
      visit({pfn + i, j - i,
             zero ? std::span<const std::byte>{} : data.subspan(i * kPageSize, (j - i) * kPageSize)});
      i = j;
    }
    pfn += n;
  }
}

}  // namespace pagedump::writer
