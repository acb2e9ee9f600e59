// Conventions shared by every on-disk structure. All structures in this folder are plain,
// trivially copyable, naturally aligned little-endian layouts; each offset the format
// reference (../shared/docs/dump-format.md) gives is pinned with a static_assert.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace pagedump::format {

static_assert(std::endian::native == std::endian::little,
              "pagedump reads little-endian structures in place");

// Writers fill a dump header with the DWORD "PAGE" before storing what they know; a field
// still holding the fill is "not set" (reference §2.1).
inline constexpr std::uint32_t kFill32 = 0x45474150;  // "PAGE"
inline constexpr std::uint64_t kFill64 = 0x4547415045474150ull;  // "PAGEPAGE"

constexpr bool is_fill(std::uint32_t v) noexcept { return v == kFill32; }
constexpr bool is_fill(std::uint64_t v) noexcept { return v == kFill64; }
// A one- or two-byte field is the fill when it holds the letters of "PAGE" that fall at its
// offset (KdSecondaryVersion at 0x104D and PaeEnabled at 0x5D sit on the 'A').
constexpr bool is_fill_at(std::uint8_t v, std::size_t offset) noexcept {
  return v == static_cast<std::uint8_t>("PAGE"[offset % 4]);
}
constexpr bool is_fill_at(std::uint16_t v, std::size_t offset) noexcept {
  return is_fill_at(static_cast<std::uint8_t>(v & 0xFF), offset) &&
         is_fill_at(static_cast<std::uint8_t>(v >> 8), offset + 1);
}

// Fills a byte range with the "PAGE" pattern, aligned to the start of the range.
inline void fill_page_pattern(std::span<std::byte> bytes) noexcept {
  static constexpr char kPattern[4] = {'P', 'A', 'G', 'E'};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(kPattern[i % 4]);
}

// Four-character tags as they read on disk ("KDBG" -> 0x4742444B).
constexpr std::uint32_t tag(const char (&s)[5]) noexcept {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}

// Loads a structure from bytes (which the caller has bounds-checked).
template <class T>
T load(std::span<const std::byte> bytes, std::size_t offset = 0) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

template <class T>
void store(std::span<std::byte> bytes, std::size_t offset, const T& v) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(bytes.data() + offset, &v, sizeof(T));
}

}  // namespace pagedump::format
