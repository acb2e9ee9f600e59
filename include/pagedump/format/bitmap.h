// The bitmap dump header ("SDMP"/"FDMP", DumpType 5 and 6) and the legacy summary header
// (DumpType 2). Both sit right after the main header (reference §4).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kSummaryDumpSignature = tag("SDMP");  // kernel bitmap (6)
inline constexpr std::uint32_t kFullDumpSignature = tag("FDMP");     // full bitmap (5)
inline constexpr std::uint32_t kBitmapValidDump = tag("DUMP");

// DumpOptions bits (SING; uncertain that they are the DumpOptions bits).
inline constexpr std::uint32_t kDumpSummaryValidKernelVa = 1;
inline constexpr std::uint32_t kDumpSummaryValidCurrentUserVa = 2;

struct BitmapDumpHeader {
  std::uint32_t Signature;  // "SDMP" or "FDMP"
  std::uint32_t ValidDump;  // "DUMP"
  std::uint32_t DumpOptions;
  std::uint8_t Unknown[20];
  std::uint64_t FirstPage;     // absolute file offset of the first stored page
  std::uint64_t PresentPages;  // number of set bits = pages stored
  std::uint64_t BitmapBits;    // bits in the bitmap: PFNs 0 .. BitmapBits-1
  // std::uint8_t Bits[ceil(BitmapBits / 8)] follows, LSB first
};
static_assert(sizeof(BitmapDumpHeader) == 0x38);
static_assert(offsetof(BitmapDumpHeader, DumpOptions) == 0x08);
static_assert(offsetof(BitmapDumpHeader, FirstPage) == 0x20);
static_assert(offsetof(BitmapDumpHeader, PresentPages) == 0x28);
static_assert(offsetof(BitmapDumpHeader, BitmapBits) == 0x30);
inline constexpr std::size_t kBitmapBitsOffset = 0x38;

// SUMMARY_DUMP64 (legacy, DumpType 2), at 0x2000.
struct SummaryDump64 {
  std::uint32_t Signature;  // "SDMP"
  std::uint32_t ValidDump;  // "DUMP"
  std::uint32_t DumpOptions;
  std::uint32_t HeaderSize;  // file offset of the first page
  std::uint32_t BitmapSize;  // bits
  std::uint32_t Pages;       // set bits
  std::uint32_t SizeOfBitMap;
  std::uint32_t Pad;
  std::uint64_t BufferPlaceholder;
  // Bits follow at 0x28
};
static_assert(sizeof(SummaryDump64) == 0x28);
static_assert(offsetof(SummaryDump64, HeaderSize) == 0x0C);
static_assert(offsetof(SummaryDump64, BitmapSize) == 0x10);
static_assert(offsetof(SummaryDump64, Pages) == 0x14);
static_assert(offsetof(SummaryDump64, SizeOfBitMap) == 0x18);
static_assert(offsetof(SummaryDump64, BufferPlaceholder) == 0x20);

// SUMMARY_DUMP32 (legacy, DumpType 2), at 0x1000.
struct SummaryDump32 {
  std::uint32_t Signature;
  std::uint32_t ValidDump;
  std::uint32_t DumpOptions;
  std::uint32_t HeaderSize;
  std::uint32_t BitmapSize;
  std::uint32_t Pages;
  std::uint32_t SizeOfBitMap;
  std::uint32_t BufferPlaceholder;
  // Bits follow at 0x20
};
static_assert(sizeof(SummaryDump32) == 0x20);
static_assert(offsetof(SummaryDump32, SizeOfBitMap) == 0x18);
static_assert(offsetof(SummaryDump32, BufferPlaceholder) == 0x1C);

}  // namespace pagedump::format
