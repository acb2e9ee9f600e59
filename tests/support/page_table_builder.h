// Builds page tables in a MemoryImage, for tests and synthetic guests. Entries are encoded the
// way Windows writes them (x86/x64: present | writable | accessed | dirty, plus PS for large
// pages; PAE PDPTEs: present only, since their other low bits are reserved; ARM64: table
// descriptors 0b11, pages 0b11 and blocks 0b01 with the access flag set).
//
// Table pages are taken, zeroed, from a pool of physical memory that the builder declares in
// the image; the root table is the first one. The builder encodes entries with its own code
// (not the library's) so tests check the translator against an independent encoding.
//
//   MemoryImage image;
//   PageTableBuilder pt(image, PagingMode::x64_4level, /*pool*/ 0x100000, 0x40000);
//   pt.map(0xfffff80000000000, 0x5000000, 0x3000);           // three 4 KiB pages
//   pt.map(0xfffff80000200000, 0x40000000, kLargePage2M, kLargePage2M);
//   AddressSpace as(image, PagingMode::x64_4level, pt.dtb());
//
// Misuse (misaligned addresses, a page size the mode lacks, mapping under an existing large
// page, an exhausted pool) throws std::logic_error.
#pragma once

#include <cstdint>

#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"

namespace pagedump::test {

class PageTableBuilder {
 public:
  struct Options {
    // PAE: offset of the 32-byte PDPT in the root page (a multiple of 32), so tests can check
    // a PDPT that is not page-aligned, as Windows places it.
    std::uint64_t pae_pdpt_offset = 0;
  };

  PageTableBuilder(MemoryImage& image, PagingMode mode, std::uint64_t pool_base,
                   std::uint64_t pool_size, Options options);
  PageTableBuilder(MemoryImage& image, PagingMode mode, std::uint64_t pool_base,
                   std::uint64_t pool_size)
      : PageTableBuilder(image, mode, pool_base, pool_size, Options{}) {}

  PagingMode mode() const noexcept { return mode_; }
  int levels() const noexcept { return levels_; }
  // Physical address of the root table (PAE: of the PDPT), as CR3 / TTBR would hold it.
  std::uint64_t dtb() const noexcept { return root_; }

  // Maps [va, va + size) to [pa, pa + size) with pages of page_size: kPageSize, or a large
  // size of the mode (x64/ARM64: 2 MiB, 1 GiB; PAE: 2 MiB; non-PAE: 4 MiB). va, pa and size
  // must be multiples of page_size. An existing leaf is replaced.
  void map(std::uint64_t va, std::uint64_t pa, std::uint64_t size,
           std::uint64_t page_size = kPageSize);

  // Physical address of the entry at `level` that translates va, allocating the tables above
  // it. Level numbering is the library's: 1 = PTE .. levels() = top.
  std::uint64_t entry_address(std::uint64_t va, int level);
  std::uint64_t read_entry(std::uint64_t va, int level);
  // Writes a raw entry value (4 bytes without PAE, else 8), for unusual or hostile layouts.
  void set_entry(std::uint64_t va, int level, std::uint64_t value);

  // A fresh zeroed table page from the pool.
  std::uint64_t allocate_table();
  // Entry encodings: a pointer to a table, and a leaf (a large page when level > 1).
  std::uint64_t table_entry(std::uint64_t table_pa, int level) const;
  std::uint64_t leaf_entry(std::uint64_t pa, int level) const;

  // x64, ARM64, non-PAE: makes top-level entry `index` point to the root itself, as Windows'
  // page-table self-map does. Returns the first VA of the self-map region.
  std::uint64_t add_self_map(unsigned index);
  // VA at which the entry at `level` translating va appears through the self-map at `index`.
  std::uint64_t self_map_entry_va(unsigned index, std::uint64_t va, int level) const;

 private:
  unsigned shift(int level) const;
  unsigned index_bits(int level) const;
  std::uint64_t index(std::uint64_t va, int level) const;
  unsigned entry_size() const;
  bool present(std::uint64_t entry) const;
  bool is_leaf(std::uint64_t entry, int level) const;
  std::uint64_t table_address(std::uint64_t entry) const;
  std::uint64_t write_entry(std::uint64_t entry_pa, std::uint64_t value);

  MemoryImage& image_;
  PagingMode mode_;
  int levels_;
  std::uint64_t pool_next_;
  std::uint64_t pool_end_;
  std::uint64_t root_ = 0;
};

}  // namespace pagedump::test
