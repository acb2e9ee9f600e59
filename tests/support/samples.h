// Access to the real Windows samples in ../shared/samples. A test that needs one calls
// PAGEDUMP_REQUIRE_SAMPLE(var, "file"), which skips the test with a clear message when the
// folder (a fresh clone has none) or the file is absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace pagedump::test {

// The samples folder: $PAGEDUMP_SAMPLES if set, else the one configured at build time.
std::filesystem::path samples_dir();
std::optional<std::filesystem::path> sample(const std::string& name);

// Path of the pagedump executable under test.
inline const char* cli_path() { return PAGEDUMP_CLI; }

// Runs a command line through /bin/sh; returns exit status and captures stdout/stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& command_line);

}  // namespace pagedump::test

#define PAGEDUMP_REQUIRE_SAMPLE(var, name)                                              \
  auto var##_opt = ::pagedump::test::sample(name);                                      \
  if (!var##_opt) {                                                                     \
    GTEST_SKIP() << "real sample '" << name << "' not found in "                        \
                 << ::pagedump::test::samples_dir()                                      \
                 << " (a fresh clone has no ../shared; set PAGEDUMP_SAMPLES to run it)"; \
  }                                                                                     \
  const std::filesystem::path var = *var##_opt
