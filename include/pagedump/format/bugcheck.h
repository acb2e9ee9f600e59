// Bugcheck code names, as WinDbg prints them.
#pragma once

#include <cstdint>
#include <string_view>

namespace pagedump::format {

namespace bugcheck {
inline constexpr std::uint32_t kManuallyInitiatedCrash = 0xE2;
inline constexpr std::uint32_t kLiveSystemDump = 0x161;
}  // namespace bugcheck

// The symbolic name, or an empty view for a code pagedump does not know.
std::string_view bugcheck_name(std::uint32_t code) noexcept;

}  // namespace pagedump::format
