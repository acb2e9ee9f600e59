#include "pagedump/translate/address_space.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "paging_format.h"

namespace pagedump {

std::string_view to_string(PagingMode mode) noexcept {
  switch (mode) {
    case PagingMode::x64_4level: return "x64 4-level";
    case PagingMode::x86_pae: return "x86 PAE";
    case PagingMode::x86_legacy: return "x86 non-PAE";
    case PagingMode::arm64_4k: return "ARM64 4 KiB granule";
  }
  return "unknown paging mode";
}

int paging_levels(PagingMode mode) noexcept {
  return paging::shape(mode).levels;
}

std::string_view entry_name(PagingMode mode, int level) noexcept {
  if (mode == PagingMode::arm64_4k) {
    switch (level) {
      case 4: return "level 0 descriptor";
      case 3: return "level 1 descriptor";
      case 2: return "level 2 descriptor";
      case 1: return "level 3 descriptor";
      default: return "descriptor";
    }
  }
  switch (level) {
    case 4: return "PML4E";
    case 3: return "PDPTE";
    case 2: return "PDE";
    case 1: return "PTE";
    default: return "entry";
  }
}

static std::string size_name(std::uint64_t size) {
  switch (size) {
    case kPageSize: return "4 KiB";
    case kLargePage2M: return "2 MiB";
    case kLargePage4M: return "4 MiB";
    case kHugePage1G: return "1 GiB";
  }
  return fmt::format("{:#x}-byte", size);
}

std::string describe(const Translation& t, PagingMode mode) {
  const std::string_view name = entry_name(mode, t.level);
  switch (t.fault) {
    case TranslationFault::none:
      if (t.ok()) {
        return fmt::format("VA {:#x} -> PA {:#x} ({} page, {} {:#x} at PA {:#x})", t.va, t.pa,
                           size_name(t.page_size), name, t.entry, t.entry_pa);
      }
      break;
    case TranslationFault::outside_address_space:
      switch (mode) {
        case PagingMode::x64_4level:
          return fmt::format("VA {:#x} is not canonical (bits 63..47 differ)", t.va);
        case PagingMode::arm64_4k:
          return fmt::format("VA {:#x} is outside both 48-bit halves (bits 63..48 differ)", t.va);
        default: return fmt::format("VA {:#x} is beyond the 32-bit address space", t.va);
      }
    case TranslationFault::entry_not_valid:
      return fmt::format("{} at PA {:#x} for VA {:#x} is not {} ({:#x})", name, t.entry_pa, t.va,
                         mode == PagingMode::arm64_4k ? "valid" : "present", t.entry);
    case TranslationFault::reserved_encoding:
      return fmt::format(
          "{} at PA {:#x} for VA {:#x} uses an encoding reserved at this level "
          "({}) ({:#x})",
          name, t.entry_pa, t.va,
          mode == PagingMode::arm64_4k ? "block or reserved descriptor type" : "page-size bit set",
          t.entry);
    case TranslationFault::table_unreadable:
      return fmt::format("{} for VA {:#x} is at PA {:#x}, which cannot be read: {}", name, t.va,
                         t.entry_pa,
                         describe(ReadResult{t.status, t.entry_pa, t.file_offset}, "physical"));
  }
  return fmt::format("VA {:#x}: translation failed", t.va);
}

AddressSpace::AddressSpace(const PhysicalMemory& memory, PagingMode mode, std::uint64_t dtb)
    : memory_(&memory), mode_(mode), dtb_(dtb), root_(paging::root_from_dtb(mode, dtb)) {}

bool AddressSpace::in_address_space(std::uint64_t va) const noexcept {
  switch (mode_) {
    case PagingMode::x64_4level: {
      const std::uint64_t top = va >> 47;
      return top == 0 || top == 0x1FFFF;
    }
    case PagingMode::arm64_4k: {
      // One root serves TTBR0 and TTBR1 (as Windows sets them up), so both halves index the
      // top table with bits 47..39 and 0x0000'8000'0000'0000 aliases 0xFFFF'8000'0000'0000.
      const std::uint64_t top = va >> 48;
      return top == 0 || top == 0xFFFF;
    }
    case PagingMode::x86_pae:
    case PagingMode::x86_legacy: return va <= 0xFFFFFFFFu;
  }
  return false;
}

// Page-table pages read by walks, whole: random reads through a dump then cost one read of the
// data page, not one more per level. 32 pages (128 KiB) hold the upper levels and the page-table
// pages of a working set of 64 MiB of 4 KiB mappings. Eight sets of four, chosen by the page
// number, so a level's look-up compares four addresses, not 32.
class AddressSpace::TablePages {
 public:
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kSets = 8;
  TablePages() : bytes_(std::make_unique_for_overwrite<std::byte[]>(kSets * kWays * kPageSize)) {
    clear();
  }

  // The bytes of the page at page_pa, read from memory unless cached; nullptr when the whole
  // page cannot be read (the caller then reads the one entry and reports its failure).
  const std::byte* page(const PhysicalMemory& memory, std::uint64_t page_pa) {
    const std::size_t set = (page_pa / kPageSize) % kSets;
    std::uint64_t* const tags = pa_.data() + set * kWays;
    for (std::size_t w = 0; w < kWays; ++w) {
      if (tags[w] == page_pa) return bytes_.get() + (set * kWays + w) * kPageSize;
    }
    const std::size_t w = next_[set];
    std::byte* slot = bytes_.get() + (set * kWays + w) * kPageSize;
    tags[w] = kEmpty;
    if (!memory.read_physical(page_pa, std::span(slot, kPageSize))) return nullptr;
    tags[w] = page_pa;
    next_[set] = static_cast<std::uint8_t>((w + 1) % kWays);
    return slot;
  }
  void clear() noexcept {
    pa_.fill(kEmpty);
    next_.fill(0);
  }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t(0);
  std::unique_ptr<std::byte[]> bytes_;
  std::array<std::uint64_t, kSets * kWays> pa_{};
  std::array<std::uint8_t, kSets> next_{};
};

AddressSpace::~AddressSpace() = default;

AddressSpace::AddressSpace(const AddressSpace& other)
    : memory_(other.memory_), mode_(other.mode_), dtb_(other.dtb_), root_(other.root_) {}

AddressSpace& AddressSpace::operator=(const AddressSpace& other) {
  if (this != &other) {
    memory_ = other.memory_;
    mode_ = other.mode_;
    dtb_ = other.dtb_;
    root_ = other.root_;
    clear_cache();
    walks_ = 0;
  }
  return *this;
}

ReadResult AddressSpace::read_entry(std::uint64_t entry_pa, std::span<std::byte> out) const {
  if (!tables_) tables_ = std::make_unique<TablePages>();
  const std::uint64_t page_pa = entry_pa & ~(kPageSize - 1);
  if (const std::byte* page = tables_->page(*memory_, page_pa)) {
    std::memcpy(out.data(), page + (entry_pa - page_pa), out.size());
    return {};
  }
  return memory_->read_physical(entry_pa, out);
}

Translation AddressSpace::walk(std::uint64_t va) const {
  Translation t;
  t.va = va;
  if (!in_address_space(va)) {
    t.status = ReadStatus::not_mapped;
    t.fault = TranslationFault::outside_address_space;
    return t;
  }
  const paging::ModeShape& s = paging::shape(mode_);
  std::uint64_t table = root_;
  int level = s.levels;
  const std::uint64_t leaf_key = va / paging::entry_span(s, 2);
  LeafTable& hint = leaf_tables_[leaf_key % kLeafTableSlots];
  if (hint.key == leaf_key) {
    table = hint.table;
    level = 1;
  }
  for (; level >= 1; --level) {
    t.level = level;
    t.entry = 0;
    t.entry_pa = table + paging::entry_index(s, level, va) * s.entry_size;
    std::array<std::byte, 8> raw{};
    const ReadResult r = read_entry(t.entry_pa, std::span(raw).first(s.entry_size));
    if (!r) {
      t.status = r.status;
      t.fault = TranslationFault::table_unreadable;
      t.file_offset = r.file_offset;
      return t;
    }
    std::memcpy(&t.entry, raw.data(), sizeof t.entry);  // little-endian; 4-byte entries zero-extend
    const paging::DecodedEntry d = paging::decode_entry(mode_, level, t.entry);
    switch (d.kind) {
      case paging::EntryKind::invalid:
        t.status = ReadStatus::not_mapped;
        t.fault = TranslationFault::entry_not_valid;
        return t;
      case paging::EntryKind::reserved:
        t.status = ReadStatus::not_mapped;
        t.fault = TranslationFault::reserved_encoding;
        return t;
      case paging::EntryKind::leaf:
        t.status = ReadStatus::ok;
        t.page_size = d.size;
        t.pa = d.address + (va & (d.size - 1));
        return t;
      case paging::EntryKind::table:
        table = d.address;
        if (level == 2) hint = {leaf_key, table};
        break;
    }
  }
  // Level 1 entries are never tables, so the loop always returns.
  t.status = ReadStatus::not_mapped;
  t.fault = TranslationFault::reserved_encoding;
  return t;
}

Translation AddressSpace::translate(std::uint64_t va) const {
  CacheEntry& small = small_[(va / kPageSize) % kSmallSlots];
  CacheEntry& large = large_[(va >> kLargeSlotShift) % kLargeSlots];
  for (const CacheEntry* c : {&small, &large}) {
    if (c->size != 0 && va - c->va < c->size) {
      Translation t;
      t.status = ReadStatus::ok;
      t.va = va;
      t.pa = c->pa + (va - c->va);
      t.page_size = c->size;
      t.level = c->level;
      t.entry = c->entry;
      t.entry_pa = c->entry_pa;
      return t;
    }
  }
  ++walks_;
  Translation t = walk(va);
  if (t.ok()) {
    const std::uint64_t offset = va & (t.page_size - 1);
    (t.page_size == kPageSize ? small : large) =
        {va - offset, t.page_size, t.pa - offset, t.level, t.entry, t.entry_pa};
  }
  return t;
}

AddressSpace::VaRange AddressSpace::failing_range(const Translation& t) const noexcept {
  if (t.ok() || t.level == 0 || t.fault == TranslationFault::outside_address_space) {
    return {t.va, t.va};
  }
  // The entry at t.level (its read failed, or it is not valid or reserved) is the same for
  // every VA of its span.
  const std::uint64_t span = paging::entry_span(paging::shape(mode_), t.level);
  const std::uint64_t first = t.va & ~(span - 1);
  return {first, first + (span - 1)};
}

void AddressSpace::clear_cache() const noexcept {
  for (CacheEntry& c : small_) c = CacheEntry{};
  for (CacheEntry& c : large_) c = CacheEntry{};
  for (LeafTable& l : leaf_tables_) l = LeafTable{};
  if (tables_) tables_->clear();
}

ReadResult AddressSpace::read_virtual(std::uint64_t va, std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t cur = va + done;  // wraps like the processor's linear address would
    const Translation t = translate(cur);
    if (!t) return ReadResult{t.status, cur, t.file_offset};
    const std::uint64_t left_in_page = t.page_size - (cur & (t.page_size - 1));
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(left_in_page, out.size() - done));
    const ReadResult r = memory_->read_physical(t.pa, out.subspan(done, chunk));
    if (!r) {
      // Map the failing PA back to its VA; a source that names an address outside the request
      // gets the start of the chunk.
      const std::uint64_t into = r.address - t.pa;
      return ReadResult{r.status, cur + (into < chunk ? into : 0), r.file_offset};
    }
    done += chunk;
  }
  return ReadResult{};
}

}  // namespace pagedump
