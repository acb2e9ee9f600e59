// KDBG decoding and discovery on small images. The input is
//   [flags u8][keys: wait_never, wait_always, encoded_flag_va: 3 x u64 LE]
//   then records [pfn u32 LE][length u16 LE][bytes]: the pages of a physical image (at most
//   kMaxPages, each at most one page; the rest of a page reads as zeros, other PAs are holes).
// flags bit 0: pass the keys to discovery (--kdbg-keys); bit 1: also name the KDBG VA (the
// first key word). Before discovery, the block decode / load routines run on the first page.
#include <algorithm>
#include <vector>

#include "fuzz_input.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/format/kdbg.h"
#include "support/memory_image.h"

using namespace pagedump;

namespace {
constexpr std::size_t kMaxPages = 256;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  if (size < 25) return 0;
  const std::uint8_t flags = data[0];
  format::KdbgKeys keys{fuzz::le(in, 1, 8), fuzz::le(in, 9, 8), fuzz::le(in, 17, 8)};

  test::MemoryImage image("fuzz");
  std::size_t at = 25, pages = 0;
  std::vector<std::byte> first;
  while (at + 6 <= size && pages < kMaxPages) {
    const std::uint64_t pfn = fuzz::le(in, at, 4);
    const std::size_t len = std::min<std::size_t>(fuzz::le(in, at + 4, 2), kPageSize);
    at += 6;
    const std::size_t n = std::min(len, size - at);
    image.map(pfn * kPageSize, kPageSize);
    image.write(pfn * kPageSize, std::as_bytes(in.subspan(at, n)));
    if (first.empty()) first.assign(reinterpret_cast<const std::byte*>(data + at),
                                    reinterpret_cast<const std::byte*>(data + at + n));
    at += n;
    ++pages;
  }

  // The block routines on raw bytes.
  auto block = first;
  format::kdbg_decode(block, keys);
  (void)format::load_kdbg(block);
  format::kdbg_encode(block, keys);
  if (block != first) __builtin_trap();  // encode must undo decode exactly

  DiscoveryOptions options;
  if (flags & 1) options.kdbg_keys = keys;
  if (flags & 2) options.kdbg_va = keys.wait_never;
  try {
    (void)discover_system(image, options);
  } catch (const Error&) {
  }
  return 0;
}
