// What every command shares: exit codes, error reporting and JSON output.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace pagedump::cli {

enum ExitCode { kSuccess = 0, kBadInput = 1, kUsage = 2 };

// Integers as JSON numbers; a field that is not set is null.
nlohmann::json number_or_null(std::optional<std::uint64_t> v);

// Prints a JSON document on stdout, two-space indented.
void print_json(const nlohmann::json& j);

// Parses "0x1234", "1234" or "1,234"-free decimal/hex text; throws CLI::ValidationError.
std::uint64_t parse_u64(const std::string& text);

// Registration of each command, one file each.
using CommandRunner = std::function<int()>;
struct Registry {
  CLI::App& app;
  std::function<void(CLI::App*, CommandRunner)> add;
};

}  // namespace pagedump::cli
