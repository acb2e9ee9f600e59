#include "support/samples.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace pagedump::test {

std::filesystem::path samples_dir() {
  if (const char* env = std::getenv("PAGEDUMP_SAMPLES"); env && *env) return env;
  return PAGEDUMP_SAMPLES_DIR;
}

std::optional<std::filesystem::path> sample(const std::string& name) {
  std::error_code ec;
  auto p = samples_dir() / name;
  if (std::filesystem::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

static std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::string& command_line) {
  TempDir dir;
  auto out = dir.path() / "stdout";
  auto err = dir.path() / "stderr";
  std::string full = command_line + " >'" + out.string() + "' 2>'" + err.string() + "'";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace pagedump::test
