// pagedump demo: synth + crashtest with nothing to provide, then how to open the dumps.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "crashtest_report.h"
#include "image_options.h"
#include "pagedump/synth/guest.h"

namespace pagedump::cli {

synth::GuestSpec synth_spec(const std::string& arch, std::uint32_t ram_mib);

namespace {
struct DemoArgs {
  std::string out_dir = "pagedump-demo";
  std::uint32_t ram_mib = 256;
};
}  // namespace

void register_demo(Registry& r) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd = r.app.add_subcommand(
      "demo", "Build a synthetic Windows 10 x64 memory image, run crashtest on it and show how to open the dumps");
  cmd->add_option("--out-dir", a->out_dir, "Folder for the image and the dumps (default: ./pagedump-demo)");
  cmd->add_option("--ram-mib", a->ram_mib, "RAM of the synthetic guest in MiB (at least 192)");
  r.add(cmd, [a] {
    std::filesystem::create_directories(a->out_dir);
    const std::string image = (std::filesystem::path(a->out_dir) / "guest-win10-x64.raw").string();
    std::cout << fmt::format("1. pagedump synth -o {} --ram-mib {}\n", image, a->ram_mib);
    synth::build_guest(synth_spec("x64", a->ram_mib))
        .emit(synth::Guest::ImageFormat::raw, image,
              /*overwrite=*/true);  // its own folder

    std::cout << fmt::format("2. pagedump crashtest {} --memory-map {}.map --out-dir {}\n\n", image, image, a->out_dir);
    ImageArgs args;
    args.path = image;
    args.memory_map = image + ".map";
    auto o = open_and_discover(args);
    verify::CrashtestOptions opts;
    opts.out_dir = a->out_dir;
    opts.source_format = std::string(o.image->format_name());
    const auto rows = verify::run_crashtest(*o.image, o.system, opts);
    print_crashtest_table(rows);

    std::cout << "\nOpen a dump in WinDbg on Windows (or `kd` from the Debugging Tools):\n";
    for (const auto& row : rows) {
      if (row.result == verify::CrashtestResult::pass) {
        std::cout << fmt::format("  windbg -z {}    (or: kd -z {})\n", row.file, row.file);
      }
    }
    std::cout << "then, in the debugger:\n"
                 "  .sympath srv*C:\\symbols*https://msdl.microsoft.com/download/symbols\n"
                 "  .reload; !analyze -v; lm; !process 0 0\n"
                 "The guest is synthetic: its modules have no symbols on Microsoft's server, so the debugger\n"
                 "shows addresses for them; real captures (pagedump convert) load the real kernel's PDB.\n"
                 "Check a dump without a debugger: pagedump verify FILE [--symbols FOLDER]\n";
    return crashtest_exit_code(rows);
  });
}

}  // namespace pagedump::cli
