// Options every command that reads a memory image takes, and the discovery they lead to.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli_common.h"
#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"

namespace pagedump::cli {

struct ImageArgs {
  std::string path;
  std::string format;
  std::string memory_map;
  std::string kdbg;       // --kdbg VA
  std::string kdbg_keys;  // --kdbg-keys WAITNEVER,WAITALWAYS,FLAGVA
};

void add_image_options(CLI::App* cmd, ImageArgs& args);

struct OpenedImage {
  std::unique_ptr<PhysicalMemory> image;
  DiscoveredSystem system;
};
OpenedImage open_and_discover(const ImageArgs& args);

// JSON of a CONTEXT record, register name -> value (architecture from the system).
nlohmann::json context_json(const DiscoveredSystem& system, std::span<const std::byte> context);

}  // namespace pagedump::cli
