// Crashdump verification: the checks a debugger's opening of a kernel dump depends on, in the
// order it depends on them (header, layout, memory, lists, processors, bugcheck, symbols), as
// data: a stable id, a status and a message saying what was expected and what was found.
// A check that cannot run because an earlier one failed, or because the dump type does not
// carry what it needs, is `skip` with the reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pagedump::verify {

enum class CheckStatus { pass, fail, warn, skip };
std::string_view to_string(CheckStatus s) noexcept;

struct Check {
  std::string id;  // "header.signature", "memory.kdbg", "symbols.kernel", ...
  CheckStatus status = CheckStatus::pass;
  std::string message;
};

struct VerifyOptions {
  std::optional<std::uint32_t> expect_bugcheck;  // the Support Test's 0xE2
  std::string symbols;  // a folder, or srv*FOLDER*URL (only the folder is used); "" = none
};

struct VerifyReport {
  std::string path;
  std::vector<Check> checks;
  bool passed() const noexcept;  // no check failed
  const Check* first_failure() const noexcept;
  // The checks with this id, in order.
  std::vector<const Check*> find(std::string_view id) const;
};

// Never throws for a bad dump (that is a failing check); throws pagedump::Error(usage) for a
// meaningless option (a --symbols naming no folder).
VerifyReport verify_dump(const std::string& path, const VerifyOptions& options = {});

}  // namespace pagedump::verify
