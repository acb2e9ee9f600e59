#include "pagedump/sources/open_image.h"

#include <array>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/lime.h"
#include "pagedump/sources/dump_source.h"
#include "pagedump/sources/elf_core.h"
#include "pagedump/sources/lime_image.h"
#include "pagedump/sources/raw_image.h"
#include "pagedump/sources/vmware_image.h"

namespace pagedump {
namespace {

constexpr std::array<ImageFormatInfo, 13> kFormats{{
    {"raw", "flat image, file offset = physical address (optionally with --memory-map)", true},
    {"elf-qemu", "ELF core from QEMU dump-guest-memory (paging off), NT_PRSTATUS + QEMU notes", true},
    {"elf-virsh", "ELF core from virsh dump --memory-only (QEMU's writer; same as elf-qemu)", true},
    {"elf-vbox", "ELF core from VBoxManage debugvm dumpvmcore, VBCORE + VBCPU notes", true},
    {"elf", "ELF core whose PT_LOAD p_paddr are physical addresses, without known notes", true},
    {"lime", "LiME capture (lime format)", true},
    {"vmware", "VMware .vmem with its .vmss/.vmsn checkpoint", true},
    {"dump", "Windows kernel dump (full, bitmap or kernel), to be re-typed", true},
    {"hibernation", "Windows hibernation file (hiberfil.sys)", false},
    {"hyperv-saved-state", "Hyper-V saved state (.vmrs/.vsv/.bin)", false},
    {"kdump-compressed", "compressed kdump (makedumpfile/virsh kdump-* formats)", false},
    {"makedumpfile-flat", "makedumpfile flattened format", false},
    {"minidump", "user-mode minidump (MDMP / USERDU64)", false},
}};

bool starts_with(std::span<const std::byte> head, std::string_view magic) {
  return head.size() >= magic.size() && std::memcmp(head.data(), magic.data(), magic.size()) == 0;
}

std::string extension_lower(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

}  // namespace

std::span<const ImageFormatInfo> image_formats() { return kFormats; }

std::string detect_image_format(const InputFile& file) {
  std::array<std::byte, 16> head{};
  const std::size_t n = file.read_at(0, head);
  const std::span<const std::byte> h(head.data(), n);
  if (starts_with(h, "\x7f" "ELF")) return "elf";
  if (n >= 4) {
    std::uint32_t magic32;
    std::memcpy(&magic32, h.data(), 4);
    if (magic32 == format::kLimeMagic) return "lime";
    if (is_vmware_state_magic(magic32)) return "vmware";
  }
  // Hook for the dump reader: any Windows kernel dump becomes a source ("dump").
  if (starts_with(h, "PAGEDU64") || starts_with(h, "PAGEDUMP")) return "dump";
  if (starts_with(h, "MDMP") || starts_with(h, "USERDU64") || starts_with(h, "USERDUMP")) {
    return "minidump";
  }
  for (const char* m : {"hibr", "HIBR", "wake", "WAKE", "RSTR", "rstr"}) {
    if (starts_with(h, m)) return "hibernation";
  }
  if (starts_with(h, "KDUMP   ") || starts_with(h, "DISKDUMP")) return "kdump-compressed";
  if (starts_with(h, "makedumpfile")) return "makedumpfile-flat";
  // Hyper-V saved states have no magic pagedump knows; their names are distinctive.
  const std::string ext = extension_lower(file.path());
  if (ext == ".vmrs" || ext == ".vsv") return "hyperv-saved-state";
  if (ext == ".vmem" && find_vmware_state_for(file.path())) return "vmware";
  return "raw";
}

std::unique_ptr<PhysicalMemory> open_image(const std::string& path, const OpenImageOptions& options) {
  std::string format = options.format;
  if (format.empty()) {
    InputFile f(path);
    format = detect_image_format(f);
  } else {
    bool known = false;
    for (const auto& fi : kFormats) known |= fi.name == format;
    if (!known) {
      std::string names;
      for (const auto& fi : kFormats) {
        if (fi.supported) names += (names.empty() ? "" : ", ") + std::string(fi.name);
      }
      throw Error(ErrorKind::usage,
                  fmt::format("unknown image format '{}' (known: {})", format, names));
    }
  }
  if (!options.memory_map.empty() && format != "raw") {
    throw Error(ErrorKind::usage,
                fmt::format("{}: --memory-map applies to raw images only; this image is '{}', "
                            "which carries its own ranges (use --format raw to override)",
                            path, format));
  }
  if (format == "raw") {
    std::vector<PhysicalRange> ranges;
    if (!options.memory_map.empty()) ranges = parse_memory_map(options.memory_map);
    return open_raw_image(path, std::move(ranges));
  }
  if (format == "elf" || format == "elf-qemu" || format == "elf-virsh" || format == "elf-vbox") {
    return open_elf_core(path);
  }
  if (format == "lime") return open_lime_image(path);
  if (format == "vmware") return open_vmware_image(path);
  if (format == "dump") return open_dump_source(path);
  if (format == "minidump") {
    throw Error(ErrorKind::user_mode_dump,
                fmt::format("{}: a user-mode minidump holds one process, not physical memory; "
                            "pagedump needs a kernel dump or a memory image",
                            path));
  }
  for (const auto& fi : kFormats) {
    if (fi.name == format) {
      throw Error(ErrorKind::unsupported,
                  fmt::format("{}: recognised as {} ('{}'), which pagedump does not read", path,
                              fi.description, fi.name));
    }
  }
  throw Error(ErrorKind::usage, fmt::format("unknown image format '{}'", format));
}

}  // namespace pagedump
