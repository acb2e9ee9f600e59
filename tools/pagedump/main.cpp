// pagedump: Windows kernel crash dumps on Linux.
#include <array>
#include <iostream>
#include <string_view>

#include <fmt/format.h>

#include "commands.h"
#include "process_memory.h"
#include "pagedump/error.h"
#include "pagedump/io/output_file.h"

namespace pagedump::cli {

void register_version(Registry& r) {
  auto* cmd = r.app.add_subcommand("version", "Print the pagedump version");
  r.add(cmd, [] {
    std::cout << "pagedump " << PAGEDUMP_VERSION << '\n';
    return kSuccess;
  });
}

}  // namespace pagedump::cli

int main(int argc, char** argv) {
  using namespace pagedump::cli;
  // Interrupted writes leave nothing behind; a file-size limit is an error, not a kill.
  pagedump::install_interrupt_cleanup();
  keep_freed_buffers();
  CLI::App app{"pagedump: read, write and verify Windows kernel crash dumps", "pagedump"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("pagedump ") + PAGEDUMP_VERSION);

  CommandRunner selected;
  Registry registry{app, [&selected](CLI::App* cmd, CommandRunner run) {
                      cmd->callback([&selected, run] { selected = run; });
                    }};
  // In the order `--help` lists them. Building every command's options costs more than a
  // small command's work (a quarter of `inspect` on a sparse image), so a command named first
  // on the line is the only one built; anything else (help, a typo, --version) builds them all.
  struct Command {
    std::string_view name;
    void (*add)(Registry&);
  };
  static constexpr std::array<Command, 12> kCommands{{{"version", register_version},
                                                      {"inspect", register_inspect},
                                                      {"header", register_header},
                                                      {"attach", register_attach},
                                                      {"convert", register_convert},
                                                      {"sources", register_sources},
                                                      {"info", register_info},
                                                      {"read", register_read},
                                                      {"verify", register_verify},
                                                      {"crashtest", register_crashtest},
                                                      {"synth", register_synth},
                                                      {"demo", register_demo}}};
  const Command* named = nullptr;
  for (const Command& c : kCommands) {
    if (argc > 1 && c.name == argv[1]) named = &c;
  }
  if (named) {
    named->add(registry);
  } else {
    for (const Command& c : kCommands) c.add(registry);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kSuccess : kUsage;
  }
  try {
    return selected ? selected() : kUsage;
  } catch (const pagedump::Error& e) {
    std::cerr << "pagedump: error: " << e.what() << '\n';
    return e.kind() == pagedump::ErrorKind::usage ? kUsage : kBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "pagedump: error: out of memory\n";
    return kBadInput;
  } catch (const std::exception& e) {
    std::cerr << "pagedump: error: " << e.what() << '\n';
    return kBadInput;
  }
}
