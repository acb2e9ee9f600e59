// EPROCESS offsets the KDBG does not carry (UniqueProcessId, ActiveProcessLinks,
// ImageFileName), by build. Source: the public type information of each kernel as listed by
// the Vergilius Project (vergiliusproject.com, "_EPROCESS" per build). When the build is not
// here, or the table's offsets do not validate on the System process, kernel_lists.cpp derives
// them from the System process itself.
#pragma once

#include <cstdint>
#include <optional>

namespace pagedump::discovery {

struct EprocessOffsets {
  std::uint16_t unique_process_id;
  std::uint16_t active_process_links;
  std::uint16_t image_file_name;
};

struct EprocessOffsetsRow {
  bool x64;
  std::uint32_t first_build;
  std::uint32_t last_build;
  EprocessOffsets offsets;
};

inline constexpr EprocessOffsetsRow kEprocessOffsets[] = {
    {true, 7600, 7601, {0x180, 0x188, 0x2e0}},     // Windows 7 / 2008 R2
    {true, 9200, 9600, {0x2e0, 0x2e8, 0x438}},     // Windows 8, 8.1
    {true, 10240, 10240, {0x2e8, 0x2f0, 0x448}},   // 10 1507
    {true, 10586, 14393, {0x2e8, 0x2f0, 0x450}},   // 10 1511, 1607
    {true, 15063, 17763, {0x2e0, 0x2e8, 0x450}},   // 10 1703 .. 1809
    {true, 18362, 18363, {0x2e8, 0x2f0, 0x450}},   // 10 1903, 1909
    {true, 19041, 22631, {0x440, 0x448, 0x5a8}},   // 10 2004 .. 11 23H2
    {true, 26100, 26100, {0x1d0, 0x1d8, 0x338}},   // 11 24H2
    {false, 7600, 7601, {0xb4, 0xb8, 0x16c}},      // Windows 7 x86
};

inline std::optional<EprocessOffsets> eprocess_offsets(bool x64, std::uint32_t build) {
  for (const auto& row : kEprocessOffsets) {
    if (row.x64 == x64 && build >= row.first_build && build <= row.last_build) return row.offsets;
  }
  return std::nullopt;
}

}  // namespace pagedump::discovery
