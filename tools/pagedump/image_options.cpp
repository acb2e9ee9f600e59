#include "image_options.h"

#include <sstream>

#include "pagedump/error.h"
#include "pagedump/format/context_registers.h"
#include "pagedump/sources/open_image.h"
#include "process_memory.h"

namespace pagedump::cli {

void add_image_options(CLI::App* cmd, ImageArgs& args) {
  cmd->add_option("IMAGE", args.path, "Memory image (raw, ELF core, LiME, VMware, a dump)")
      ->required();
  cmd->add_option("--format", args.format, "Image format, instead of recognising it by content");
  cmd->add_option("--memory-map", args.memory_map,
                  "Raw images: physical ranges, lines 'START END' in hex or `sources --json`");
  cmd->add_option("--kdbg", args.kdbg, "Expert: virtual address of the KDBG");
  cmd->add_option("--kdbg-keys", args.kdbg_keys,
                  "Expert: KiWaitNever,KiWaitAlways,&KdpDataBlockEncoded to decode the KDBG");
}

OpenedImage open_and_discover(const ImageArgs& args) {
  DiscoveryOptions options;
  if (!args.kdbg.empty()) options.kdbg_va = parse_u64(args.kdbg);
  if (!args.kdbg_keys.empty()) {
    std::stringstream ss(args.kdbg_keys);
    std::string part;
    std::vector<std::uint64_t> v;
    while (std::getline(ss, part, ',')) v.push_back(parse_u64(part));
    if (v.size() != 3) {
      throw Error(ErrorKind::usage,
                  "--kdbg-keys takes three numbers: KiWaitNever,KiWaitAlways,FLAGVA");
    }
    options.kdbg_keys = format::KdbgKeys{v[0], v[1], v[2]};
  }
  commit_heap(kDiscoveryHeapBytes);
  OpenedImage out;
  out.image = open_image(args.path, OpenImageOptions{args.format, args.memory_map});
  out.system = discover_system(*out.image, options);
  return out;
}

nlohmann::json context_json(const DiscoveredSystem& system, std::span<const std::byte> context) {
  nlohmann::json j = nlohmann::json::object();
  if (context.empty()) return j;
  const auto arch = system.architecture == Architecture::x64 ? format::ContextArch::amd64
                                                             : format::ContextArch::i386;
  for (const auto& [name, value] : format::context_registers(arch, context)) j[name] = value;
  return j;
}

}  // namespace pagedump::cli
