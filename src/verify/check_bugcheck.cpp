// bugcheck.*: the stop code the debugger shows first, and the Support Test's expectation.
#include "pagedump/format/bugcheck.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

std::string named(std::uint32_t code) {
  const auto name = format::bugcheck_name(code);
  return name.empty() ? fmt::format("{:#x}", code) : fmt::format("{:#x} {}", code, name);
}

}  // namespace

void check_bugcheck(Context& c) {
  if (!c.dump) {
    c.add("bugcheck.code", CheckStatus::skip, "the dump could not be opened");
    return;
  }
  const auto& h = c.dump->header();
  if (!h.bugcheck_code) {
    c.add("bugcheck.code", CheckStatus::fail, "BugCheckCode (file offset {:#x}) is the 'PAGE' fill", c.is64 ? 0x38 : 0x30);
    return;
  }
  const std::uint32_t code = *h.bugcheck_code;
  std::string params;
  for (const auto& p : h.bugcheck_parameters) params += fmt::format("{}{:#x}", params.empty() ? "" : ", ", p.value_or(0));
  c.add("bugcheck.code", format::bugcheck_name(code).empty() ? CheckStatus::warn : CheckStatus::pass, "{} ({}){}",
        named(code), params, format::bugcheck_name(code).empty() ? ": a code pagedump has no name for" : "");
  if (c.options.expect_bugcheck) {
    const std::uint32_t want = *c.options.expect_bugcheck;
    if (code != want) {
      c.add("bugcheck.expected", CheckStatus::fail,
            "expected bugcheck {}, found {} (BugCheckCode, file offset {:#x}): another bugcheck happened while the "
            "dump was written",
            named(want), named(code), c.is64 ? 0x38 : 0x30);
    } else {
      c.add("bugcheck.expected", CheckStatus::pass, "{} as expected", named(code));
    }
  }
}

}  // namespace pagedump::verify::detail
