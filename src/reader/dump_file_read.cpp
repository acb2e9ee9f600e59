// Reading physical memory from an opened dump: page lookup, truncation, the range list.
#include <algorithm>
#include <cstring>
#include <optional>

#include "../io/mapped_view.h"
#include "dump_file_internal.h"
#include "page_cache.h"
#include "pagedump/reader/dump_file.h"

namespace pagedump {

std::optional<std::uint64_t> DumpFile::page_file_offset(std::uint64_t pfn) const {
  std::lock_guard lock(cache_->lock);
  return page_offset_locked(pfn);
}

std::optional<std::uint64_t> DumpFile::page_offset_locked(std::uint64_t pfn) const {
  switch (layout_) {
    case MemoryLayout::none: return std::nullopt;
    case MemoryLayout::runs:
    case MemoryLayout::ranges: {
      // Runs are ascending: the last run starting at or before pfn is the only candidate.
      auto it = std::upper_bound(runs_.begin(), runs_.end(), pfn,
                                 [](std::uint64_t p, const DumpRun& r) { return p < r.base_page; });
      if (it == runs_.begin()) return std::nullopt;
      --it;
      if (pfn - it->base_page >= it->page_count) return std::nullopt;
      return it->file_offset + (pfn - it->base_page) * kPageSize;
    }
    case MemoryLayout::bitmap: {
      auto n = bitmap_page_index(pfn);
      if (!n) return std::nullopt;
      return bitmap_->first_page_offset + *n * kPageSize;
    }
  }
  return std::nullopt;
}

ReadResult DumpFile::read_physical(std::uint64_t pa, std::span<std::byte> out) const {
  // A read this large is a stream (a conversion, a dump of a range), not a structure: it
  // would only push the structures out of the cache, so it goes straight to the file.
  constexpr std::size_t kBulkBytes = 64 * 1024;
  const bool bulk = out.size() >= kBulkBytes;
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t addr = pa + done;
    if (addr < pa) return {ReadStatus::not_present, addr, 0};  // wrapped past 2^64
    const std::uint64_t pfn = addr >> reader_detail::kPageShift;
    std::uint64_t in_page = addr & (kPageSize - 1);
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(out.size() - done, kPageSize - in_page));
    std::unique_lock lock(cache_->lock);
    std::optional<std::uint64_t> page;
    bool looked_up = false;
    // Mapped, the mapping is the cache: a page read from it costs a copy, as a hit does, and
    // caching it would add a copy and a slot to commit (zero) for each page read once.
    if (!bulk && !mapped_) {
      const std::byte* cached = cache_->find(pfn);
      if (!cached) {
        page = page_offset_locked(pfn);
        looked_up = true;
        // Only a page the file holds whole takes a way: reading an absent page, or one past
        // the end of a truncated file, evicts nothing.
        if (page && *page <= file_.size() && file_.size() - *page >= kPageSize) {
          cached = cache_->insert(pfn, [&](std::span<std::byte, kPageSize> slot) {
            return file_.read_at(*page, slot) == kPageSize;
          });
        }
      }
      if (cached) {
        std::memcpy(out.data() + done, cached + in_page, n);
        done += n;
        continue;
      }
    }
    // Not cached (a large read, a mapped file, an absent page, the end of the file): from the
    // file.
    if (!looked_up) page = page_offset_locked(pfn);
    if (!page) return {ReadStatus::not_present, addr, 0};
    std::uint64_t at = *page + in_page;
    if (at >= file_.size()) return {ReadStatus::truncated, addr, at};
    // Pages the file stores one after the other are read with one call.
    while (bulk && done + n < out.size() && addr + n > addr) {
      auto next = page_offset_locked((addr + n) >> reader_detail::kPageShift);
      if (!next || *next != at + n) break;
      n += static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done - n, kPageSize));
    }
    lock.unlock();
    if (mapped_ && !bulk && at + n <= mapped_->size()) {
      if (!mapped_->copy(at, out.subspan(done, n))) return {ReadStatus::io_error, addr, at};
      done += n;
      continue;
    }
    std::size_t got = file_.read_at(at, out.subspan(done, n));
    if (got < n) return {ReadStatus::truncated, addr + got, at + got};
    done += n;
  }
  return {};
}

void DumpFile::compute_truncation() {
  std::uint64_t data_start = 0;
  switch (layout_) {
    case MemoryLayout::none: return;
    case MemoryLayout::runs: data_start = header_.header_size(); break;
    case MemoryLayout::ranges: data_start = rdmp_->first_page_offset; break;
    case MemoryLayout::bitmap: data_start = bitmap_->first_page_offset; break;
  }
  std::uint64_t expected = data_start + stored_pages_ * kPageSize;
  if (file_.size() >= expected) return;
  TruncationInfo t;
  t.file_size = file_.size();
  t.expected_size = expected;
  t.pages_in_file = file_.size() > data_start ? (file_.size() - data_start) / kPageSize : 0;
  t.first_missing_offset = data_start + t.pages_in_file * kPageSize;
  if (layout_ == MemoryLayout::bitmap) {
    t.first_missing_page = bitmap_select(t.pages_in_file);
  } else {
    for (const auto& r : runs_) {  // RDMP runs are sorted by PFN, not file offset
      if (t.first_missing_offset < r.file_offset + r.page_count * kPageSize &&
          t.first_missing_offset >= r.file_offset) {
        t.first_missing_page = r.base_page + (t.first_missing_offset - r.file_offset) / kPageSize;
        break;
      }
    }
  }
  truncated_ = t;
}

std::span<const PhysicalRange> DumpFile::ranges() const {
  std::call_once(ranges_once_, [this] {
    auto add = [this](std::uint64_t base_page, std::uint64_t pages) {
      if (pages == 0) return;
      std::uint64_t base = base_page * kPageSize, size = pages * kPageSize;
      if (!ranges_.empty() && ranges_.back().end() == base) {
        ranges_.back().size += size;
      } else {
        ranges_.push_back({base, size});
      }
    };
    if (layout_ == MemoryLayout::runs || layout_ == MemoryLayout::ranges) {
      for (const auto& r : runs_) add(r.base_page, r.page_count);
    } else if (layout_ == MemoryLayout::bitmap) {
      // One pass over the bitmap, chunk by chunk, turning runs of set bits into ranges.
      const BitmapIndex& ix = *bitmap_index_;
      std::vector<std::byte> chunk(BitmapIndex::kChunkBytes);
      for (std::uint64_t c = 0; c + 1 < ix.rank.size(); ++c) {
        if (ix.rank[c + 1] == ix.rank[c]) continue;
        std::span<std::byte> bytes(chunk.data(), ix.chunk_bytes(c));
        file_.read_exact(ix.bits_offset + c * BitmapIndex::kChunkBytes, bytes, "bitmap");
        std::uint64_t nbits = std::min<std::uint64_t>(bytes.size() * 8,
                                                      ix.bit_count - c * BitmapIndex::kChunkBits);
        for (std::uint64_t bit = 0; bit < nbits; ++bit) {
          if (std::to_integer<unsigned>(bytes[bit / 8]) & (1u << (bit % 8))) {
            add(c * BitmapIndex::kChunkBits + bit, 1);
          }
        }
      }
    }
  });
  return ranges_;
}

std::string describe_dump_read(const DumpFile& dump, const ReadResult& r) {
  switch (r.status) {
    case ReadStatus::truncated:
      return fmt::format(
          "physical address {:#x} is at file offset {:#x}, beyond the end of the file (size "
          "{:#x}): the dump is truncated",
          r.address, r.file_offset, dump.file_size());
    case ReadStatus::not_present:
      return fmt::format(
          "physical address {:#x} is not in the dump: page {:#x} is not stored in this {} dump "
          "(absent is not zero)",
          r.address, r.address >> reader_detail::kPageShift,
          format::dump_type_name(dump.header().dump_type));
    case ReadStatus::io_error:
      if (dump.mapped()) {
        return fmt::format(
            "physical address {:#x}: its page at file offset {:#x} could not be read through "
            "the file's mapping (the file is shorter than when it was opened, or the storage "
            "reported an I/O error)",
            r.address, r.file_offset);
      }
      return describe(r, "physical");
    default: return describe(r, "physical");
  }
}

}  // namespace pagedump
