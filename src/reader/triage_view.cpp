// Reads at the VAs a triage dump carries, over the sorted, non-overlapping regions that
// TriageDump builds.
#include "pagedump/reader/triage_view.h"

#include <algorithm>

namespace pagedump {

TriageView::TriageView(const TriageDump& dump) : dump_(&dump) {}

std::uint64_t TriageView::normalise(std::uint64_t va, bool& ok) const noexcept {
  ok = true;
  if (dump_->is64()) return va;
  const std::uint64_t high = va >> 32;
  if (high == 0) return va;
  if (high == 0xFFFFFFFFull && (va & 0x80000000ull) != 0) return va & 0xFFFFFFFFull;
  ok = false;
  return va;
}

const TriageBlock* TriageView::find(std::uint64_t va) const noexcept {
  const auto& regions = dump_->virtual_regions();
  auto it = std::upper_bound(regions.begin(), regions.end(), va,
                             [](std::uint64_t v, const TriageBlock& r) { return v < r.address; });
  if (it == regions.begin()) return nullptr;
  --it;
  return va - it->address < it->size ? &*it : nullptr;
}

ReadResult TriageView::read_virtual(std::uint64_t va, std::span<std::byte> out) const {
  bool ok = false;
  std::uint64_t cur = normalise(va, ok);
  if (!ok) return {ReadStatus::not_mapped, va, 0};
  // Report failures in the caller's form of the address (sign-extended or not).
  const std::uint64_t shown_delta = va - cur;
  std::size_t done = 0;
  while (done < out.size()) {
    const TriageBlock* r = find(cur);
    if (r == nullptr) return {ReadStatus::not_mapped, cur + shown_delta, 0};
    const std::uint64_t within = cur - r->address;
    const std::size_t n = std::size_t(std::min<std::uint64_t>(r->size - within, out.size() - done));
    const std::uint64_t at = r->file_offset + within;
    const std::size_t got = dump_->file().read_at(at, out.subspan(done, n));
    if (got != n) return {ReadStatus::truncated, cur + got + shown_delta, at + got};
    done += n;
    cur += n;
    if (done < out.size() && cur == 0) return {ReadStatus::not_mapped, shown_delta, 0};  // wrapped
  }
  return {};
}

bool TriageView::is_mapped(std::uint64_t va, std::uint64_t size) const {
  bool ok = false;
  std::uint64_t cur = normalise(va, ok);
  if (!ok) return false;
  while (size != 0) {
    const TriageBlock* r = find(cur);
    if (r == nullptr) return false;
    const std::uint64_t n = std::min(r->size - (cur - r->address), size);
    size -= n;
    cur += n;
    if (size != 0 && cur == 0) return false;
  }
  return true;
}

}  // namespace pagedump
