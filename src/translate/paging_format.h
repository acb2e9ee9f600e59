// The shape of each paging mode and the meaning of its entries, shared by the single-address
// walk (translate) and the enumeration (for_each_mapping). Architecture facts: Intel SDM vol. 3A
// ch. 4 (paging), Arm ARM D8 (VMSAv8-64 translation).
#pragma once

#include <cstdint>

#include "pagedump/translate/address_space.h"

namespace pagedump::paging {

struct LevelShape {
  unsigned shift = 0;       // lowest VA bit of this level's index
  unsigned index_bits = 0;  // 9, 10, or 2 for the PAE PDPT
};

struct ModeShape {
  int levels = 0;
  unsigned entry_size = 0;  // bytes per entry: 8, or 4 without PAE
  LevelShape level[5]{};    // indexed by level 1..levels
};

const ModeShape& shape(PagingMode mode) noexcept;

inline std::uint64_t entry_index(const ModeShape& s, int level, std::uint64_t va) noexcept {
  const LevelShape& l = s.level[level];
  return (va >> l.shift) & ((std::uint64_t{1} << l.index_bits) - 1);
}

inline std::uint64_t entry_span(const ModeShape& s, int level) noexcept {
  return std::uint64_t{1} << s.level[level].shift;
}

// Bytes of a table at a level: a page, except the PAE PDPT (4 entries, 32 bytes).
inline std::uint64_t table_bytes(const ModeShape& s, int level) noexcept {
  return (std::uint64_t{1} << s.level[level].index_bits) * s.entry_size;
}

enum class EntryKind {
  invalid,   // present / valid bit clear
  table,     // points to the next level's table
  leaf,      // maps a page (4 KiB at level 1, a large page above)
  reserved,  // an encoding the mode does not allow at this level
};

struct DecodedEntry {
  EntryKind kind = EntryKind::invalid;
  std::uint64_t address = 0;  // table: its PA; leaf: the page's first PA
  std::uint64_t size = 0;     // leaf: page size
};

DecodedEntry decode_entry(PagingMode mode, int level, std::uint64_t entry) noexcept;

// The physical address of the top-level table for a CR3 / TTBR value.
std::uint64_t root_from_dtb(PagingMode mode, std::uint64_t dtb) noexcept;

}  // namespace pagedump::paging
