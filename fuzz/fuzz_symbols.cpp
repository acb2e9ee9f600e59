// The symbol-file checks of `verify --symbols` on arbitrary bytes: the input is one file of a
// symbol store, read both as a PDB (MSF superblock, stream directory, info and DBI streams) and
// as a PE image file (headers, sections by PointerToRawData, image key, CodeView, exports).
// Then the store lookups with names from the input: the CodeView record's PDB name and key,
// and the first line(s) of the input as a symbol path and as FILE / KEY, against a fixed store
// in a private folder. Any path the lookup returns must lie inside the store.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/pe/pe_image.h"
#include "pagedump/symbols/image_file.h"
#include "pagedump/symbols/pdb_file.h"
#include "pagedump/symbols/symbol_store.h"

using namespace pagedump;
namespace fs = std::filesystem;

namespace {

// store/a.pdb/KEY/a.pdb and a file beside the store that a lookup must never reach.
struct Store {
  fs::path root, store;
  Store() {
    const char* tmp = std::getenv("TMPDIR");
    root = fs::path(tmp && *tmp ? tmp : "/tmp") /
           ("pagedump-fuzz-symbols-" + std::to_string(::getpid()));
    store = root / "store";
    fs::create_directories(store / "a.pdb" / "1C19FDDB27BB3399D9B45973EFEAFCF31");
    std::ofstream(store / "a.pdb" / "1C19FDDB27BB3399D9B45973EFEAFCF31" / "a.pdb") << "x";
    fs::create_directories(root / "o" / "K");
    std::ofstream(root / "o" / "o") << "outside";
  }
  ~Store() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

void lookup(const Store& s, const std::string& file, const std::string& key) {
  auto found = symbols::find_in_store(s.store, file, key);
  if (!found) return;
  // Lexically inside the store: no "..", and the store is a prefix.
  const fs::path rel = found->lexically_normal().lexically_relative(s.store);
  if (rel.empty() || *rel.begin() == "..") __builtin_trap();
  try {
    (void)symbols::read_pdb_identity(found->string());
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("symbols");
  static Store store;
  const std::string& path = file.set({data, size});

  try {
    auto id = symbols::read_pdb_identity(path);
    (void)id.key();
  } catch (const Error&) {
  }

  try {
    pe::PeImage image = symbols::read_pe_file(path);
    (void)image.image_key();
    (void)image.find_section(".text");
    if (auto ex = image.read_exports()) (void)ex->find("KdDebuggerDataBlock");
    if (auto cv = image.read_codeview()) {
      (void)cv->symbol_path();
      lookup(store, cv->pdb_file_name(), cv->symbol_key());
    }
  } catch (const Error&) {
  }

  // The first line as a symbol path, the first two lines as FILE and KEY.
  const std::string_view text(reinterpret_cast<const char*>(data),
                              std::min<std::size_t>(size, 256));
  const auto nl = text.find('\n');
  const std::string first(text.substr(0, nl));
  try {
    (void)symbols::local_store_folder(first);
  } catch (const Error&) {
  }
  if (nl != std::string_view::npos) {
    const std::string_view rest = text.substr(nl + 1);
    lookup(store, first, std::string(rest.substr(0, rest.find('\n'))));
  }
  return 0;
}
