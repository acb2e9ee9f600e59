// DBGKD_GET_VERSION64, nt!KdVersionBlock (reference §6.5).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pagedump::format {

struct DbgkdGetVersion64 {
  std::uint16_t MajorVersion;  // 0xF free, 0xC checked; high byte DBGKD_MAJOR_TYPE
  std::uint16_t MinorVersion;  // build
  std::uint8_t ProtocolVersion;
  std::uint8_t KdSecondaryVersion;
  std::uint16_t Flags;
  std::uint16_t MachineType;
  std::uint8_t MaxPacketType;
  std::uint8_t MaxStateChange;
  std::uint8_t MaxManipulate;
  std::uint8_t Simulation;
  std::uint16_t Unused[1];
  std::uint64_t KernBase;
  std::uint64_t PsLoadedModuleList;
  std::uint64_t DebuggerDataList;
};
static_assert(sizeof(DbgkdGetVersion64) == 0x28);
static_assert(offsetof(DbgkdGetVersion64, MinorVersion) == 0x02);
static_assert(offsetof(DbgkdGetVersion64, ProtocolVersion) == 0x04);
static_assert(offsetof(DbgkdGetVersion64, KdSecondaryVersion) == 0x05);
static_assert(offsetof(DbgkdGetVersion64, Flags) == 0x06);
static_assert(offsetof(DbgkdGetVersion64, MachineType) == 0x08);
static_assert(offsetof(DbgkdGetVersion64, MaxPacketType) == 0x0A);
static_assert(offsetof(DbgkdGetVersion64, Simulation) == 0x0D);
static_assert(offsetof(DbgkdGetVersion64, KernBase) == 0x10);
static_assert(offsetof(DbgkdGetVersion64, PsLoadedModuleList) == 0x18);
static_assert(offsetof(DbgkdGetVersion64, DebuggerDataList) == 0x20);

namespace version_flags {
inline constexpr std::uint16_t kMp = 0x1;
inline constexpr std::uint16_t kData = 0x2;
inline constexpr std::uint16_t kPtr64 = 0x4;
}  // namespace version_flags

inline constexpr std::uint16_t kMajorVersionFree = 0xF;
inline constexpr std::uint16_t kMajorVersionChecked = 0xC;

}  // namespace pagedump::format
