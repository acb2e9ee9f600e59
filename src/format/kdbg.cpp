#include "pagedump/format/kdbg.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace pagedump::format {

KdDebuggerData64 load_kdbg(std::span<const std::byte> bytes) noexcept {
  KdDebuggerData64 k{};
  // An empty span may carry a null data(): memcpy from it is undefined even for 0 bytes.
  if (!bytes.empty()) std::memcpy(&k, bytes.data(), std::min(bytes.size(), sizeof(k)));
  return k;
}

static std::uint64_t bswap64(std::uint64_t v) noexcept {
  return ((v & 0x00000000000000FFull) << 56) | ((v & 0x000000000000FF00ull) << 40) |
         ((v & 0x0000000000FF0000ull) << 24) | ((v & 0x00000000FF000000ull) << 8) |
         ((v & 0x000000FF00000000ull) >> 8) | ((v & 0x0000FF0000000000ull) >> 24) |
         ((v & 0x00FF000000000000ull) >> 40) | ((v & 0xFF00000000000000ull) >> 56);
}

// P = bswap(rol(W ^ WN, WN % 64) ^ KE) ^ WA
std::uint64_t kdbg_decode_word(std::uint64_t word, const KdbgKeys& keys) noexcept {
  std::uint64_t t = word ^ keys.wait_never;
  t = std::rotl(t, static_cast<int>(keys.wait_never & 63));
  t ^= keys.encoded_flag_va;
  t = bswap64(t);
  return t ^ keys.wait_always;
}

// W = ror(bswap(P ^ WA) ^ KE, WN % 64) ^ WN
std::uint64_t kdbg_encode_word(std::uint64_t plain, const KdbgKeys& keys) noexcept {
  std::uint64_t t = bswap64(plain ^ keys.wait_always);
  t ^= keys.encoded_flag_va;
  t = std::rotr(t, static_cast<int>(keys.wait_never & 63));
  return t ^ keys.wait_never;
}

template <class F>
static void transform_words(std::span<std::byte> block, F f) noexcept {
  for (std::size_t off = 0; off + 8 <= block.size(); off += 8) {
    std::uint64_t w;
    std::memcpy(&w, block.data() + off, 8);
    w = f(w);
    std::memcpy(block.data() + off, &w, 8);
  }
}

void kdbg_decode(std::span<std::byte> block, const KdbgKeys& keys) noexcept {
  transform_words(block, [&](std::uint64_t w) { return kdbg_decode_word(w, keys); });
}

void kdbg_encode(std::span<std::byte> block, const KdbgKeys& keys) noexcept {
  transform_words(block, [&](std::uint64_t w) { return kdbg_encode_word(w, keys); });
}

}  // namespace pagedump::format
