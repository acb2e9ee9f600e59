// symbols.*: the files a debugger must load, and whether a local symbol store has the right
// ones. The kernel's are required (the Support Test's "Failed to load the correct symbols");
// other modules' are warnings.
#include <filesystem>

#include "pagedump/error.h"
#include "pagedump/pe/pe_image.h"
#include "pagedump/symbols/image_file.h"
#include "pagedump/symbols/pdb_file.h"
#include "pagedump/symbols/symbol_store.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

namespace fs = std::filesystem;

struct Wanted {
  const ModuleEntry* module = nullptr;
  std::optional<pe::CodeViewPdb> pdb;  // from the image headers in the dump
  std::string image_key;               // TIMESTAMPSIZE, from the image or the driver list
};

struct Outcome {
  CheckStatus status = CheckStatus::pass;
  bool found_anything = false;
  std::string message;
};

Outcome check_pdb(const fs::path& store, const pe::CodeViewPdb& pdb, bool kernel, const std::string& prefix) {
  Outcome o;
  const std::string name = pdb.pdb_file_name();
  const CheckStatus bad = kernel ? CheckStatus::fail : CheckStatus::warn;
  const std::string failed = kernel ? "Failed to load the correct symbols: " : "";
  auto file = symbols::find_in_store(store, name, pdb.symbol_key());
  if (!file) {
    o.status = bad;
    o.message = fmt::format("{}{}{} is not in {}", prefix, failed, pdb.symbol_path(), store.string());
    return o;
  }
  o.found_anything = true;
  try {
    auto id = symbols::read_pdb_identity(file->string());
    if (id.guid != pdb.guid_string() || id.age != pdb.age) {
      o.status = bad;
      o.message = fmt::format("{}{}{} does not match: it holds GUID {} age {}, the module wants GUID {} age {}", prefix,
                              failed, file->string(), id.guid, id.age, pdb.guid_string(), pdb.age);
      return o;
    }
  } catch (const Error& e) {
    o.status = bad;
    o.message = fmt::format("{}{}{}", prefix, failed, e.what());
    return o;
  }
  o.message = fmt::format("{}{} found and matching (GUID {}, age {})", prefix, pdb.symbol_path(), pdb.guid_string(), pdb.age);
  return o;
}

Outcome check_image(const fs::path& store, const Wanted& w, bool kernel) {
  Outcome o;
  const std::string& name = w.module->name;
  const std::string rel = symbols::store_relative_path(name, w.image_key);
  const CheckStatus bad = kernel ? CheckStatus::fail : CheckStatus::warn;
  const std::string failed = kernel ? "Failed to load the correct symbols: " : "";
  auto file = symbols::find_in_store(store, name, w.image_key);
  if (!file) {
    o.status = bad;
    o.message = fmt::format("{}{} is not in {}", failed, rel, store.string());
    return o;
  }
  o.found_anything = true;
  std::optional<pe::CodeViewPdb> pdb;
  try {
    auto image = symbols::read_pe_file(file->string());
    const std::string key = image.image_key();
    if (key != w.image_key) {
      o.status = bad;
      o.message = fmt::format("{}{} does not match: its time stamp and size give {}, the dump wants {}", failed,
                              file->string(), key, w.image_key);
      return o;
    }
    pdb = image.read_codeview();
  } catch (const Error& e) {
    o.status = bad;
    o.message = fmt::format("{}{}", failed, e.what());
    return o;
  }
  const std::string head = fmt::format("{} found and matching (time stamp and size)", rel);
  if (!pdb) {
    o.status = CheckStatus::warn;
    o.message = head + "; the image names no PDB";
    return o;
  }
  Outcome p = check_pdb(store, *pdb, kernel, "");
  o.status = p.status;
  o.message = head + "; " + p.message;
  return o;
}

}  // namespace

void check_symbols(Context& c) {
  if (c.modules.empty()) {
    c.add("symbols.kernel", CheckStatus::skip, "no module list to find symbols for");
    return;
  }
  std::optional<fs::path> store;
  if (!c.options.symbols.empty()) store = symbols::local_store_folder(c.options.symbols);

  std::vector<Wanted> wanted;
  for (const auto& m : c.modules) {
    Wanted w;
    w.module = &m;
    if (c.space) {
      try {
        auto image = pe::PeImage::read(*c.vm, m.base, m.name);
        w.pdb = image.read_codeview();
        w.image_key = image.image_key();
      } catch (const Error&) {
        // Image headers paged out or absent: only the list's facts are known.
      }
    }
    if (w.image_key.empty() && m.timestamp) {
      w.image_key = symbols::image_store_key(m.timestamp, static_cast<std::uint32_t>(m.size));
    }
    wanted.push_back(std::move(w));
  }

  std::vector<std::string> missing;
  std::size_t unknown = 0, pdbs = 0, images = 0;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const auto& w = wanted[i];
    const bool kernel = i == 0;
    const char* id = kernel ? "symbols.kernel" : "symbols.module";
    const std::string name = w.module->name;
    if (!w.pdb && w.image_key.empty()) {
      ++unknown;
      if (kernel) c.add(id, CheckStatus::fail, "{}: neither its image headers nor its time stamp are in the dump", name);
      continue;
    }
    w.pdb ? ++pdbs : ++images;
    if (!store) {
      if (kernel) {
        c.add(id, CheckStatus::pass, "{} needs {}", name,
              w.pdb ? w.pdb->symbol_path()
                    : symbols::store_relative_path(name, w.image_key) + " (its image, then the PDB it names)");
      }
      continue;
    }
    Outcome o = w.pdb ? check_pdb(*store, *w.pdb, kernel, name + ": ") : check_image(*store, w, kernel);
    if (!w.pdb) o.message = name + ": " + o.message;
    if (!kernel && !o.found_anything) {
      missing.push_back(w.pdb ? w.pdb->symbol_path() : symbols::store_relative_path(name, w.image_key));
      continue;
    }
    c.add(id, o.status, "{}", o.message);
  }
  if (!store) {
    c.add("symbols.modules", CheckStatus::pass,
          "{} modules: {} with PDB identities from image headers in the dump, {} by image key only{}", wanted.size(),
          pdbs, images, unknown ? fmt::format(", {} without either", unknown) : "");
  } else if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
    c.add("symbols.modules", CheckStatus::warn, "{} modules have no files in {}: {}{}", missing.size(), store->string(),
          list, missing.size() > 8 ? fmt::format(" and {} more", missing.size() - 8) : "");
  }
}

}  // namespace pagedump::verify::detail
