#include "convert_result.h"

#include <iostream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cli_common.h"
#include "pagedump/error.h"
#include "pagedump/format/bugcheck.h"

namespace pagedump::cli {

std::optional<Bugcheck> parse_bugcheck(const std::string& text) {
  if (text.empty()) return std::nullopt;
  const char* usage = "--bugcheck takes CODE[,P1,P2,P3,P4] with a 32-bit code";
  std::stringstream ss(text);
  std::string part;
  std::vector<std::uint64_t> v;
  while (std::getline(ss, part, ',')) {
    try {
      v.push_back(parse_u64(part));
    } catch (const CLI::ValidationError&) {
      throw Error(ErrorKind::usage, fmt::format("{}, not '{}'", usage, text));
    }
  }
  if (v.empty() || v.size() > 5 || v[0] > 0xFFFFFFFFull) throw Error(ErrorKind::usage, usage);
  Bugcheck b;
  b.code = static_cast<std::uint32_t>(v[0]);
  for (std::size_t i = 1; i < v.size(); ++i) b.parameters[i - 1] = v[i];
  return b;
}

void print_write_result(const DumpWriteResult& r, bool json) {
  if (json) {
    print_json({{"output", r.output},
                {"dump_type", r.dump_type},
                {"bytes_written", r.bytes_written},
                {"pages", r.pages},
                {"seconds", r.seconds},
                {"bugcheck", {{"code", r.bugcheck.code},
                              {"name", std::string(format::bugcheck_name(r.bugcheck.code))},
                              {"parameters", r.bugcheck.parameters}}},
                {"notes", r.notes}});
    return;
  }
  if (r.dump_type == 4) {
    std::cout << fmt::format("wrote {} (small memory dump, DumpType {}): {} bytes in {:.2f} s\n",
                             r.output, r.dump_type, r.bytes_written, r.seconds);
  } else {
    const char* kind = r.dump_type == 1   ? "complete"
                       : r.dump_type == 5 ? "bitmap full"
                       : r.dump_type == 6 ? "kernel bitmap"
                                          : "crash";
    std::cout << fmt::format("wrote {} ({} dump, DumpType {}): {} pages, {} bytes in {:.2f} s\n",
                             r.output, kind, r.dump_type, r.pages, r.bytes_written, r.seconds);
  }
  std::cout << fmt::format("bugcheck {:#x} {}\n", r.bugcheck.code,
                           format::bugcheck_name(r.bugcheck.code));
  for (const auto& n : r.notes) std::cout << "note: " << n << '\n';
}

}  // namespace pagedump::cli
