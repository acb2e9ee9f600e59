// Shared helpers for the dump reader tests: build a dump into a temporary file and open it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "builders/dump/dump_builder.h"
#include "pagedump/error.h"
#include "pagedump/reader/dump_file.h"
#include "support/temp_dir.h"

namespace pagedump::test {

struct OpenedDump {
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>();
  std::filesystem::path path;
  BuiltDump built;
  std::unique_ptr<DumpFile> dump;
};

inline OpenedDump build_and_open(const DumpSpec& spec,
                                 std::size_t cache_bytes = DumpFile::kDefaultCacheBytes) {
  OpenedDump o;
  o.path = *o.dir / "test.dmp";
  o.built = write_dump(o.path, spec);
  o.dump = DumpFile::open(o.path.string(), cache_bytes);
  return o;
}

// The error open() raises for `spec` (fails the test when it opens).
inline Error open_error(const DumpSpec& spec) {
  TempDir dir;
  auto path = dir / "bad.dmp";
  write_dump(path, spec);
  try {
    DumpFile::open(path.string());
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the dump opened without error";
  return Error(ErrorKind::usage, "");
}

}  // namespace pagedump::test
