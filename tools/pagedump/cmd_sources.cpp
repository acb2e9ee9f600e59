// pagedump sources IMAGE: what an image holds, as every other command will see it.
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "pagedump/sources/open_image.h"

namespace pagedump::cli {
namespace {

struct SourcesOptions {
  std::string image;
  std::string format;
  std::string memory_map;
  bool json = false;
};

std::string human_size(std::uint64_t n) {
  if (n >= (1ull << 30) && n % (1ull << 20) == 0) return fmt::format("{:.2f} GiB", double(n) / (1ull << 30));
  if (n >= (1ull << 20)) return fmt::format("{:.2f} MiB", double(n) / (1ull << 20));
  if (n >= (1ull << 10)) return fmt::format("{:.2f} KiB", double(n) / (1ull << 10));
  return fmt::format("{} bytes", n);
}

// CR0 of zero means the capture carried no control registers; otherwise PE clear is real mode.
const char* mode_of(const CpuState& c) {
  if (c.cr0 != 0 && (c.cr0 & 1) == 0) return "real";
  return c.kernel_mode() ? "kernel" : "user";
}

int run_sources(const SourcesOptions& o) {
  OpenImageOptions opts;
  opts.format = o.format;
  opts.memory_map = o.memory_map;
  auto image = open_image(o.image, opts);
  if (o.json) {
    nlohmann::json j;
    j["format"] = std::string(image->format_name());
    j["ranges"] = nlohmann::json::array();
    for (const auto& r : image->ranges()) j["ranges"].push_back({{"base", r.base}, {"size", r.size}});
    j["total_bytes"] = image->total_bytes();
    j["cpus"] = nlohmann::json::array();
    for (const auto& c : image->cpus()) {
      nlohmann::json regs = nlohmann::json::object();
      for (const auto& [name, value] : c.named_registers()) regs[name] = value;
      j["cpus"].push_back({{"index", c.index},
                           {"arch", c.arch == CpuArch::x64 ? "x64" : "x86"},
                           {"mode", mode_of(c)},
                           {"registers", regs}});
    }
    print_json(j);
    return kSuccess;
  }
  std::cout << fmt::format("format: {}\n", image->format_name());
  std::cout << fmt::format("ranges: {}\n", image->ranges().size());
  for (const auto& r : image->ranges()) {
    std::cout << fmt::format("  {:#018x}-{:#018x}  {}\n", r.base, r.end(), human_size(r.size));
  }
  std::cout << fmt::format("total: {:#x} bytes ({})\n", image->total_bytes(),
                           human_size(image->total_bytes()));
  std::cout << fmt::format("cpus: {}\n", image->cpus().size());
  for (const auto& c : image->cpus()) {
    const bool x64 = c.arch == CpuArch::x64;
    std::cout << fmt::format("  cpu {}: {} {} mode  {}={:#x} {}={:#x} cr3={:#x}\n", c.index,
                             x64 ? "x64" : "x86", mode_of(c), x64 ? "rip" : "eip", c.rip,
                             x64 ? "rsp" : "esp", c.gpr[CpuState::rsp], c.cr3);
  }
  return kSuccess;
}

}  // namespace

void register_sources(Registry& r) {
  auto opts = std::make_shared<SourcesOptions>();
  auto* cmd = r.app.add_subcommand(
      "sources", "Show what a memory image holds: its format, physical ranges and CPU state");
  cmd->add_option("image", opts->image, "Memory image (raw, ELF core, LiME, VMware, dump)")
      ->required();
  std::string names;
  for (const auto& f : image_formats()) names += (names.empty() ? "" : ", ") + std::string(f.name);
  cmd->add_option("--format", opts->format, "Image format, instead of recognising it (" + names + ")");
  cmd->add_option("--memory-map", opts->memory_map,
                  "Raw images: file of 'START END' hex lines (END exclusive) or the JSON this "
                  "command prints");
  cmd->add_flag("--json", opts->json, "Print JSON");
  r.add(cmd, [opts] { return run_sources(*opts); });
}

}  // namespace pagedump::cli
