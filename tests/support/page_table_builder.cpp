#include "support/page_table_builder.h"

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

namespace pagedump::test {

namespace {

[[noreturn]] void misuse(const std::string& what) {
  throw std::logic_error("PageTableBuilder: " + what);
}

constexpr std::uint64_t kX86Flags = 0x63;       // present, writable, accessed, dirty
constexpr std::uint64_t kX86LargeFlags = 0xE3;  // ... and PS
constexpr std::uint64_t kArmTable = 0x3;
constexpr std::uint64_t kArmPage = 0x403;   // page descriptor, AF
constexpr std::uint64_t kArmBlock = 0x401;  // block descriptor, AF

}  // namespace

PageTableBuilder::PageTableBuilder(MemoryImage& image, PagingMode mode, std::uint64_t pool_base,
                                   std::uint64_t pool_size, Options options)
    : image_(image),
      mode_(mode),
      levels_(mode == PagingMode::x86_legacy ? 2
              : mode == PagingMode::x86_pae  ? 3
                                             : 4),
      pool_next_(pool_base),
      pool_end_(pool_base + pool_size) {
  if (pool_base % kPageSize || pool_size % kPageSize || pool_size == 0) {
    misuse("the pool must be whole pages");
  }
  if (mode != PagingMode::x64_4level && mode != PagingMode::arm64_4k && pool_end_ > 0x100000000) {
    misuse("32-bit modes need the root table below 4 GiB");
  }
  image_.map(pool_base, pool_size);
  root_ = allocate_table();
  if (mode == PagingMode::x86_pae) {
    if (options.pae_pdpt_offset % 32 || options.pae_pdpt_offset >= kPageSize) {
      misuse("the PDPT offset must be a multiple of 32 inside the page");
    }
    root_ += options.pae_pdpt_offset;
  }
}

unsigned PageTableBuilder::shift(int level) const {
  return mode_ == PagingMode::x86_legacy ? 12 + 10 * (level - 1) : 12 + 9 * (level - 1);
}

unsigned PageTableBuilder::index_bits(int level) const {
  if (mode_ == PagingMode::x86_legacy) return 10;
  if (mode_ == PagingMode::x86_pae && level == 3) return 2;
  return 9;
}

std::uint64_t PageTableBuilder::index(std::uint64_t va, int level) const {
  return (va >> shift(level)) & ((std::uint64_t{1} << index_bits(level)) - 1);
}

unsigned PageTableBuilder::entry_size() const {
  return mode_ == PagingMode::x86_legacy ? 4 : 8;
}

bool PageTableBuilder::present(std::uint64_t entry) const {
  return entry & 1;
}

bool PageTableBuilder::is_leaf(std::uint64_t entry, int level) const {
  if (level == 1) return true;
  if (mode_ == PagingMode::arm64_4k) return (entry & 2) == 0;
  return entry & 0x80;
}

std::uint64_t PageTableBuilder::table_address(std::uint64_t entry) const {
  switch (mode_) {
    case PagingMode::x86_legacy: return entry & 0xFFFFF000u;
    case PagingMode::arm64_4k: return entry & 0x0000FFFFFFFFF000ull;
    default: return entry & 0x000FFFFFFFFFF000ull;
  }
}

std::uint64_t PageTableBuilder::allocate_table() {
  if (pool_end_ - pool_next_ < kPageSize) misuse("table pool exhausted");
  const std::uint64_t pa = pool_next_;
  pool_next_ += kPageSize;
  image_.fill(pa, kPageSize, std::byte{0});
  return pa;
}

std::uint64_t PageTableBuilder::table_entry(std::uint64_t table_pa, int level) const {
  if (mode_ == PagingMode::arm64_4k) return table_pa | kArmTable;
  if (mode_ == PagingMode::x86_pae && level == 3) return table_pa | 1;  // PDPTE: P only
  return table_pa | kX86Flags;
}

std::uint64_t PageTableBuilder::leaf_entry(std::uint64_t pa, int level) const {
  if (mode_ == PagingMode::arm64_4k) return pa | (level == 1 ? kArmPage : kArmBlock);
  if (level == 1) return pa | kX86Flags;
  if (mode_ == PagingMode::x86_legacy) {
    // 4 MiB PDE: PA bits 22..31 in place, PA bits 32..39 in bits 13..20 (PSE-36).
    return (pa & 0xFFC00000u) | ((pa >> 32) & 0xFF) << 13 | kX86LargeFlags;
  }
  return pa | kX86LargeFlags;
}

std::uint64_t PageTableBuilder::write_entry(std::uint64_t entry_pa, std::uint64_t value) {
  if (entry_size() == 4) {
    image_.write_u32(entry_pa, static_cast<std::uint32_t>(value));
  } else {
    image_.write_u64(entry_pa, value);
  }
  return value;
}

std::uint64_t PageTableBuilder::entry_address(std::uint64_t va, int level) {
  if (level < 1 || level > levels_) misuse(fmt::format("no level {}", level));
  if (levels_ < 4 && va > 0xFFFFFFFFu) misuse(fmt::format("VA {:#x} is beyond 32 bits", va));
  std::uint64_t table = root_;
  for (int l = levels_; l > level; --l) {
    const std::uint64_t e_pa = table + index(va, l) * entry_size();
    std::uint64_t e = entry_size() == 4 ? image_.read_u32(e_pa) : image_.read_u64(e_pa);
    if (!present(e)) {
      e = write_entry(e_pa, table_entry(allocate_table(), l));
    } else if (is_leaf(e, l)) {
      misuse(fmt::format("VA {:#x} is inside a large page mapped at level {}", va, l));
    }
    table = table_address(e);
  }
  return table + index(va, level) * entry_size();
}

std::uint64_t PageTableBuilder::read_entry(std::uint64_t va, int level) {
  const std::uint64_t e_pa = entry_address(va, level);
  return entry_size() == 4 ? image_.read_u32(e_pa) : image_.read_u64(e_pa);
}

void PageTableBuilder::set_entry(std::uint64_t va, int level, std::uint64_t value) {
  write_entry(entry_address(va, level), value);
}

void PageTableBuilder::map(std::uint64_t va, std::uint64_t pa, std::uint64_t size,
                           std::uint64_t page_size) {
  int level = 0;
  for (int l = 1; l <= levels_; ++l) {
    if (page_size == std::uint64_t{1} << shift(l)) level = l;
  }
  const bool allowed =
      level == 1 || level == 2 ||
      (level == 3 && (mode_ == PagingMode::x64_4level || mode_ == PagingMode::arm64_4k));
  if (level == 0 || !allowed) {
    misuse(fmt::format("page size {:#x} does not exist in this mode", page_size));
  }
  if (va % page_size || pa % page_size || size % page_size || size == 0) {
    misuse(fmt::format("{:#x} -> {:#x} (+{:#x}) is not aligned to {:#x}", va, pa, size, page_size));
  }
  for (std::uint64_t off = 0; off < size; off += page_size) {
    const std::uint64_t e_pa = entry_address(va + off, level);
    if (level > 1) {
      const std::uint64_t old = entry_size() == 4 ? image_.read_u32(e_pa) : image_.read_u64(e_pa);
      if (present(old) && !is_leaf(old, level)) {
        misuse(fmt::format("VA {:#x} already has a table at level {}", va + off, level));
      }
    }
    write_entry(e_pa, leaf_entry(pa + off, level));
  }
}

std::uint64_t PageTableBuilder::add_self_map(unsigned index_value) {
  if (mode_ == PagingMode::x86_pae) misuse("no single-entry self-map under PAE");
  if (index_value >= (1u << index_bits(levels_))) misuse("self-map index out of range");
  write_entry(root_ + index_value * entry_size(), table_entry(root_, levels_));
  std::uint64_t base = std::uint64_t{index_value} << shift(levels_);
  if (levels_ == 4 && (base >> 47) & 1) base |= 0xFFFF000000000000ull;
  return base;
}

std::uint64_t PageTableBuilder::self_map_entry_va(unsigned index_value, std::uint64_t va,
                                                  int level) const {
  // Each trip through the self-map entry shifts the VA down by one level's index width and puts
  // the self-map index on top; the last trip lands on the entry (whose low bits select bytes).
  const unsigned top_shift = shift(levels_);
  const unsigned width = index_bits(1);
  std::uint64_t v = va & ((std::uint64_t{1} << (top_shift + index_bits(levels_))) - 1);
  for (int i = 0; i < level; ++i) {
    v = (v >> width) | (std::uint64_t{index_value} << top_shift);
  }
  v &= ~std::uint64_t{entry_size() - 1};
  if (levels_ == 4 && (v >> 47) & 1) v |= 0xFFFF000000000000ull;  // the upper half
  return v;
}

}  // namespace pagedump::test
