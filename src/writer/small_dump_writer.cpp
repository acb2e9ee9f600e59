// Small memory dumps: choose the processor, gather, plan under the size cap, produce, and
// write atomically: to the named output, or as the first free MiniMMDDYY-NN.dmp of a folder
// (Windows keeps earlier small dumps; so does this writer: an existing file is never replaced).
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "dump_finishing.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/io/output_file.h"
#include "pagedump/writer/small_dump.h"
#include "small_dump_plan.h"

namespace pagedump {
namespace {

// Days since 1970-01-01 to a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
}

constexpr std::uint64_t kFiletimeUnixEpoch = 116444736000000000ull;  // 1970-01-01 in FILETIME

std::uint64_t now_filetime() {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  return kFiletimeUnixEpoch + static_cast<std::uint64_t>(secs) * 10000000ull;
}

bool classic_by_default(const DiscoveredSystem& system) {
  return system.build != 0 && system.build < 6000;  // NT 5.x: XP 2600, Server 2003 3790
}

}  // namespace

std::string minidump_file_name(std::uint64_t filetime, unsigned number) {
  const std::int64_t days = filetime >= kFiletimeUnixEpoch
                                ? static_cast<std::int64_t>((filetime - kFiletimeUnixEpoch) /
                                                            864000000000ull)
                                : 0;
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  return fmt::format("Mini{:02}{:02}{:02}-{:02}.dmp", m, d, y % 100, number);
}

DumpWriteResult write_small_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                 const SmallDumpOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  DumpWriteResult result;
  if (options.output.empty() && options.minidump_dir.empty()) {
    throw Error(ErrorKind::usage, "a small dump needs an output file or a minidump folder");
  }
  const bool classic = options.classic || (options.max_size && *options.max_size ==
                                                                   kClassicSmallDumpSize) ||
                       (!options.max_size && classic_by_default(system));
  const std::uint64_t max_size =
      classic ? kClassicSmallDumpSize : options.max_size.value_or(kSmallDumpDefaultMaxSize);
  if (max_size > 0xFFFFFFFFull) {
    throw Error(ErrorKind::usage, fmt::format("--max-size {} is too large: a triage dump's "
                                              "offsets are 32-bit (at most 4294967295)",
                                              max_size));
  }
  if (options.classic && options.max_size && *options.max_size != kClassicSmallDumpSize) {
    throw Error(ErrorKind::usage, "--classic is exactly 65536 bytes; it cannot be combined with "
                                  "another --max-size");
  }
  if (classic && !options.classic && !options.max_size) {
    result.notes.push_back("an NT 5.x kernel: the classic 64 KiB small dump is written");
  }

  std::uint32_t cpu = 0;
  if (options.cpu) {
    cpu = *options.cpu;
  } else {
    cpu = writer::bugcheck_processor(image, system, result.notes);
  }
  auto ctx = writer::header_context(system, cpu);
  auto content = writer::gather_small_dump(image, system, cpu, ctx);
  for (auto& n : content.notes) result.notes.push_back(std::move(n));
  const auto layout = writer::plan_small_dump(content, max_size, classic);
  for (const auto& n : layout.left_out) {
    result.notes.push_back(fmt::format("left out to stay within {} bytes: {}", max_size, n));
  }

  const Bugcheck bugcheck = writer::choose_bugcheck(system, options.bugcheck);
  std::vector<std::byte> header(crash_dump_header_size(system));
  fill_system_header(system, header, false);
  writer::finish_header(header, system, static_cast<std::uint32_t>(format::DumpType::triage),
                        bugcheck, ctx, layout.size_of_dump,
                        writer::dump_comment(options.source_format));
  const auto bytes = writer::produce_small_dump(content, layout, std::move(header));

  auto write_to = [&](const std::string& path, bool overwrite) {
    OutputFile out(path, overwrite);
    out.write_at(0, bytes);
    out.truncate(bytes.size());
    out.commit();
  };
  if (!options.minidump_dir.empty()) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(options.minidump_dir)) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: not a folder (--minidump-dir)", options.minidump_dir));
    }
    std::uint64_t when = system.system_time;
    if (when == 0) {
      when = now_filetime();
      result.notes.push_back("the image holds no system time: the file is named by today's date");
    }
    for (unsigned n = 1; n <= 99 && result.output.empty(); ++n) {
      const std::string path = (fs::path(options.minidump_dir) / minidump_file_name(when, n)).string();
      std::error_code ec;
      if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) continue;
      try {
        write_to(path, false);
        result.output = path;
      } catch (const Error&) {
        // Created meanwhile by someone else: it is kept, and the next number is tried.
        if (fs::symlink_status(path, ec).type() == fs::file_type::not_found) throw;
      }
    }
    if (result.output.empty()) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: {} to {} all exist; nothing was written", options.minidump_dir,
                              minidump_file_name(when, 1), minidump_file_name(when, 99)));
    }
  } else {
    write_to(options.output, options.force);
    result.output = options.output;
  }
  result.dump_type = static_cast<std::uint32_t>(format::DumpType::triage);
  result.bytes_written = bytes.size();
  result.pages = 0;
  result.bugcheck = bugcheck;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace pagedump
