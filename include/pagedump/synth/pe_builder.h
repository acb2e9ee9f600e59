// Writes PE images for tests, laid out as mapped in memory (RVA-addressed): the headers, a
// section table, an export directory and a CodeView RSDS debug record, through a callback so
// the image can land in a flat buffer or straight into a guest's memory. Only what a reader
// of a mapped image looks at is written; the rest of the image reads as zeros.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/pe/pe_image.h"

namespace pagedump::synth {

struct PeSectionSpec {
  std::string name;  // up to 8 characters
  std::uint32_t rva = 0;
  std::uint32_t virtual_size = 0;
  std::uint32_t characteristics = 0;
};

struct PeExportSpec {
  std::string name;
  std::uint32_t rva = 0;
};

struct PeSpec {
  bool pe32_plus = true;
  std::uint16_t machine = 0x8664;
  std::uint64_t image_base = 0;
  std::uint32_t size_of_image = 0x10000;
  std::uint32_t size_of_headers = 0x1000;
  std::uint32_t time_date_stamp = 0;
  std::uint32_t checksum = 0;
  std::uint32_t entry_point_rva = 0;
  std::uint32_t e_lfanew = 0x108;  // where link.exe puts it for the kernel
  std::vector<PeSectionSpec> sections;

  // Export directory at export_rva (none when 0): the DLL name, then its tables and names.
  std::uint32_t export_rva = 0;
  std::string dll_name;
  std::vector<PeExportSpec> exports;  // written sorted by name, as the loader requires

  // Debug directory (one CodeView entry) at debug_rva (none when 0 or no codeview).
  std::uint32_t debug_rva = 0;
  std::optional<pe::CodeViewPdb> codeview;
};

using ImageWriter = std::function<void(std::uint32_t rva, std::span<const std::byte> bytes)>;

// Writes the image's headers and directories through `write`.
void write_pe(const PeSpec& spec, const ImageWriter& write);

// The whole image as a flat buffer of size_of_image bytes (for small test images).
std::vector<std::byte> build_pe(const PeSpec& spec);

// The byte size the export directory of `spec` occupies at export_rva.
std::uint32_t export_directory_size(const PeSpec& spec);

}  // namespace pagedump::synth
