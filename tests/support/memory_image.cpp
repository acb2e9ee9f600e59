#include "support/memory_image.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace pagedump::test {

MemoryImage::MemoryImage(std::string format_name) : name_(std::move(format_name)) {}

static void check_span(std::uint64_t pa, std::uint64_t size) {
  if (size == 0 || size - 1 > std::numeric_limits<std::uint64_t>::max() - pa) {
    throw std::logic_error(fmt::format("MemoryImage: bad range {:#x} + {:#x}", pa, size));
  }
}

void MemoryImage::map(std::uint64_t pa, std::uint64_t size) {
  check_span(pa, size);
  std::uint64_t first = pa;
  std::uint64_t last = pa + (size - 1);
  std::vector<PhysicalRange> kept;
  for (const PhysicalRange& r : ranges_) {
    const std::uint64_t r_last = r.base + (r.size - 1);
    const bool apart =
        (r_last < first && first - r_last > 1) || (r.base > last && r.base - last > 1);
    if (apart) {
      kept.push_back(r);
    } else {  // overlapping or touching: merge
      first = std::min(first, r.base);
      last = std::max(last, r_last);
    }
  }
  kept.push_back({first, last - first + 1});
  std::sort(kept.begin(), kept.end(),
            [](const PhysicalRange& a, const PhysicalRange& b) { return a.base < b.base; });
  ranges_ = std::move(kept);
}

void MemoryImage::unmap(std::uint64_t pa, std::uint64_t size) {
  check_span(pa, size);
  const std::uint64_t last = pa + (size - 1);
  std::vector<PhysicalRange> kept;
  for (const PhysicalRange& r : ranges_) {
    const std::uint64_t r_last = r.base + (r.size - 1);
    if (r_last < pa || r.base > last) {
      kept.push_back(r);
      continue;
    }
    if (r.base < pa) kept.push_back({r.base, pa - r.base});
    if (r_last > last) kept.push_back({last + 1, r_last - last});
  }
  ranges_ = std::move(kept);
  // Forget the bytes: whole pages are dropped, partly covered ones zeroed there.
  for (auto it = pages_.lower_bound(pa / kPageSize); it != pages_.end();) {
    const std::uint64_t page_pa = it->first * kPageSize;
    if (page_pa > last) break;
    const std::uint64_t from = std::max(page_pa, pa);
    const std::uint64_t to = std::min(page_pa + (kPageSize - 1), last);
    if (from == page_pa && to == page_pa + (kPageSize - 1)) {
      it = pages_.erase(it);
      continue;
    }
    std::memset(it->second.data() + (from - page_pa), 0, to - from + 1);
    ++it;
  }
}

const PhysicalRange* MemoryImage::range_at(std::uint64_t pa) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pa,
                             [](std::uint64_t a, const PhysicalRange& r) { return a < r.base; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return pa - it->base < it->size ? &*it : nullptr;
}

void MemoryImage::write(std::uint64_t pa, std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  check_span(pa, bytes.size());
  for (std::uint64_t done = 0; done < bytes.size();) {
    const std::uint64_t cur = pa + done;
    const PhysicalRange* r = range_at(cur);
    if (!r) throw std::logic_error(fmt::format("MemoryImage: write to the hole at {:#x}", cur));
    const std::uint64_t n = std::min<std::uint64_t>(
        {bytes.size() - done, kPageSize - cur % kPageSize, r->base + (r->size - 1) - cur + 1});
    Page& page = pages_.try_emplace(cur / kPageSize).first->second;
    std::memcpy(page.data() + cur % kPageSize, bytes.data() + done, n);
    done += n;
  }
}

void MemoryImage::write(std::uint64_t pa, std::string_view text) {
  write(pa, std::as_bytes(std::span(text.data(), text.size())));
}

void MemoryImage::write_u64(std::uint64_t pa, std::uint64_t value) {
  write(pa, std::as_bytes(std::span(&value, 1)));
}

void MemoryImage::write_u32(std::uint64_t pa, std::uint32_t value) {
  write(pa, std::as_bytes(std::span(&value, 1)));
}

void MemoryImage::fill(std::uint64_t pa, std::uint64_t size, std::byte value) {
  std::vector<std::byte> bytes(size, value);
  write(pa, bytes);
}

std::uint64_t MemoryImage::read_u64(std::uint64_t pa) const {
  std::uint64_t v = 0;
  read_physical_or_throw(pa, std::as_writable_bytes(std::span(&v, 1)));
  return v;
}

std::uint32_t MemoryImage::read_u32(std::uint64_t pa) const {
  std::uint32_t v = 0;
  read_physical_or_throw(pa, std::as_writable_bytes(std::span(&v, 1)));
  return v;
}

ReadResult MemoryImage::read_physical(std::uint64_t pa, std::span<std::byte> out) const {
  ++read_calls_;
  for (std::uint64_t done = 0; done < out.size();) {
    const std::uint64_t cur = pa + done;
    if (done != 0 && cur == 0) return ReadResult{ReadStatus::not_present, cur, 0};  // wrapped
    const PhysicalRange* r = range_at(cur);
    if (!r) return ReadResult{ReadStatus::not_present, cur, 0};
    if (truncated_from_ && cur >= *truncated_from_) {
      return ReadResult{ReadStatus::truncated, cur, cur};
    }
    std::uint64_t n = std::min<std::uint64_t>(
        {out.size() - done, kPageSize - cur % kPageSize, r->base + (r->size - 1) - cur + 1});
    if (truncated_from_ && *truncated_from_ > cur) n = std::min(n, *truncated_from_ - cur);
    const auto page = pages_.find(cur / kPageSize);
    if (page == pages_.end()) {
      std::memset(out.data() + done, 0, n);
    } else {
      std::memcpy(out.data() + done, page->second.data() + cur % kPageSize, n);
    }
    done += n;
  }
  return ReadResult{};
}

StoredExtent MemoryImage::stored_extent(std::uint64_t pa, std::uint64_t limit) const {
  const PhysicalRange* r = unwritten_known_zero_ ? range_at(pa) : nullptr;
  if (!r || (truncated_from_ && pa >= *truncated_from_)) return {false, limit};
  std::uint64_t end = std::min(limit, r->end());
  if (truncated_from_) end = std::min(end, *truncated_from_);
  const auto written = pages_.lower_bound(pa / kPageSize);
  if (written != pages_.end() && written->first == pa / kPageSize) {
    return {false, std::min(end, (pa / kPageSize + 1) * kPageSize)};  // one written page
  }
  if (written != pages_.end()) end = std::min(end, written->first * kPageSize);
  return {true, end};
}

}  // namespace pagedump::test
