// EXCEPTION_RECORD64 / EXCEPTION_RECORD32 (reference §2.4).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pagedump::format {

inline constexpr std::uint32_t kExceptionMaximumParameters = 15;
inline constexpr std::uint32_t kStatusBreakpoint = 0x80000003;
inline constexpr std::uint32_t kExceptionNoncontinuable = 1;

struct ExceptionRecord64 {
  std::uint32_t ExceptionCode;
  std::uint32_t ExceptionFlags;
  std::uint64_t ExceptionRecord;
  std::uint64_t ExceptionAddress;
  std::uint32_t NumberParameters;
  std::uint32_t unusedAlignment;
  std::uint64_t ExceptionInformation[kExceptionMaximumParameters];
};
static_assert(sizeof(ExceptionRecord64) == 0x98);
static_assert(offsetof(ExceptionRecord64, ExceptionAddress) == 0x10);
static_assert(offsetof(ExceptionRecord64, NumberParameters) == 0x18);
static_assert(offsetof(ExceptionRecord64, ExceptionInformation) == 0x20);

struct ExceptionRecord32 {
  std::uint32_t ExceptionCode;
  std::uint32_t ExceptionFlags;
  std::uint32_t ExceptionRecord;
  std::uint32_t ExceptionAddress;
  std::uint32_t NumberParameters;
  std::uint32_t ExceptionInformation[kExceptionMaximumParameters];
};
static_assert(sizeof(ExceptionRecord32) == 0x50);
static_assert(offsetof(ExceptionRecord32, ExceptionAddress) == 0x0C);
static_assert(offsetof(ExceptionRecord32, ExceptionInformation) == 0x14);

}  // namespace pagedump::format
