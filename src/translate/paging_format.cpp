#include "paging_format.h"

namespace pagedump::paging {

namespace {

// x64 and PAE entries hold physical-address bits 12..51 (MAXPHYADDR is at most 52); bit 63 is
// XD, bits 52..62 are ignored by the processor or hold protection keys. In a large-page entry,
// bit 12 is PAT and the bits between it and the page's alignment are reserved.
constexpr std::uint64_t kAddr52 = 0x000FFFFFFFFFF000ull;
constexpr std::uint64_t kAddr52Page2M = 0x000FFFFFFFE00000ull;
constexpr std::uint64_t kAddr52Page1G = 0x000FFFFFC0000000ull;

// AArch64 descriptors with a 4 KiB granule hold output-address bits 12..47 (no FEAT_LPA2).
constexpr std::uint64_t kAddr48 = 0x0000FFFFFFFFF000ull;
constexpr std::uint64_t kAddr48Block2M = 0x0000FFFFFFE00000ull;
constexpr std::uint64_t kAddr48Block1G = 0x0000FFFFC0000000ull;

constexpr std::uint64_t kPresent = 1;         // x86: P, AArch64: valid
constexpr std::uint64_t kPageSizeBit = 0x80;  // x86: PS
constexpr std::uint64_t kArmTableOrPage = 2;  // AArch64 descriptor bit 1

constexpr ModeShape kX64{4, 8, {{}, {12, 9}, {21, 9}, {30, 9}, {39, 9}}};
constexpr ModeShape kPae{3, 8, {{}, {12, 9}, {21, 9}, {30, 2}, {}}};
constexpr ModeShape kLegacy{2, 4, {{}, {12, 10}, {22, 10}, {}, {}}};
constexpr ModeShape kArm64{4, 8, {{}, {12, 9}, {21, 9}, {30, 9}, {39, 9}}};

DecodedEntry table(std::uint64_t address) {
  return {EntryKind::table, address, 0};
}
DecodedEntry leaf(std::uint64_t address, std::uint64_t size) {
  return {EntryKind::leaf, address, size};
}
constexpr DecodedEntry kInvalid{EntryKind::invalid, 0, 0};
constexpr DecodedEntry kReserved{EntryKind::reserved, 0, 0};

DecodedEntry decode_x64(int level, std::uint64_t e) {
  if (!(e & kPresent)) return kInvalid;
  switch (level) {
    case 4:
      return (e & kPageSizeBit) ? kReserved : table(e & kAddr52);  // PS is reserved in a PML4E
    case 3: return (e & kPageSizeBit) ? leaf(e & kAddr52Page1G, kHugePage1G) : table(e & kAddr52);
    case 2: return (e & kPageSizeBit) ? leaf(e & kAddr52Page2M, kLargePage2M) : table(e & kAddr52);
    default: return leaf(e & kAddr52, kPageSize);  // bit 7 of a PTE is PAT
  }
}

DecodedEntry decode_pae(int level, std::uint64_t e) {
  if (!(e & kPresent)) return kInvalid;
  switch (level) {
    case 3: return (e & kPageSizeBit) ? kReserved : table(e & kAddr52);  // PDPTE bit 7 reserved
    case 2: return (e & kPageSizeBit) ? leaf(e & kAddr52Page2M, kLargePage2M) : table(e & kAddr52);
    default: return leaf(e & kAddr52, kPageSize);
  }
}

// Without PAE (CR4.PSE assumed set, as Windows sets it): a 4 MiB PDE holds PA bits 22..31 in
// bits 22..31 and, with PSE-36, PA bits 32..39 in bits 13..20; bit 12 is PAT, bit 21 reserved.
DecodedEntry decode_legacy(int level, std::uint64_t e) {
  e &= 0xFFFFFFFFu;
  if (!(e & kPresent)) return kInvalid;
  if (level == 2) {
    if (!(e & kPageSizeBit)) return table(e & 0xFFFFF000u);
    return leaf((e & 0xFFC00000u) | ((e >> 13) & 0xFF) << 32, kLargePage4M);
  }
  return leaf(e & 0xFFFFF000u, kPageSize);
}

// AArch64, 4 KiB granule: bits 1:0 = 11 table (levels 0-2) or page (level 3), 01 block
// (levels 1-2; reserved at level 0 without FEAT_LPA2 and at level 3), x0 invalid. The access
// flag is not consulted: a page with AF clear still holds its data.
DecodedEntry decode_arm64(int level, std::uint64_t e) {
  if (!(e & kPresent)) return kInvalid;
  const bool table_or_page = e & kArmTableOrPage;
  switch (level) {
    case 4: return table_or_page ? table(e & kAddr48) : kReserved;
    case 3: return table_or_page ? table(e & kAddr48) : leaf(e & kAddr48Block1G, kHugePage1G);
    case 2: return table_or_page ? table(e & kAddr48) : leaf(e & kAddr48Block2M, kLargePage2M);
    default: return table_or_page ? leaf(e & kAddr48, kPageSize) : kReserved;
  }
}

}  // namespace

const ModeShape& shape(PagingMode mode) noexcept {
  switch (mode) {
    case PagingMode::x64_4level: return kX64;
    case PagingMode::x86_pae: return kPae;
    case PagingMode::x86_legacy: return kLegacy;
    case PagingMode::arm64_4k: return kArm64;
  }
  return kX64;
}

DecodedEntry decode_entry(PagingMode mode, int level, std::uint64_t entry) noexcept {
  switch (mode) {
    case PagingMode::x64_4level: return decode_x64(level, entry);
    case PagingMode::x86_pae: return decode_pae(level, entry);
    case PagingMode::x86_legacy: return decode_legacy(level, entry);
    case PagingMode::arm64_4k: return decode_arm64(level, entry);
  }
  return kInvalid;
}

std::uint64_t root_from_dtb(PagingMode mode, std::uint64_t dtb) noexcept {
  switch (mode) {
    case PagingMode::x64_4level: return dtb & kAddr52;   // bits 0..11: PCID or PWT/PCD
    case PagingMode::x86_pae: return dtb & 0xFFFFFFE0u;  // 32-byte aligned PDPT below 4 GiB
    case PagingMode::x86_legacy: return dtb & 0xFFFFF000u;
    case PagingMode::arm64_4k: return dtb & kAddr48;  // bit 0 CnP, bits 48..63 ASID
  }
  return 0;
}

}  // namespace pagedump::paging
