#include "pagedump/symbols/pdb_file.h"

#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/pdb.h"
#include "pagedump/io/input_file.h"

namespace pagedump::symbols {
namespace {

// Reads bytes of the stream directory, which is scattered over the blocks listed at
// BlockMapAddr.
class MsfReader {
 public:
  MsfReader(const InputFile& file, const format::MsfSuperBlock& sb) : file_(file), sb_(sb) {}

  void fail(const std::string& what) const {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: not a usable PDB: {}", file_.path(), what));
  }

  std::uint64_t block_offset(std::uint32_t block, const char* what) const {
    if (block >= sb_.NumBlocks) {
      fail(fmt::format("{} names block {} but the file has {} blocks", what, block, sb_.NumBlocks));
    }
    const std::uint64_t off = std::uint64_t{block} * sb_.BlockSize;
    if (off + sb_.BlockSize > file_.size() + sb_.BlockSize) {
      fail(fmt::format("{} block {} (offset {:#x}) is past the end of the file ({:#x} bytes)", what,
                       block, off, file_.size()));
    }
    return off;
  }

  // A 32-bit value at `pos` of a stream whose blocks are listed by `block_of`.
  template <class BlockOf>
  std::uint32_t u32_at(std::uint64_t pos, BlockOf block_of, const char* what) const {
    std::uint32_t v = 0;
    auto* p = reinterpret_cast<std::byte*>(&v);
    for (std::size_t i = 0; i < 4; ++i) {  // a value may straddle two blocks
      const std::uint64_t at = pos + i;
      const std::uint64_t off = block_offset(block_of(at / sb_.BlockSize), what) + at % sb_.BlockSize;
      file_.read_exact(off, std::span(p + i, 1), what);
    }
    return v;
  }

  std::uint32_t directory_u32(std::uint64_t pos) const {
    if (pos + 4 > sb_.NumDirectoryBytes) {
      fail(fmt::format("the stream directory ({} bytes) ends before byte {:#x}", sb_.NumDirectoryBytes,
                       pos + 4));
    }
    return u32_at(pos, [this](std::uint64_t n) { return directory_block(n); }, "stream directory");
  }

 private:
  std::uint32_t directory_block(std::uint64_t n) const {
    const std::uint64_t off = block_offset(sb_.BlockMapAddr, "BlockMapAddr") + n * 4;
    if (n * 4 + 4 > sb_.BlockSize) fail("the stream directory's block list does not fit one block");
    return file_.read_struct<std::uint32_t>(off, "stream directory block list");
  }

  const InputFile& file_;
  const format::MsfSuperBlock& sb_;
};

std::string guid_text(const std::uint8_t* g) {
  std::uint32_t d1;
  std::uint16_t d2, d3;
  std::memcpy(&d1, g, 4);
  std::memcpy(&d2, g + 4, 2);
  std::memcpy(&d3, g + 6, 2);
  std::string s = fmt::format("{:08X}{:04X}{:04X}", d1, d2, d3);
  for (int i = 8; i < 16; ++i) s += fmt::format("{:02X}", g[i]);
  return s;
}

}  // namespace

std::string PdbIdentityInfo::key() const { return fmt::format("{}{:X}", guid, age); }

PdbIdentityInfo read_pdb_identity(const std::string& path) {
  InputFile file(path);
  if (file.size() < sizeof(format::MsfSuperBlock)) {
    throw Error(ErrorKind::not_a_dump,
                fmt::format("{}: not a PDB: {} bytes, shorter than the MSF superblock", path,
                            file.size()));
  }
  const auto sb = file.read_struct<format::MsfSuperBlock>(0, "MSF superblock");
  if (std::memcmp(sb.FileMagic, format::kMsf7Magic, sizeof sb.FileMagic) != 0) {
    throw Error(ErrorKind::not_a_dump,
                fmt::format("{}: not an MSF 7.0 PDB: offset 0 does not hold "
                            "\"Microsoft C/C++ MSF 7.00\\r\\n\\x1aDS\"",
                            path));
  }
  MsfReader msf(file, sb);
  if (sb.BlockSize != 512 && sb.BlockSize != 1024 && sb.BlockSize != 2048 && sb.BlockSize != 4096) {
    msf.fail(fmt::format("BlockSize at offset 0x20 is {:#x}, expected 512, 1024, 2048 or 4096",
                         sb.BlockSize));
  }
  if (std::uint64_t{sb.NumBlocks} * sb.BlockSize > file.size() + sb.BlockSize) {
    msf.fail(fmt::format("NumBlocks ({}) x BlockSize ({}) exceeds the file size {:#x}", sb.NumBlocks,
                         sb.BlockSize, file.size()));
  }
  const std::uint32_t streams = msf.directory_u32(0);
  if (streams <= format::kPdbInfoStreamIndex) {
    msf.fail(fmt::format("the directory lists {} streams, no PDB info stream (stream 1)", streams));
  }
  if (std::uint64_t{streams} * 4 + 4 > sb.NumDirectoryBytes) {
    msf.fail(fmt::format("the directory lists {} streams but has {} bytes", streams,
                         sb.NumDirectoryBytes));
  }
  auto blocks_of = [&](std::uint32_t size) -> std::uint64_t {
    return size == format::kMsfNilStreamSize ? 0 : (std::uint64_t{size} + sb.BlockSize - 1) / sb.BlockSize;
  };
  auto stream_size = [&](std::uint32_t k) { return msf.directory_u32(4 + std::uint64_t{k} * 4); };
  // Block lists follow the sizes, stream after stream.
  auto read_stream_start = [&](std::uint32_t k, std::span<std::uint8_t> out, const char* what) {
    std::uint64_t list = 4 + std::uint64_t{streams} * 4;
    for (std::uint32_t j = 0; j < k; ++j) list += blocks_of(stream_size(j)) * 4;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::uint32_t block = msf.directory_u32(list + (i / sb.BlockSize) * 4);
      const std::uint64_t off = msf.block_offset(block, what) + i % sb.BlockSize;
      file.read_exact(off, std::as_writable_bytes(out.subspan(i, 1)), what);
    }
  };
  const std::uint32_t size1 = stream_size(format::kPdbInfoStreamIndex);
  if (size1 == format::kMsfNilStreamSize || size1 < sizeof(format::PdbInfoStreamHeader)) {
    msf.fail(fmt::format("stream 1 holds {:#x} bytes, fewer than the 28-byte PDB info header", size1));
  }
  format::PdbInfoStreamHeader info{};
  read_stream_start(format::kPdbInfoStreamIndex,
                    std::span(reinterpret_cast<std::uint8_t*>(&info), sizeof info), "PDB info stream");
  // The DBI stream's age is the one debuggers compare with the CodeView record; the info
  // stream's may be higher after incremental links.
  std::optional<std::uint32_t> dbi_age;
  if (streams > format::kDbiStreamIndex) {
    const std::uint32_t size3 = stream_size(format::kDbiStreamIndex);
    if (size3 != format::kMsfNilStreamSize && size3 >= sizeof(format::DbiStreamHeaderStart)) {
      format::DbiStreamHeaderStart dbi{};
      read_stream_start(format::kDbiStreamIndex,
                        std::span(reinterpret_cast<std::uint8_t*>(&dbi), sizeof dbi), "DBI stream");
      dbi_age = dbi.Age;
    }
  }
  PdbIdentityInfo r;
  r.block_size = sb.BlockSize;
  r.version = info.Version;
  r.signature = info.Signature;
  r.info_age = info.Age;
  r.age = dbi_age.value_or(info.Age);
  r.guid = guid_text(info.Guid);
  return r;
}

}  // namespace pagedump::symbols
