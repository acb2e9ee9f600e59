// Run-based layouts: the header's physical memory descriptor (DumpType 1) and the RDMP range
// list (DumpType 8, 9, 0xA). Both end up as ascending, disjoint DumpRuns.
#include <algorithm>
#include <utility>

#include "dump_file_internal.h"
#include "pagedump/format/pointer_width.h"
#include "pagedump/format/rdmp.h"
#include "pagedump/reader/dump_file.h"

namespace pagedump {

using reader_detail::fail;
using reader_detail::kMaxPfnEnd;
using reader_detail::printable_tag;

void DumpFile::parse_runs() {
  layout_ = MemoryLayout::runs;
  std::span<const std::byte> b = raw_header_;
  const bool is64 = header_.is64;
  // Where the descriptor's fields are, and how wide, depends only on the pointer width.
  std::size_t block = 0, capacity = 0, run_size = 0, runs_at = 0, pages_offset = 0;
  format::with_width(is64, [&](auto width) {
    using W = decltype(width);
    using Header = typename W::DumpHeader;
    using Head = typename W::MemoryDescriptorHead;
    block = offsetof(Header, PhysicalMemoryBlock);
    capacity = W::kMaxRuns;
    run_size = sizeof(typename W::MemoryRun);
    runs_at = block + sizeof(Head);
    pages_offset = block + offsetof(Head, NumberOfPages);
  });
  std::uint32_t count = format::load<std::uint32_t>(b, block);
  if (format::is_fill(count)) {
    fail(ErrorKind::inconsistent, path(),
         "PhysicalMemoryBlock at file offset {:#x} holds the 'PAGE' fill; a full dump "
         "(DumpType 1) needs its run descriptor there",
         block);
  }
  if (count > capacity) {
    fail(ErrorKind::inconsistent, path(),
         "NumberOfRuns at file offset {:#x} is {}, more than the {} runs the 700-byte "
         "PhysicalMemoryBlock holds",
         block, count, capacity);
  }
  const std::uint64_t pages_field = format::with_width(is64, [&](auto width) -> std::uint64_t {
    using Head = typename decltype(width)::MemoryDescriptorHead;
    return format::load<decltype(Head::NumberOfPages)>(b, pages_offset);
  });

  const std::uint64_t data_start = header_.header_size();
  std::uint64_t sum = 0;
  std::uint64_t prev_end = 0;
  runs_.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::size_t at = runs_at + i * run_size;
    const auto [base, pages] = format::with_width(is64, [&](auto width) {
      const auto r = format::load<typename decltype(width)::MemoryRun>(b, at);
      return std::pair<std::uint64_t, std::uint64_t>{r.BasePage, r.PageCount};
    });
    if (base >= kMaxPfnEnd || pages > kMaxPfnEnd - base) {
      fail(ErrorKind::inconsistent, path(),
           "Run[{}] at file offset {:#x} (BasePage {:#x}, PageCount {:#x}) runs past the largest "
           "physical address",
           i, at, base, pages);
    }
    if (i > 0 && base < prev_end) {
      fail(ErrorKind::inconsistent, path(),
           "Run[{}] at file offset {:#x} (BasePage {:#x}, PageCount {:#x}) starts before the "
           "end of Run[{}] (page {:#x}): runs must be ascending and must not overlap",
           i, at, base, pages, i - 1, prev_end);
    }
    runs_.push_back({base, pages, data_start + sum * kPageSize});
    sum += pages;  // bounded: each term < 2^52, at most 86 terms
    prev_end = base + pages;
  }
  if (sum != pages_field) {
    fail(ErrorKind::inconsistent, path(),
         "NumberOfPages at file offset {:#x} is {:#x} ({}), but the PageCounts of the {} runs "
         "sum to {:#x} ({})",
         pages_offset, pages_field, pages_field, count, sum, sum);
  }
  number_of_runs_ = count;
  number_of_pages_ = pages_field;
  stored_pages_ = sum;
}

void DumpFile::parse_rdmp() {
  layout_ = MemoryLayout::ranges;
  const std::uint64_t at = header_.header_size();
  if (!header_.is64) {
    fail(ErrorKind::unsupported, path(),
         "DumpType {:#x} (RDMP range dump) in a 32-bit PAGEDUMP file: RDMP dumps are only known "
         "as PAGEDU64 files",
         header_.dump_type);
  }
  if (file_.size() < at + sizeof(format::RdmpHeader64) + sizeof(format::RdmpFullRangeHeader)) {
    fail(ErrorKind::truncated, path(),
         "the RDMP header at file offset {:#x} ({:#x} bytes) is beyond the end of the file "
         "(size {:#x})",
         at, sizeof(format::RdmpHeader64) + sizeof(format::RdmpFullRangeHeader), file_.size());
  }
  auto rh = file_.read_struct<format::RdmpHeader64>(at, "RDMP header");
  if (rh.Marker != format::kRdmpMarker) {
    fail(ErrorKind::inconsistent, path(),
         "RDMP header marker at file offset {:#x} is {:#x}; expected 0x40", at, rh.Marker);
  }
  if (rh.Signature != format::kRdmpSignature || rh.ValidDump != format::kRdmpValidDump) {
    fail(ErrorKind::inconsistent, path(),
         "RDMP header at file offset {:#x} reads '{}{}'; expected 'RDMPDUMP'", at + 4,
         printable_tag(rh.Signature), printable_tag(rh.ValidDump));
  }
  // The metadata (range list) runs from the end of the RDMP header to the first page.
  if (rh.MetadataSize < sizeof(format::RdmpHeader64) ||
      rh.FirstPageOffset < at + 0x40 ||
      rh.MetadataSize - sizeof(format::RdmpHeader64) != rh.FirstPageOffset - (at + 0x40)) {
    fail(ErrorKind::inconsistent, path(),
         "RDMP MetadataSize {:#x} (file offset {:#x}) and FirstPageOffset {:#x} (file offset "
         "{:#x}) disagree: expected MetadataSize - 0x20 == FirstPageOffset - {:#x}",
         rh.MetadataSize, at + offsetof(format::RdmpHeader64, MetadataSize), rh.FirstPageOffset,
         at + offsetof(format::RdmpHeader64, FirstPageOffset), at + 0x40);
  }
  const std::uint64_t ranges_at = at + format::kRdmpKernelRangesOffset;
  const std::uint64_t ranges_end = rh.FirstPageOffset;
  if (ranges_end > file_.size()) {
    fail(ErrorKind::truncated, path(),
         "the RDMP range list ends at FirstPageOffset {:#x}, beyond the end of the file "
         "(size {:#x})",
         ranges_end, file_.size());
  }
  std::uint64_t slots = ranges_end > ranges_at ? (ranges_end - ranges_at) / sizeof(format::RdmpRange)
                                               : 0;
  // A range list bigger than this is not a real machine's memory map, and would make the
  // reader's memory grow with a count from the file.
  constexpr std::uint64_t kMaxRanges = std::uint64_t(1) << 20;

  std::optional<std::uint64_t> expected_total;
  if (header_.dump_type == 0xA) {
    auto fh = file_.read_struct<format::RdmpFullRangeHeader>(
        at + format::kRdmpFullRangeHeaderOffset, "RDMP range count");
    if (fh.NumberOfRanges > slots) {
      fail(ErrorKind::inconsistent, path(),
           "RDMP NumberOfRanges at file offset {:#x} is {}, but only {} ranges fit between "
           "{:#x} and FirstPageOffset {:#x}",
           at + format::kRdmpFullRangeHeaderOffset, fh.NumberOfRanges, slots, ranges_at,
           ranges_end);
    }
    slots = fh.NumberOfRanges;
    expected_total = fh.TotalNumberOfPages;
  }

  std::uint64_t sum = 0;
  std::vector<format::RdmpRange> block(256);
  for (std::uint64_t i = 0; i < slots;) {
    std::uint64_t n = std::min<std::uint64_t>(block.size(), slots - i);
    std::span<std::byte> bytes = std::as_writable_bytes(std::span(block.data(), n));
    file_.read_exact(ranges_at + i * sizeof(format::RdmpRange), bytes, "RDMP range list");
    bool done = false;
    for (std::uint64_t k = 0; k < n && !done; ++k, ++i) {
      const auto& r = block[k];
      std::uint64_t off = ranges_at + i * sizeof(format::RdmpRange);
      if (!expected_total && r.Pfn == 0) {
        done = true;  // types 8/9: a zero PFN ends the list
        break;
      }
      if (r.Pfn >= kMaxPfnEnd || r.PageCount > kMaxPfnEnd - r.Pfn) {
        fail(ErrorKind::inconsistent, path(),
             "RDMP range {} at file offset {:#x} (PFN {:#x}, {:#x} pages) runs past the largest "
             "physical address",
             i, off, r.Pfn, r.PageCount);
      }
      if (r.PageCount == 0) continue;  // stores nothing
      if (runs_.size() == kMaxRanges) {
        fail(ErrorKind::unsupported, path(),
             "the RDMP range list at file offset {:#x} has more than {} ranges", ranges_at,
             kMaxRanges);
      }
      runs_.push_back({r.Pfn, r.PageCount, rh.FirstPageOffset + sum * kPageSize});
      sum += r.PageCount;
      if (sum > kMaxPfnEnd) {
        fail(ErrorKind::inconsistent, path(),
             "RDMP ranges up to file offset {:#x} hold more pages than a 64-bit address space",
             off);
      }
      if (expected_total && sum >= *expected_total) done = true;
    }
    if (done) break;
  }
  if (expected_total && sum != *expected_total) {
    fail(ErrorKind::inconsistent, path(),
         "RDMP TotalNumberOfPages at file offset {:#x} is {:#x}, but the ranges hold {:#x} pages",
         at + format::kRdmpFullRangeHeaderOffset + offsetof(format::RdmpFullRangeHeader,
                                                            TotalNumberOfPages),
         *expected_total, sum);
  }
  std::sort(runs_.begin(), runs_.end(),
            [](const DumpRun& a, const DumpRun& c) { return a.base_page < c.base_page; });
  for (std::size_t i = 1; i < runs_.size(); ++i) {
    const auto& p = runs_[i - 1];
    if (runs_[i].base_page < p.base_page + p.page_count) {
      fail(ErrorKind::inconsistent, path(),
           "RDMP ranges overlap: PFN {:#x} ({:#x} pages) and PFN {:#x} ({:#x} pages)",
           p.base_page, p.page_count, runs_[i].base_page, runs_[i].page_count);
    }
  }
  rdmp_ = RdmpSummary{rh.MetadataSize, rh.FirstPageOffset, runs_.size(), sum};
  stored_pages_ = sum;
}

}  // namespace pagedump
