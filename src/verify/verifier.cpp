#include "pagedump/verify/verifier.h"

#include <algorithm>

#include "pagedump/error.h"
#include "pagedump/symbols/symbol_store.h"
#include "verify_context.h"

namespace pagedump::verify {

std::string_view to_string(CheckStatus s) noexcept {
  switch (s) {
    case CheckStatus::pass: return "pass";
    case CheckStatus::fail: return "fail";
    case CheckStatus::warn: return "warn";
    case CheckStatus::skip: return "skip";
  }
  return "?";
}

bool VerifyReport::passed() const noexcept { return first_failure() == nullptr; }

const Check* VerifyReport::first_failure() const noexcept {
  auto it = std::find_if(checks.begin(), checks.end(),
                         [](const Check& c) { return c.status == CheckStatus::fail; });
  return it == checks.end() ? nullptr : &*it;
}

std::vector<const Check*> VerifyReport::find(std::string_view id) const {
  std::vector<const Check*> out;
  for (const auto& c : checks) {
    if (c.id == id) out.push_back(&c);
  }
  return out;
}

VerifyReport verify_dump(const std::string& path, const VerifyOptions& options) {
  if (!options.symbols.empty()) symbols::local_store_folder(options.symbols);  // usage errors first
  detail::Context c(path, options);
  // Each group runs after the ones it depends on and skips what they could not establish.
  detail::check_header(c);
  detail::check_layout(c);
  detail::check_memory(c);
  detail::check_lists(c);
  detail::check_processors(c);
  detail::check_bugcheck(c);
  detail::check_symbols(c);
  return VerifyReport{path, std::move(c.checks)};
}

}  // namespace pagedump::verify
