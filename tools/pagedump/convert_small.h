// `pagedump convert --type small` / `--minidump-dir`: the small memory dump options of the
// convert command, kept apart from the complete and kernel dump options.
#pragma once

#include <optional>
#include <string>

#include "cli_common.h"
#include "image_options.h"

namespace pagedump::cli {

struct SmallArgs {
  std::string minidump_dir;
  std::string max_size;
  bool classic = false;
  std::optional<std::uint32_t> cpu;
  CLI::Option* type_option = nullptr;  // to tell an explicit --type from the default
};

void add_small_options(CLI::App* cmd, SmallArgs& a);

// True when the command line asks for a small dump (--type small, or --minidump-dir).
// Throws Error(usage) for small-dump options given with another dump type.
bool wants_small_dump(const std::string& type, const SmallArgs& a);

// Writes the small dump and prints the result (text or JSON). Returns the exit code.
int run_convert_small(const OpenedImage& opened, const SmallArgs& a, const std::string& output,
                      bool force, bool json, bool quiet, const std::string& bugcheck_text);

}  // namespace pagedump::cli
