#include "convert_small.h"

#include <fmt/format.h>

#include "convert_result.h"
#include "pagedump/error.h"
#include "pagedump/writer/small_dump.h"

namespace pagedump::cli {
namespace {

std::uint64_t parse_size(const std::string& text, const char* option) {
  try {
    return parse_u64(text);
  } catch (const CLI::ValidationError&) {
    throw Error(ErrorKind::usage, fmt::format("{} takes a byte count, not '{}'", option, text));
  }
}

}  // namespace

void add_small_options(CLI::App* cmd, SmallArgs& a) {
  cmd->add_option("--minidump-dir", a.minidump_dir,
                  "Write a small dump as MiniMMDDYY-NN.dmp in this folder (the crash date, the "
                  "first free number; existing small dumps are kept)");
  cmd->add_option("--max-size", a.max_size,
                  "Small dump: cap on the file size in bytes (default 2 MiB; 65536 writes the "
                  "classic, exactly 64 KiB dump)");
  cmd->add_flag("--classic", a.classic, "Small dump: exactly 64 KiB, as NT 5.x wrote them");
  cmd->add_option("--cpu", a.cpu,
                  "Small dump: the processor whose thread is saved (default: the one that "
                  "bugchecked, else the first)");
}

bool wants_small_dump(const std::string& type, const SmallArgs& a) {
  const bool explicit_type = a.type_option && a.type_option->count() > 0;
  const bool small_options = !a.max_size.empty() || a.classic || a.cpu.has_value();
  if (type == "small") return true;
  if (!a.minidump_dir.empty()) {
    if (explicit_type) {
      throw Error(ErrorKind::usage, fmt::format("--minidump-dir writes a small dump; it cannot "
                                                "be combined with --type {}",
                                                type));
    }
    return true;
  }
  if (small_options) {
    throw Error(ErrorKind::usage,
                "--max-size, --classic and --cpu apply to small dumps (--type small)");
  }
  return false;
}

int run_convert_small(const OpenedImage& o, const SmallArgs& a, const std::string& output,
                      bool force, bool json, bool quiet, const std::string& bugcheck_text) {
  if (output.empty() == a.minidump_dir.empty()) {
    throw Error(ErrorKind::usage, "a small dump needs either -o FILE or --minidump-dir DIR");
  }
  SmallDumpOptions opts;
  opts.output = output;
  opts.minidump_dir = a.minidump_dir;
  opts.force = force;
  opts.quiet = quiet || json;
  opts.classic = a.classic;
  if (!a.max_size.empty()) opts.max_size = parse_size(a.max_size, "--max-size");
  opts.cpu = a.cpu;
  opts.bugcheck = parse_bugcheck(bugcheck_text);
  opts.source_format = std::string(o.image->format_name());
  if (opts.cpu && *opts.cpu >= o.system.cpus.size()) {
    throw Error(ErrorKind::usage, fmt::format("--cpu {}: the machine has {} processors", *opts.cpu,
                                              o.system.cpus.size()));
  }
  const auto r = write_small_dump(*o.image, o.system, opts);
  print_write_result(r, json);
  return kSuccess;
}

}  // namespace pagedump::cli
