// The MSF 7.0 container of a PDB and the PDB information stream (stream 1), as far as a
// symbol-store check needs them: the superblock, and the stream's version, signature, age and
// GUID. Layout from the public LLVM documentation of the PDB format (llvm.org/docs/PDB).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pagedump::format {

// "Microsoft C/C++ MSF 7.00\r\n\x1a" "DS" followed by three NULs: 32 bytes.
inline constexpr char kMsf7Magic[32] = {'M', 'i', 'c', 'r', 'o', 's', 'o', 'f', 't', ' ', 'C',
                                        '/', 'C', '+', '+', ' ', 'M', 'S', 'F', ' ', '7', '.',
                                        '0', '0', '\r', '\n', '\x1a', 'D', 'S', 0, 0, 0};

struct MsfSuperBlock {
  char FileMagic[32];
  std::uint32_t BlockSize;          // 512, 1024, 2048 or 4096
  std::uint32_t FreeBlockMapBlock;  // 1 or 2
  std::uint32_t NumBlocks;
  std::uint32_t NumDirectoryBytes;
  std::uint32_t Unknown;
  std::uint32_t BlockMapAddr;  // block holding the directory's block list
};
static_assert(sizeof(MsfSuperBlock) == 0x38);
static_assert(offsetof(MsfSuperBlock, BlockSize) == 0x20);
static_assert(offsetof(MsfSuperBlock, NumDirectoryBytes) == 0x2C);
static_assert(offsetof(MsfSuperBlock, BlockMapAddr) == 0x34);

// The start of stream 1 (PDB info stream).
struct PdbInfoStreamHeader {
  std::uint32_t Version;    // 20000404 (VC70) on current toolsets
  std::uint32_t Signature;  // a time stamp
  std::uint32_t Age;
  std::uint8_t Guid[16];    // Data1 (LE u32), Data2 (LE u16), Data3 (LE u16), Data4[8]
};
static_assert(sizeof(PdbInfoStreamHeader) == 0x1C);
static_assert(offsetof(PdbInfoStreamHeader, Age) == 8);
static_assert(offsetof(PdbInfoStreamHeader, Guid) == 0xC);

inline constexpr std::uint32_t kPdbInfoStreamIndex = 1;
inline constexpr std::uint32_t kDbiStreamIndex = 3;

// The start of stream 3 (DBI stream header).
struct DbiStreamHeaderStart {
  std::int32_t VersionSignature;  // -1
  std::uint32_t VersionHeader;    // 19990903 (V70)
  std::uint32_t Age;              // matches the CodeView record's age
};
static_assert(sizeof(DbiStreamHeaderStart) == 0xC);
static_assert(offsetof(DbiStreamHeaderStart, Age) == 8);
// A stream size of 0xFFFFFFFF marks a deleted stream (no blocks).
inline constexpr std::uint32_t kMsfNilStreamSize = 0xFFFFFFFFu;

}  // namespace pagedump::format
