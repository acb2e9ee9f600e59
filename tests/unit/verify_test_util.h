// Helpers for the verify tests: a complete dump of a synthetic guest, and patches to a copy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include <gtest/gtest.h>

#include "pagedump/discovery/system.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/synth/guest.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/verify/verifier.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump::test {

inline void patch_file(const std::filesystem::path& p, std::uint64_t offset, std::span<const std::byte> bytes) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << "patching " << p;
}

template <class T>
void patch_value(const std::filesystem::path& p, std::uint64_t offset, const T& v) {
  patch_file(p, offset, std::as_bytes(std::span(&v, 1)));
}

// File offset of kernel VA `va` in a dump with page tables.
inline std::uint64_t file_offset_of(const std::filesystem::path& p, std::uint64_t va) {
  auto dump = DumpFile::open(p.string());
  const bool x64 = dump->header().is64;
  AddressSpace space(*dump, x64 ? PagingMode::x64_4level : PagingMode::x86_pae,
                     *dump->header().directory_table_base);
  auto t = space.translate(va);
  EXPECT_TRUE(t.ok()) << describe(t, space.mode());
  auto off = dump->page_file_offset(t.pa / 0x1000);
  EXPECT_TRUE(off.has_value());
  return off.value_or(0) + t.pa % 0x1000;
}

inline const verify::Check& only_check(const verify::VerifyReport& r, std::string_view id) {
  auto found = r.find(id);
  static const verify::Check missing{"(missing)", verify::CheckStatus::skip, "no such check"};
  EXPECT_FALSE(found.empty()) << "no check " << id;
  return found.empty() ? missing : *found.front();
}

inline std::string summary(const verify::VerifyReport& r) {
  std::string s;
  for (const auto& c : r.checks) {
    if (c.status != verify::CheckStatus::pass) {
      s += std::string(verify::to_string(c.status)) + " " + c.id + ": " + c.message + "\n";
    }
  }
  return s;
}

// The ids of failing checks, in order.
inline std::vector<std::string> failing_ids(const verify::VerifyReport& r) {
  std::vector<std::string> ids;
  for (const auto& c : r.checks) {
    if (c.status == verify::CheckStatus::fail) ids.push_back(c.id);
  }
  return ids;
}

}  // namespace pagedump::test
