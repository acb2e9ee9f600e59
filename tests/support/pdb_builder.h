// A minimal MSF 7.0 PDB built by code: superblock, free block map, block map, stream
// directory, stream 1 (PDB info header) and stream 3 (DBI header start), 512-byte blocks.
// Used by the symbol tests and as a fuzz seed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pagedump::test {

// The file's blocks: 0 superblock, 1 free block map, 2 block map, 3 directory, 4 stream 1,
// 5 stream 3.
inline constexpr std::uint32_t kPdbBuilderBlockSize = 512;
inline constexpr std::uint32_t kPdbBuilderDirectoryBlock = 3;

std::vector<std::byte> make_pdb(const std::array<std::uint8_t, 16>& guid, std::uint32_t info_age,
                                std::uint32_t dbi_age);

}  // namespace pagedump::test
