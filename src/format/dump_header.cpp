#include "pagedump/format/dump_header.h"

#include <string>

namespace pagedump::format {

std::string_view dump_type_name(std::uint32_t type) noexcept {
  switch (type) {
    case 1: return "full";
    case 2: return "summary";
    case 3: return "header";
    case 4: return "triage";
    case 5: return "bitmap-full";
    case 6: return "bitmap-kernel";
    case 7: return "automatic";
    case 8: return "rdmp-kernel";
    case 9: return "rdmp-kernel-active";
    case 0xA: return "rdmp-full";
    default: return "unknown";
  }
}

std::string_view architecture_name(std::uint32_t machine_image_type) noexcept {
  switch (machine_image_type) {
    case machine::kAmd64: return "x64";
    case machine::kI386: return "x86";
    case machine::kArm64: return "arm64";
    case machine::kArmNt: return "arm";
    default: return "unknown";
  }
}

std::string attribute_names(std::uint32_t value) {
  static constexpr const char* kNames[] = {
      "HiberCrash",        "DumpDevicePowerOff",      "InsufficientDumpfileSize",
      "KernelGeneratedTriageDump", "LiveDumpGeneratedDump", "DumpIsGeneratedOffline",
      "FilterDumpFile",    "EarlyBootCrash",          "EncryptedDumpData",
      "DecryptedDump"};
  std::string out;
  for (unsigned bit = 0; bit < 32; ++bit) {
    if (!(value & (1u << bit))) continue;
    if (!out.empty()) out += '|';
    out += bit < std::size(kNames) ? std::string(kNames[bit]) : "bit" + std::to_string(bit);
  }
  return out;
}

}  // namespace pagedump::format
