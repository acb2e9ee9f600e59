// pagedump crashtest: the Crashdump Support Test's write-then-verify cycle on a captured image.
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "crashtest_report.h"
#include "image_options.h"

namespace pagedump::cli {

nlohmann::json verify_json(const verify::VerifyReport& report);

void print_crashtest_table(const std::vector<verify::CrashtestRow>& rows) {
  std::cout << fmt::format("{:<9} {:<44} {:>12}  {:<13} {}\n", "type", "file", "size", "result", "first failure");
  for (const auto& r : rows) {
    std::cout << fmt::format("{:<9} {:<44} {:>12}  {:<13} {}\n", r.type, r.file, r.size ? fmt::format("{}", r.size) : "-",
                             verify::to_string(r.result), r.first_failure.empty() ? "-" : r.first_failure);
  }
}

nlohmann::json crashtest_json(const std::vector<verify::CrashtestRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"type", r.type},
                   {"file", r.file},
                   {"size", r.size},
                   {"result", std::string(verify::to_string(r.result))},
                   {"first_failure", r.first_failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.first_failure)},
                   {"verify", r.report ? verify_json(*r.report) : nlohmann::json(nullptr)}});
  }
  return out;
}

int crashtest_exit_code(const std::vector<verify::CrashtestRow>& rows) {
  for (const auto& r : rows) {
    if (r.result == verify::CrashtestResult::fail) return kBadInput;
  }
  return kSuccess;
}

namespace {
struct CrashtestArgs {
  ImageArgs image;
  std::string out_dir = "crashtest";
  std::string symbols;
  bool json = false;
};
}  // namespace

void register_crashtest(Registry& r) {
  auto a = std::make_shared<CrashtestArgs>();
  auto* cmd = r.app.add_subcommand(
      "crashtest", "The Crashdump Support Test's cycle: write complete, kernel and small dumps of an image with "
                   "bugcheck 0xE2 and verify each (exit 1 when one fails)");
  add_image_options(cmd, a->image);
  cmd->add_option("--out-dir", a->out_dir, "Folder for the dumps (default: ./crashtest)");
  cmd->add_option("--symbols", a->symbols, "Symbol store passed to verify (a folder or srv*FOLDER*URL)");
  cmd->add_flag("--json", a->json, "Print the rows and each verify report as JSON");
  r.add(cmd, [a] {
    auto o = open_and_discover(a->image);
    verify::CrashtestOptions opts;
    opts.out_dir = a->out_dir;
    opts.source_format = std::string(o.image->format_name());
    opts.symbols = a->symbols;
    const auto rows = verify::run_crashtest(*o.image, o.system, opts);
    if (a->json) {
      print_json({{"image", a->image.path}, {"out_dir", a->out_dir}, {"dumps", crashtest_json(rows)}});
    } else {
      print_crashtest_table(rows);
    }
    return crashtest_exit_code(rows);
  });
}

}  // namespace pagedump::cli
