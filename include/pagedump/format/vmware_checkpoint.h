// VMware checkpoint files (.vmss suspended state, .vmsn snapshot): a header, a table of named
// groups, and in each group a list of tagged values. The "memory" group's region table maps
// the separate .vmem file onto physical addresses; the "cpu" group holds registers.
// Facts from VMware's own description in the crash utility (vmware_vmss.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kVmssMagicOld32 = 0xbed0bed0;  // 32-bit checkpoint (not read)
inline constexpr std::uint32_t kVmssMagic = 0xbed2bed2;
inline constexpr std::uint32_t kVmssMagicPartial = 0xbed3bed3;
inline constexpr std::uint32_t kVmssMagicRestored = 0xbad1bad1;
inline constexpr std::uint32_t kVmssMagicNoRestore = 0xbad2bad2;

struct VmssHeader {
  std::uint32_t id;  // one of the magics above
  std::uint32_t version;
  std::uint32_t numgroups;
};
static_assert(sizeof(VmssHeader) == 12);

struct VmssGroupDesc {
  char name[64];
  std::uint64_t position;  // file offset of the group's first tag
  std::uint64_t size;
};
static_assert(sizeof(VmssGroupDesc) == 80);
static_assert(offsetof(VmssGroupDesc, position) == 64);

// A tag is a little-endian u16: name length (bits 15..8), index count (7..6), value size
// (5..0). It is followed by the name, the indices (int32 each), then the value. Value size 63
// marks a block, 62 a compressed block: u64 size on disk, u64 size in memory, u16 padding
// length, the padding, then the data. A tag of 0 ends the group.
constexpr unsigned vmss_tag_name_length(std::uint16_t t) { return (t >> 8) & 0xff; }
constexpr unsigned vmss_tag_index_count(std::uint16_t t) { return (t >> 6) & 0x3; }
constexpr unsigned vmss_tag_value_size(std::uint16_t t) { return t & 0x3f; }
inline constexpr unsigned kVmssValueBlock = 63;
inline constexpr unsigned kVmssValueBlockCompressed = 62;
constexpr std::uint16_t vmss_make_tag(unsigned name_len, unsigned indices, unsigned value_size) {
  return static_cast<std::uint16_t>((name_len & 0xff) << 8 | (indices & 3) << 6 | (value_size & 0x3f));
}

}  // namespace pagedump::format
