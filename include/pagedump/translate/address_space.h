// Virtual-to-physical address translation: a page-table walk over PhysicalMemory for the
// paging modes Windows uses (x64 4-level, x86 PAE, x86 without PAE, ARM64 4 KiB granule).
//
// What counts as a translation: only entries the processor itself would follow. On Windows an
// invalid PTE may still describe where the data is (a "transition" PTE whose page sits on the
// standby or modified list, a prototype PTE, a page-file PTE); none of those are translations
// here, because only the present/valid bit counts. A caller that wants to chase transition pages
// must do so explicitly with the entry value a failed Translation reports.
//
// Levels are numbered from the leaf: 1 holds the entries that map 4 KiB pages (PTEs), 2 the
// page-directory entries, 3 the PDPTEs, 4 the PML4Es. The top level is 4 on x64 and ARM64, 3
// under PAE and 2 without PAE. ARM64 lookup level n (0..3) is our level 4 - n.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pagedump/physical_memory.h"
#include "pagedump/virtual_memory.h"

namespace pagedump {

enum class PagingMode {
  x64_4level,  // IA-32e 4-level paging, 48-bit canonical VAs, 4 KiB / 2 MiB / 1 GiB pages
  x86_pae,     // 32-bit PAE: 4-entry PDPT, 4 KiB / 2 MiB pages, PAs beyond 4 GiB
  x86_legacy,  // 32-bit without PAE, CR4.PSE set: 4 KiB / 4 MiB pages (PSE-36 for PAs >= 4 GiB)
  arm64_4k,    // AArch64 stage 1, 4 KiB granule, 48-bit VAs, 4 KiB / 2 MiB / 1 GiB pages.
               // A Windows ARM64 dump gives one root, which Windows uses for TTBR0 and TTBR1
               // alike: both halves (bits 63..48 all 0 or all 1) index it with VA bits 47..39,
               // so 0x0000'8xxx'xxxx'xxxx and 0xFFFF'8xxx'xxxx'xxxx alias. FEAT_LPA2
               // (52-bit output addresses) is not handled: output addresses are bits 47..12.
};

std::string_view to_string(PagingMode mode) noexcept;

// Number of table levels of a mode (4, 3 or 2); the top level has this number.
int paging_levels(PagingMode mode) noexcept;

// Name of an entry at a level, for messages: "PML4E", "PDPTE", "PDE", "PTE"; on ARM64
// "level 0 descriptor" .. "level 3 descriptor".
std::string_view entry_name(PagingMode mode, int level) noexcept;

inline constexpr std::uint64_t kLargePage2M = 0x200000;
inline constexpr std::uint64_t kLargePage4M = 0x400000;
inline constexpr std::uint64_t kHugePage1G = 0x40000000;

// Why a translation failed, beyond the ReadStatus.
enum class TranslationFault {
  none,
  outside_address_space,  // non-canonical (x64, ARM64) or above 4 GiB (x86); no entry was read
  entry_not_valid,        // the entry's present/valid bit is clear
  reserved_encoding,      // a large-page bit or block descriptor where the mode allows none
  table_unreadable,       // the table page holding the entry is not in the image (or short)
};

struct Translation {
  // ok; not_mapped (outside_address_space, entry_not_valid, reserved_encoding); or, for
  // table_unreadable, the status of the failed physical read (not_present, truncated, io_error).
  ReadStatus status = ReadStatus::not_mapped;
  TranslationFault fault = TranslationFault::none;
  std::uint64_t va = 0;
  std::uint64_t pa = 0;         // ok: physical address of va
  std::uint64_t page_size = 0;  // ok: size of the page that maps va (4 KiB, 2 MiB, 4 MiB, 1 GiB)
  int level = 0;                // level of the last entry looked at (0: none was)
  std::uint64_t entry = 0;      // value of that entry (ok: the leaf entry); 0 if it was unreadable
  std::uint64_t entry_pa = 0;   // physical address of that entry
  std::uint64_t file_offset = 0;  // table_unreadable: as reported by the physical read

  bool ok() const noexcept { return status == ReadStatus::ok; }
  explicit operator bool() const noexcept { return ok(); }
};

// One-line explanation: "PDE at PA 0x1234 for VA 0xfffff80000000000 is not present (0x0)",
// or for success "VA 0x... -> PA 0x... (2 MiB page, PDE 0x... at PA 0x...)".
std::string describe(const Translation& t, PagingMode mode);

// A valid leaf entry found by AddressSpace::for_each_mapping.
struct Mapping {
  std::uint64_t va = 0;    // first VA of the page (aligned to size)
  std::uint64_t pa = 0;    // first PA of the page
  std::uint64_t size = 0;  // 4 KiB, 2 MiB, 4 MiB or 1 GiB
  int level = 0;
  std::uint64_t entry = 0;
  friend bool operator==(const Mapping&, const Mapping&) = default;
};

// A page-table page that for_each_mapping read (or tried to) on its way.
struct TablePage {
  std::uint64_t pa = 0;    // the table (PAE top level: the 32-byte PDPT, not page-aligned)
  std::uint64_t size = 0;  // bytes of the table: 4096, or 32 for the PAE PDPT
  int level = 0;           // level of the entries it holds
  std::uint64_t va = 0;    // first VA its entries translate, on the path that reached it
  // Not ok: it could not be read and its VAs were skipped. Unreadable tables are not
  // remembered, so one is reported again for each entry that leads to it.
  ReadStatus status = ReadStatus::ok;
  friend bool operator==(const TablePage&, const TablePage&) = default;
};

// Callbacks return true to go on, false to stop the walk.
using MappingCallback = std::function<bool(const Mapping&)>;
using TableCallback = std::function<bool(const TablePage&)>;

struct WalkSummary {
  std::uint64_t mappings = 0;           // leaf mappings reported
  std::uint64_t tables = 0;             // table pages read (reported with status ok)
  std::uint64_t unreadable_tables = 0;  // table pages reported with a failed status
  std::uint64_t repeated_tables = 0;    // entries not followed: their table was already entered
                                        // at that level during this walk
  bool stopped = false;                 // a callback returned false
};

// A virtual address space: page tables rooted at a directory table base.
//
// Thread safety: translate() and read_virtual() keep small caches of recent leaf translations,
// of the last-level table of recent 2 MiB spans and of recently read page-table pages (so
// walks that share upper levels, or a page-table page, read it once) in mutable members, so
// one AddressSpace must not be used by two threads at once (const or not). Copies are
// independent; give each thread its own. The PhysicalMemory must outlive the AddressSpace
// and is only read. If the memory under the page tables changes (a test editing its image),
// call clear_cache().
class AddressSpace : public VirtualMemory {
 public:
  // dtb: CR3 / TTBR as found in a dump header or CPU state. Bits that are not the table
  // address are dropped: x64 the PCID (bits 0..11) and bits 52..63; PAE bits 0..4 and 32..63
  // (the PDPT is 32-byte aligned below 4 GiB); non-PAE bits 0..11 and 32..63; ARM64 the CnP
  // bit, bits 1..11 and the ASID (bits 48..63).
  AddressSpace(const PhysicalMemory& memory, PagingMode mode, std::uint64_t dtb);
  ~AddressSpace() override;
  // A copy starts with empty caches: copies are independent.
  AddressSpace(const AddressSpace& other);
  AddressSpace& operator=(const AddressSpace& other);

  PagingMode mode() const noexcept { return mode_; }
  std::uint64_t dtb() const noexcept { return dtb_; }          // as given
  std::uint64_t root_table() const noexcept { return root_; }  // masked physical address
  const PhysicalMemory& physical() const noexcept { return *memory_; }

  // True when va can be translated at all in this mode (canonical on x64 and ARM64: bits
  // 63..47, resp. 63..48, all equal; below 4 GiB on x86).
  bool in_address_space(std::uint64_t va) const noexcept;

  Translation translate(std::uint64_t va) const;

  // For a failed translation, the VAs [first, last] around t.va that fail the same way: all
  // go through the entry that was not valid, reserved or unreadable (its whole span). For
  // outside_address_space, or a successful translation, only t.va. Lets a scan step over
  // what is not mapped instead of probing each address of it.
  struct VaRange {
    std::uint64_t first = 0, last = 0;
  };
  VaRange failing_range(const Translation& t) const noexcept;

  // Reads through translate(), page by page. On failure the result names the first VA that
  // could not be read: not_mapped (no translation), or the status of the physical read of a
  // table or of the data (not_present, truncated, io_error), with its file offset.
  ReadResult read_virtual(std::uint64_t va, std::span<std::byte> out) const override;

  // Visits, in ascending VA order, every valid leaf mapping whose pages intersect
  // [first_va, last_va] (inclusive, so the top of the address space can be named), and every
  // table page read on the way (on_table may be empty). The whole leaf is reported even if it
  // only partly intersects the range.
  //
  // Bounding policy: a table page is entered at most once per level in one call; an entry that
  // leads to a table page already entered at that level is counted in repeated_tables and not
  // followed. A page table that is a tree plus self-map entries (Windows' PML4 self-reference)
  // is reported completely, self-map VAs included, because there each (page, level) pair has
  // one path. For tables that alias (several entries leading to the same table at one level,
  // or cycles), only the first path in VA order is reported: every table page and every leaf
  // page is still reported at least once, which is what a dump writer needs, but aliased VAs
  // are not. (With a clipped range, a table first met through a path that only partly
  // intersects the range is not re-entered for the rest.) Work is thus at most levels x 512
  // entries per distinct table page read; memory is a set of (page, level) bits, in words of
  // 64 pages that exist only once a table page in them was read, held during the call only:
  // it follows the number of table pages read, never the size the image claims.
  // Under ARM64, where one root serves both halves, each half is a separate walk.
  WalkSummary for_each_mapping(std::uint64_t first_va, std::uint64_t last_va,
                               const MappingCallback& on_mapping,
                               const TableCallback& on_table = {}) const;

  void clear_cache() const noexcept;

  // Translations that walked the page tables (not served by the translation cache) since this
  // object was made or copied; for tests and benchmarks of the cache.
  std::uint64_t walks() const noexcept { return walks_; }

 private:
  struct CacheEntry {
    std::uint64_t va = 0;    // page-aligned base of the leaf
    std::uint64_t size = 0;  // 0: empty slot
    std::uint64_t pa = 0;
    int level = 0;
    std::uint64_t entry = 0;
    std::uint64_t entry_pa = 0;
  };
  // Recent translations, as a TLB: 4 KiB leaves by VA page, larger ones by 2 MiB of VA, so a
  // look-up checks two slots. Windows maps the kernel image, the HAL, the PFN database and
  // nonpaged pool with large pages where it can, so scattered reads of kernel structures go
  // through dozens of 2 MiB pages: 64 large slots (3 KiB) cover 128 MiB of them. With 8, random
  // reads of the benchmark's kernel dump walked on 28 % of reads, with 64 on 1.5 %
  // (docs/performance.md).
  static constexpr std::size_t kSmallSlots = 32;
  static constexpr std::size_t kLargeSlots = 64;
  static constexpr unsigned kLargeSlotShift = 21;  // large leaves are slotted by 2 MiB of VA
  // The last-level table serving a span of one level-2 entry (2 or 4 MiB of VA), as a CPU's
  // paging-structure cache keeps it: a walk that hits starts at level 1.
  struct LeafTable {
    std::uint64_t key = ~std::uint64_t(0);  // va / span of a level-2 entry
    std::uint64_t table = 0;                // physical address of the level-1 table
  };
  static constexpr std::size_t kLeafTableSlots = 16;
  class TablePages;

  Translation walk(std::uint64_t va) const;
  ReadResult read_entry(std::uint64_t entry_pa, std::span<std::byte> out) const;

  const PhysicalMemory* memory_;
  PagingMode mode_;
  std::uint64_t dtb_;
  std::uint64_t root_;
  mutable CacheEntry small_[kSmallSlots]{};
  mutable CacheEntry large_[kLargeSlots]{};
  mutable LeafTable leaf_tables_[kLeafTableSlots]{};
  mutable std::unique_ptr<TablePages> tables_;  // recently read table pages, made on first walk
  mutable std::uint64_t walks_ = 0;
};

}  // namespace pagedump
