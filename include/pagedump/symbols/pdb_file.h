// The identity of a PDB file (MSF 7.0): what a debugger compares with a module's CodeView
// record before it loads the symbols. Only the superblock, the stream directory's first
// entries and the first bytes of stream 1 are read; every block index and size is checked
// against the file.
#pragma once

#include <cstdint>
#include <string>

namespace pagedump::symbols {

struct PdbIdentityInfo {
  std::uint32_t block_size = 0;
  std::uint32_t version = 0;    // PDB info stream version (20000404 for VC70)
  std::uint32_t signature = 0;
  std::uint32_t age = 0;       // the DBI stream's age (what a module's CodeView age matches)
  std::uint32_t info_age = 0;  // the PDB info stream's own age (may be higher)
  std::string guid;  // upper-case hex, symbol-store order (as CodeViewPdb::guid_string())
  // The symbol-store key: guid then `age` as %X.
  std::string key() const;
};

// Throws pagedump::Error naming the file, the offset and what was expected when the file is
// not an MSF 7.0 PDB or its directory / stream 1 cannot be read.
PdbIdentityInfo read_pdb_identity(const std::string& path);

}  // namespace pagedump::symbols
