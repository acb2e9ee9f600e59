// pagedump synth: a synthetic Windows guest memory image (the builder the tests use).
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "pagedump/error.h"
#include "pagedump/synth/guest.h"

namespace pagedump::cli {

synth::GuestSpec synth_spec(const std::string& arch, std::uint32_t ram_mib) {
  synth::GuestSpec spec;
  spec.arch = arch == "x86" ? synth::GuestArch::x86_pae : synth::GuestArch::x64;
  if (ram_mib != 0 && ram_mib < 192) {
    throw Error(ErrorKind::usage, fmt::format("--ram-mib {}: a synthetic guest needs at least 192 MiB", ram_mib));
  }
  spec.ram_mib = ram_mib;
  return spec;
}

namespace {
struct SynthArgs {
  std::string output;
  std::string arch = "x64";
  std::uint32_t ram_mib = 256;
  std::string format = "raw";
  bool json = false;
  bool force = false;
};
}  // namespace

void register_synth(Registry& r) {
  auto a = std::make_shared<SynthArgs>();
  auto* cmd = r.app.add_subcommand(
      "synth", "Write a synthetic Windows memory image (Windows 10 19041 x64 or Windows 7 x86 PAE layout)");
  cmd->add_option("-o,--output", a->output, "Image file to write (and IMAGE.map, its memory map)")->required();
  cmd->add_option("--arch", a->arch, "x64 (Windows 10 19041) or x86 (Windows 7 SP1, PAE)")
      ->check(CLI::IsMember({"x64", "x86"}));
  cmd->add_option("--ram-mib", a->ram_mib, "RAM size in MiB (at least 192; 0: 4 GiB)");
  cmd->add_option("--format", a->format, "Image format (this build writes raw only)")->check(CLI::IsMember({"raw"}));
  cmd->add_flag("--json", a->json, "Print what was written as JSON");
  cmd->add_flag("--force", a->force, "Replace an existing image and map");
  r.add(cmd, [a] {
    const auto guest = synth::build_guest(synth_spec(a->arch, a->ram_mib));
    guest.emit(synth::Guest::ImageFormat::raw, a->output, a->force);
    const std::string map = a->output + ".map";
    std::uint64_t ram = 0;
    for (const auto& range : guest.truth.memory_map) ram += range.size;
    if (a->json) {
      print_json({{"image", a->output}, {"memory_map", map}, {"format", "raw"}, {"arch", a->arch}, {"ram_bytes", ram}});
    } else {
      std::cout << fmt::format("wrote {} (raw, {} guest, {} MiB of RAM in {} ranges) and its memory map {}\n", a->output,
                               a->arch, ram >> 20, guest.truth.memory_map.size(), map);
      std::cout << fmt::format("next: pagedump crashtest {} --memory-map {}\n", a->output, map);
    }
    return kSuccess;
  });
}

}  // namespace pagedump::cli
