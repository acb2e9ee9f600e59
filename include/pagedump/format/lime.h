// LiME (Linux Memory Extractor) "lime" format: a sequence of ranges, each a 32-byte header
// followed by the range's bytes. The end address is inclusive.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kLimeMagic = 0x4C694D45;  // "EMiL" on disk
inline constexpr std::uint32_t kLimeVersion = 1;

struct LimeRangeHeader {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint64_t s_addr;  // first physical address
  std::uint64_t e_addr;  // last physical address (inclusive)
  std::uint8_t reserved[8];
};
static_assert(sizeof(LimeRangeHeader) == 32);
static_assert(offsetof(LimeRangeHeader, s_addr) == 8);
static_assert(offsetof(LimeRangeHeader, e_addr) == 16);

}  // namespace pagedump::format
