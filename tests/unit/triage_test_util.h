// Opens a built or real triage dump the way a reader would: the main header's bytes, then
// TriageDump::parse. Keeps the file alive as long as the dump that refers to it.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "pagedump/format/dump_header.h"
#include "pagedump/io/input_file.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "support/temp_dir.h"
#include "triage_builder.h"

namespace pagedump::test {

struct OpenedTriage {
  std::unique_ptr<InputFile> file;
  std::vector<std::byte> header;
  std::optional<TriageDump> dump;
  std::optional<TriageView> view;
};

inline std::vector<std::byte> read_main_header(const InputFile& f, bool is64) {
  std::vector<std::byte> h(is64 ? format::kHeaderSize64 : format::kHeaderSize32);
  f.read_exact(0, h, "main header");
  return h;
}

inline std::unique_ptr<OpenedTriage> open_triage(const std::filesystem::path& path, bool is64) {
  auto o = std::make_unique<OpenedTriage>();
  o->file = std::make_unique<InputFile>(path.string());
  o->header = read_main_header(*o->file, is64);
  o->dump.emplace(TriageDump::parse(*o->file, is64, o->header));
  o->view.emplace(*o->dump);
  return o;
}

inline std::unique_ptr<OpenedTriage> open_built(const TempDir& dir, const BuiltTriage& built, bool is64) {
  const auto path = dir / "triage.dmp";
  built.write(path);
  return open_triage(path, is64);
}

}  // namespace pagedump::test
