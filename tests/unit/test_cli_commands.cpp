// The command line as a whole: every command `--help` lists is reachable by its name, with its
// own options, whether the command line names it (only it is built) or not (all are built).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/samples.h"

namespace pagedump::test {
namespace {

struct Listed {
  std::string name;
  std::string description;
};

// The "Subcommands:" section of `pagedump --help`: a name, spaces, the description.
std::vector<Listed> listed_commands() {
  const CommandResult top = run_command(std::string(cli_path()) + " --help");
  EXPECT_EQ(top.exit_code, 0) << top.err;
  std::istringstream lines(top.out);
  std::vector<Listed> out;
  bool in_list = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "Subcommands:") {
      in_list = true;
    } else if (in_list && line.starts_with("  ")) {
      const auto name_end = line.find(' ', 2);
      const auto text = line.find_first_not_of(' ', name_end);
      out.push_back({line.substr(2, name_end - 2), line.substr(text)});
    }
  }
  return out;
}

TEST(CliCommands, EveryListedCommandAnswersToItsNameWithItsOwnHelp) {
  const std::vector<Listed> listed = listed_commands();
  std::vector<std::string> names;
  for (const Listed& c : listed) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"version", "inspect", "header", "attach", "convert",
                                             "sources", "info", "read", "verify", "crashtest",
                                             "synth", "demo"}));
  for (const Listed& c : listed) {
    const CommandResult help = run_command(std::string(cli_path()) + " " + c.name + " --help");
    EXPECT_EQ(help.exit_code, 0) << c.name << ": " << help.err;
    EXPECT_TRUE(help.out.starts_with(c.description + "\nUsage: pagedump " + c.name + " "))
        << c.name << ":\n"
        << help.out;
  }
}

TEST(CliCommands, ACommandNamedAfterAnOptionIsStillFound) {
  // `--version` first: every command is built, and the flag answers before any of them runs.
  const CommandResult v = run_command(std::string(cli_path()) + " --version convert");
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(v.out, std::string("pagedump ") + PAGEDUMP_VERSION + "\n");
  // A misspelt command is not a command: the whole line is checked, with the usual answer.
  const CommandResult typo = run_command(std::string(cli_path()) + " conver x.raw");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_EQ(typo.err, "A subcommand is required\nRun with --help for more information.\n");
}

}  // namespace
}  // namespace pagedump::test
