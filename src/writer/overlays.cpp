#include "overlays.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace pagedump::writer {

bool Overlays::add_virtual(const AddressSpace& space, std::uint64_t va,
                           std::span<const std::byte> bytes, const std::string& what,
                           std::vector<std::string>& notes) {
  bool all = true;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::uint64_t cur = va + done;
    const std::size_t in_page =
        std::min<std::size_t>(bytes.size() - done, kPageSize - (cur & (kPageSize - 1)));
    auto t = space.translate(cur);
    if (t) {
      Patch p{t.pa, {bytes.begin() + done, bytes.begin() + done + in_page}};
      auto pos = std::upper_bound(patches_.begin(), patches_.end(), p.pa,
                                  [](std::uint64_t a, const Patch& q) { return a < q.pa; });
      patches_.insert(pos, std::move(p));
    } else {
      all = false;
      notes.push_back(fmt::format("{}: {:#x} does not translate ({}); left as in the source", what,
                                  cur, describe(t, space.mode())));
    }
    done += in_page;
  }
  return all;
}

bool Overlays::keep_virtual(const AddressSpace& space, std::uint64_t va) {
  const auto t = space.translate(va);
  if (!t) return false;
  kept_.insert(t.pa & ~(kPageSize - 1));
  return true;
}

void Overlays::apply(std::uint64_t pa, std::span<std::byte> chunk) const {
  const std::uint64_t end = pa + chunk.size();
  // Patches never exceed a page, so one that starts a page before the chunk can still reach in.
  auto it = std::lower_bound(patches_.begin(), patches_.end(), pa > kPageSize ? pa - kPageSize : 0,
                             [](const Patch& q, std::uint64_t a) { return q.pa < a; });
  for (; it != patches_.end() && it->pa < end; ++it) {
    const std::uint64_t from = std::max(it->pa, pa);
    const std::uint64_t to = std::min(it->pa + it->bytes.size(), end);
    if (from >= to) continue;
    std::memcpy(chunk.data() + (from - pa), it->bytes.data() + (from - it->pa), to - from);
  }
}

std::uint64_t Overlays::first_page_touched(std::uint64_t pa, std::uint64_t end) const {
  std::uint64_t first = end;
  const auto kept = kept_.lower_bound(pa & ~(kPageSize - 1));
  if (kept != kept_.end() && *kept < end) first = *kept;
  auto it = std::lower_bound(patches_.begin(), patches_.end(), pa > kPageSize ? pa - kPageSize : 0,
                             [](const Patch& q, std::uint64_t a) { return q.pa < a; });
  for (; it != patches_.end() && it->pa < first; ++it) {
    if (it->pa + it->bytes.size() <= pa) continue;
    return std::min(first, std::max(it->pa, pa) & ~(kPageSize - 1));
  }
  return first;
}

}  // namespace pagedump::writer
