// "RDMP" kernel range dumps (DumpType 8, 9, 0xA), written by recent WinDbg .dump /k /ka /f
// (reference §9.1). The header sits at 0x2000.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kRdmpMarker = 0x40;
inline constexpr std::uint32_t kRdmpSignature = tag("RDMP");
inline constexpr std::uint32_t kRdmpValidDump = tag("DUMP");

struct RdmpHeader64 {
  std::uint32_t Marker;  // 0x40
  std::uint32_t Signature;  // "RDMP"
  std::uint32_t ValidDump;  // "DUMP"
  std::uint32_t Unused;
  std::uint64_t MetadataSize;
  std::uint64_t FirstPageOffset;
};
static_assert(sizeof(RdmpHeader64) == 0x20);
static_assert(offsetof(RdmpHeader64, MetadataSize) == 0x10);
static_assert(offsetof(RdmpHeader64, FirstPageOffset) == 0x18);

// Types 8 and 9: two unknown u64, then ranges at 0x2030 until a zero PFN.
inline constexpr std::size_t kRdmpKernelRangesOffset = 0x30;  // from the RDMP header
// Type 0xA: count and total, then ranges at 0x2030.
struct RdmpFullRangeHeader {
  std::uint32_t NumberOfRanges;  // +0x20
  std::uint16_t Unknown1;
  std::uint16_t Unknown2;
  std::uint64_t TotalNumberOfPages;  // +0x28
};
static_assert(sizeof(RdmpFullRangeHeader) == 0x10);
inline constexpr std::size_t kRdmpFullRangeHeaderOffset = 0x20;  // from the RDMP header

struct RdmpRange {
  std::uint64_t Pfn;
  std::uint64_t PageCount;
};
static_assert(sizeof(RdmpRange) == 16);

}  // namespace pagedump::format
