#include "cli_common.h"

#include <cstdio>
#include <iostream>

namespace pagedump::cli {

nlohmann::json number_or_null(std::optional<std::uint64_t> v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << '\n'; }

std::uint64_t parse_u64(const std::string& text) {
  if (text.empty()) throw CLI::ValidationError("number", "empty number");
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    throw CLI::ValidationError("number", "'" + text + "' is not a number");
  }
  if (used != text.size() || text[0] == '-') {
    throw CLI::ValidationError("number", "'" + text + "' is not a number");
  }
  return v;
}

}  // namespace pagedump::cli
