// pagedump: Windows kernel crash dumps on Linux.
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
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
  CLI::App app{"pagedump: read, write and verify Windows kernel crash dumps", "pagedump"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("pagedump ") + PAGEDUMP_VERSION);

  CommandRunner selected;
  Registry registry{app, [&selected](CLI::App* cmd, CommandRunner run) {
                      cmd->callback([&selected, run] { selected = run; });
                    }};
  register_version(registry);
  register_inspect(registry);
  register_header(registry);
  register_attach(registry);
  register_convert(registry);
  register_sources(registry);
  register_info(registry);
  register_read(registry);
  register_verify(registry);
  register_crashtest(registry);
  register_synth(registry);
  register_demo(registry);

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
