#include "support/pdb_builder.h"

#include <cstring>

#include "pagedump/format/pdb.h"

namespace pagedump::test {

std::vector<std::byte> make_pdb(const std::array<std::uint8_t, 16>& guid, std::uint32_t info_age,
                                std::uint32_t dbi_age) {
  constexpr std::uint32_t bs = kPdbBuilderBlockSize;
  std::vector<std::byte> f(6 * bs);
  format::MsfSuperBlock sb{};
  std::memcpy(sb.FileMagic, format::kMsf7Magic, sizeof sb.FileMagic);
  sb.BlockSize = bs;
  sb.FreeBlockMapBlock = 1;
  sb.NumBlocks = 6;
  sb.NumDirectoryBytes = 4 + 4 * 4 + 2 * 4;
  sb.BlockMapAddr = 2;
  std::memcpy(f.data(), &sb, sizeof sb);
  const std::uint32_t block_map[] = {kPdbBuilderDirectoryBlock};
  std::memcpy(f.data() + 2 * bs, block_map, sizeof block_map);
  // 4 streams: sizes (0, info header, 0, DBI header start), then the blocks of 1 and 3.
  const std::uint32_t dir[] = {
      4, 0, sizeof(format::PdbInfoStreamHeader), 0, sizeof(format::DbiStreamHeaderStart), 4, 5};
  std::memcpy(f.data() + kPdbBuilderDirectoryBlock * bs, dir, sizeof dir);
  format::PdbInfoStreamHeader info{20000404, 0x5F000000, info_age, {}};
  std::memcpy(info.Guid, guid.data(), 16);
  std::memcpy(f.data() + 4 * bs, &info, sizeof info);
  format::DbiStreamHeaderStart dbi{-1, 19990903, dbi_age};
  std::memcpy(f.data() + 5 * bs, &dbi, sizeof dbi);
  return f;
}

}  // namespace pagedump::test
