// pagedump verify: the checks a debugger's opening of a dump depends on (src/verify).
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "pagedump/error.h"
#include "pagedump/verify/verifier.h"

namespace pagedump::cli {

void print_verify_text(const verify::VerifyReport& report) {
  std::cout << report.path << '\n';
  for (const auto& c : report.checks) {
    std::cout << fmt::format("  {:<4}  {:<26} {}\n", verify::to_string(c.status), c.id, c.message);
  }
  std::cout << (report.passed() ? "result: pass\n" : "result: fail\n");
}

nlohmann::json verify_json(const verify::VerifyReport& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : report.checks) {
    checks.push_back({{"id", c.id}, {"status", std::string(verify::to_string(c.status))}, {"message", c.message}});
  }
  return {{"path", report.path}, {"result", report.passed() ? "pass" : "fail"}, {"checks", checks}};
}

namespace {
struct VerifyArgs {
  std::string path;
  std::string expect;
  std::string symbols;
  bool json = false;
};
}  // namespace

void register_verify(Registry& r) {
  auto a = std::make_shared<VerifyArgs>();
  auto* cmd = r.app.add_subcommand(
      "verify", "Check a kernel dump the way a debugger opening it depends on (exit 1 when a check fails)");
  cmd->add_option("DUMP", a->path, "Kernel dump file")->required();
  cmd->add_option("--expect-bugcheck", a->expect,
                  "Fail unless the bugcheck code is CODE (the Crashdump Support Test expects 0xE2)");
  cmd->add_option("--symbols", a->symbols,
                  "Symbol store to check the needed files in: a folder or srv*FOLDER*URL (offline)");
  cmd->add_flag("--json", a->json, "Print path, result and checks as JSON");
  r.add(cmd, [a] {
    verify::VerifyOptions o;
    if (!a->expect.empty()) {
      std::uint64_t code = 0;
      try {
        code = parse_u64(a->expect);
      } catch (const CLI::ValidationError&) {
        code = ~0ull;
      }
      if (code > 0xFFFFFFFFull) {
        throw Error(ErrorKind::usage, fmt::format("--expect-bugcheck '{}': expected a 32-bit code", a->expect));
      }
      o.expect_bugcheck = static_cast<std::uint32_t>(code);
    }
    o.symbols = a->symbols;
    const auto report = verify::verify_dump(a->path, o);
    if (a->json) {
      print_json(verify_json(report));
    } else {
      print_verify_text(report);
    }
    return report.passed() ? kSuccess : kBadInput;
  });
}

}  // namespace pagedump::cli
