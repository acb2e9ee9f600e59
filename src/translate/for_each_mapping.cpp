// AddressSpace::for_each_mapping: a depth-first walk of the page tables in VA order, bounded by
// entering each table page at most once per level (see the header for the policy).
#include <cstring>
#include <limits>
#include <unordered_map>
#include <vector>

#include "pagedump/translate/address_space.h"
#include "paging_format.h"

namespace pagedump {

namespace {

// Table pages entered so far, one bit per (page, level). Bits are grouped 64 pages to a word and
// a word exists only once a table page in its group has been read, so memory follows the number
// of table pages actually read, not the size the image claims.
class EnteredTables {
 public:
  bool contains(std::uint64_t pa, int level) const {
    const auto it = words_.find(key(pa, level));
    return it != words_.end() && (it->second & bit(pa));
  }
  void insert(std::uint64_t pa, int level) { words_[key(pa, level)] |= bit(pa); }
  void clear() { words_.clear(); }

 private:
  static std::uint64_t key(std::uint64_t pa, int level) {
    return (pa >> 18) << 2 | static_cast<std::uint64_t>(level - 1);
  }
  static std::uint64_t bit(std::uint64_t pa) { return std::uint64_t{1} << ((pa >> 12) & 63); }
  std::unordered_map<std::uint64_t, std::uint64_t> words_;
};

class MappingWalk {
 public:
  MappingWalk(const PhysicalMemory& memory, PagingMode mode, std::uint64_t first,
              std::uint64_t last, const MappingCallback& on_mapping, const TableCallback& on_table)
      : memory_(memory),
        mode_(mode),
        shape_(paging::shape(mode)),
        first_(first),
        last_(last),
        on_mapping_(on_mapping),
        on_table_(on_table),
        buffer_(static_cast<std::size_t>(shape_.levels) * kPageSize) {}

  // Walks the tables under root for the VAs whose top-level index starts at window_va.
  // Returns false once a callback asked to stop.
  bool run(std::uint64_t root, std::uint64_t window_va) {
    entered_.clear();
    return enter(root, shape_.levels, window_va);
  }

  WalkSummary summary;

 private:
  bool stop() {
    summary.stopped = true;
    return false;
  }

  std::uint64_t entry_va(std::uint64_t table_va, int level, std::uint64_t index) const {
    std::uint64_t va = table_va + index * paging::entry_span(shape_, level);
    // x64 PML4 entries 256..511 map the upper canonical half.
    if (mode_ == PagingMode::x64_4level && level == shape_.levels && (va >> 47) != 0) {
      va |= 0xFFFF000000000000ull;
    }
    return va;
  }

  std::uint64_t load_entry(std::span<const std::byte> table, std::uint64_t index) const {
    if (shape_.entry_size == 4) {
      std::uint32_t e;
      std::memcpy(&e, table.data() + index * 4, 4);
      return e;
    }
    std::uint64_t e;
    std::memcpy(&e, table.data() + index * 8, 8);
    return e;
  }

  bool enter(std::uint64_t table_pa, int level, std::uint64_t table_va) {
    const std::uint64_t bytes = paging::table_bytes(shape_, level);
    const std::span<std::byte> table(buffer_.data() + (level - 1) * kPageSize, bytes);
    const ReadResult r = memory_.read_physical(table_pa, table);
    const TablePage page{table_pa, bytes, level, table_va, r.status};
    if (!r) {
      ++summary.unreadable_tables;
      if (on_table_ && !on_table_(page)) return stop();
      return true;
    }
    ++summary.tables;
    if (level < shape_.levels) entered_.insert(table_pa, level);
    if (on_table_ && !on_table_(page)) return stop();

    const std::uint64_t span = paging::entry_span(shape_, level);
    const std::uint64_t count = bytes / shape_.entry_size;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t va = entry_va(table_va, level, i);
      if (va + (span - 1) < first_) continue;
      if (va > last_) break;
      const std::uint64_t e = load_entry(table, i);
      const paging::DecodedEntry d = paging::decode_entry(mode_, level, e);
      if (d.kind == paging::EntryKind::leaf) {
        ++summary.mappings;
        if (on_mapping_ && !on_mapping_(Mapping{va, d.address, d.size, level, e})) return stop();
      } else if (d.kind == paging::EntryKind::table) {
        if (entered_.contains(d.address, level - 1)) {
          ++summary.repeated_tables;
          continue;
        }
        if (!enter(d.address, level - 1, va)) return false;
      }
    }
    return true;
  }

  const PhysicalMemory& memory_;
  PagingMode mode_;
  const paging::ModeShape& shape_;
  std::uint64_t first_;
  std::uint64_t last_;
  const MappingCallback& on_mapping_;
  const TableCallback& on_table_;
  std::vector<std::byte> buffer_;  // one table per level, reused along the walk
  EnteredTables entered_;
};

struct VaWindow {
  std::uint64_t first;
  std::uint64_t last;
};

}  // namespace

WalkSummary AddressSpace::for_each_mapping(std::uint64_t first_va, std::uint64_t last_va,
                                           const MappingCallback& on_mapping,
                                           const TableCallback& on_table) const {
  MappingWalk walk(*memory_, mode_, first_va, last_va, on_mapping, on_table);
  if (first_va > last_va) return walk.summary;

  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  // x64 needs one walk: the root's index already selects the canonical half. ARM64's single
  // root is walked once per half.
  static constexpr VaWindow kX64[] = {{0, kMax}};
  static constexpr VaWindow kArm64[] = {{0, 0x0000FFFFFFFFFFFFull}, {0xFFFF000000000000ull, kMax}};
  static constexpr VaWindow kX86[] = {{0, 0xFFFFFFFFull}};
  std::span<const VaWindow> windows = kX86;
  if (mode_ == PagingMode::x64_4level) windows = kX64;
  if (mode_ == PagingMode::arm64_4k) windows = kArm64;

  for (const VaWindow& w : windows) {
    if (w.last < first_va || w.first > last_va) continue;
    if (!walk.run(root_, w.first)) break;
  }
  return walk.summary;
}

}  // namespace pagedump
