// KDBG: a plain block by its tag and self-consistency, or an encoded one (Windows 8+ x64) by
// recognising KdCopyDataBlock in the kernel's code and decoding with the keys it names
// (reference §6.3, §6.4). A block is accepted only if its OwnerTag is 'KDBG', its Size is
// plausible and KernBase equals the kernel base found earlier.
#include <algorithm>
#include <array>
#include <cstring>

#include "discovery_context.h"
#include "pagedump/discovery/kdcopy_pattern.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint64_t kMaxImageScan = 64ull << 20;

using format::DbgkdDebugDataHeader64;
using format::KdbgKeys;

// True when the source knows, without reading, that the page at va holds zeros (a hole of a
// sparse image): no code and no tag to look for there.
bool known_zero_page(const Context& ctx, std::uint64_t va) {
  if (!ctx.space) return false;
  const Translation t = ctx.space->translate(va);
  return t && ctx.memory.known_zero(t.pa, kPageSize);
}

// Reads and (when keys are given) decodes the block at va; accepts it as described above.
bool accept_block(Context& ctx, std::uint64_t va, const std::optional<KdbgKeys>& keys,
                  const std::string& method, std::string& why) {
  std::array<std::byte, sizeof(DbgkdDebugDataHeader64)> head{};
  if (!ctx.read(va, head)) {
    why = fmt::format("{:#x} is not readable", va);
    return false;
  }
  if (keys) format::kdbg_decode(head, *keys);
  auto h = format::load<DbgkdDebugDataHeader64>(head);
  if (h.OwnerTag != format::kKdbgOwnerTag) {
    why = fmt::format("no 'KDBG' tag at {:#x}{}", va, keys ? " after decoding" : "");
    return false;
  }
  if (!format::plausible_kdbg_size(h.Size) || h.Size < 0x290) {
    why = fmt::format("implausible KDBG size {:#x} at {:#x}", h.Size, va);
    return false;
  }
  std::vector<std::byte> block(h.Size);
  if (!ctx.read(va, block)) {
    why = fmt::format("KDBG at {:#x} is not readable over its {:#x} bytes", va, h.Size);
    return false;
  }
  if (keys) format::kdbg_decode(block, *keys);
  auto k = format::load_kdbg(block);
  if (ctx.kva(k.KernBase) != ctx.sys.kernel_base) {
    why = fmt::format("KDBG at {:#x} has KernBase {:#x}, the kernel is at {:#x}", va, k.KernBase,
                      ctx.sys.kernel_base);
    return false;
  }
  ctx.sys.kdbg_va = va;
  ctx.sys.kdbg_encoded = keys.has_value();
  ctx.sys.kdbg_keys = keys;
  ctx.sys.kdbg_method = method;
  ctx.sys.kdbg_block = std::move(block);
  ctx.sys.kdbg = k;
  ctx.log("kdbg: {:#x} ({} bytes{}) by {}", va, h.Size, keys ? ", encoded" : "", method);
  return true;
}

bool find_plain_in_image(Context& ctx) {
  const std::uint64_t size = std::min<std::uint64_t>(ctx.sys.kernel_size, kMaxImageScan);
  std::vector<std::byte> page(kPageSize + 0x18);
  std::size_t tags = 0;
  for (std::uint64_t off = 0; off < size; off += kPageSize) {
    const std::uint64_t va = ctx.sys.kernel_base + off;
    if (known_zero_page(ctx, va) || !ctx.read(va, std::span(page).first(kPageSize))) continue;
    for (std::size_t i = 0x10; i + 4 <= kPageSize; i += 8) {
      std::uint32_t tag;
      std::memcpy(&tag, page.data() + i, 4);
      if (tag != format::kKdbgOwnerTag) continue;
      ++tags;
      std::string why;
      if (accept_block(ctx, va + i - 0x10, std::nullopt, "tag scan of the kernel image", why)) {
        return true;
      }
      ctx.log("kdbg: tag at {:#x} rejected: {}", va + i, why);
    }
  }
  ctx.log("kdbg: no plain KDBG in the kernel image ({} tags seen)", tags);
  return false;
}

// Tries KdCopyDataBlock-shaped routines; true when one leads to an accepted block.
bool try_routines(Context& ctx, const std::vector<KdCopyDataBlockMatch>& found,
                  std::size_t& matches) {
  std::string why;
  for (const auto& m : found) {
    ++matches;
    auto flag = ctx.read_as<std::uint8_t>(m.encoded_flag_va);
    for (std::uint64_t candidate : m.lea_targets) {
      // Debugger enabled, or already decoded in place: the block is plain.
      if (accept_block(ctx, candidate, std::nullopt,
                       fmt::format("KdCopyDataBlock at {:#x} (block not encoded)", m.cmp_va),
                       why)) {
        return true;
      }
      for (std::size_t a = 0; a < m.qword_loads.size(); ++a) {
        for (std::size_t b = a + 1; b < m.qword_loads.size(); ++b) {
          auto wn = ctx.read_as<std::uint64_t>(m.qword_loads[a]);
          auto wa = ctx.read_as<std::uint64_t>(m.qword_loads[b]);
          if (!wn || !wa) continue;
          KdbgKeys keys{*wn, *wa, m.encoded_flag_va};
          if (accept_block(ctx, candidate, keys,
                           fmt::format("KdCopyDataBlock at {:#x}: decoded with KiWaitNever "
                                       "[{:#x}], KiWaitAlways [{:#x}], KdpDataBlockEncoded "
                                       "{:#x} (flag {})",
                                       m.cmp_va, m.qword_loads[a], m.qword_loads[b],
                                       m.encoded_flag_va, flag ? int(*flag) : -1),
                           why)) {
            return true;
          }
        }
      }
      ctx.log("kdbg: KdCopyDataBlock at {:#x}, candidate {:#x}: {}", m.cmp_va, candidate, why);
    }
  }
  return false;
}

bool find_encoded(Context& ctx) {
  std::string why;
  auto id = read_image_identity(*ctx.space, ctx.sys.kernel_base, why);
  if (!id) {
    ctx.log("kdbg: kernel headers unreadable: {}", why);
    return false;
  }
  std::size_t matches = 0;
  // At most kMaxImageScan bytes over all code sections, and only inside the image: a header
  // may claim many large sections.
  std::uint64_t budget = kMaxImageScan;
  KdCopyScanner scanner;  // memory bounded by its block, whatever the sections claim
  std::array<std::byte, kPageSize> page{};
  for (auto [rva, size] : id->code_sections) {
    if (rva >= id->size_of_image || budget == 0) continue;
    const std::uint64_t len = std::min<std::uint64_t>({size, id->size_of_image - rva, budget});
    budget -= len;
    const std::uint64_t base = ctx.sys.kernel_base + rva;
    // A page that cannot be read (paged out, not captured) holds no code, and must not hide the
    // rest of the section: the scan goes on after it as a new run.
    for (std::uint64_t off = 0; off < len;) {
      const auto piece = std::span(page).first(
          static_cast<std::size_t>(std::min<std::uint64_t>(kPageSize, len - off)));
      std::vector<KdCopyDataBlockMatch> found;
      if (known_zero_page(ctx, base + off)) {
        found = scanner.add_zeros(base + off, piece.size());
      } else {
        found = ctx.read(base + off, piece) ? scanner.add(base + off, piece) : scanner.end_run();
      }
      off += piece.size();
      if (try_routines(ctx, found, matches)) return true;
      if (off == len && try_routines(ctx, scanner.end_run(), matches)) return true;
    }
  }
  if (!matches) ctx.log("kdbg: no KdCopyDataBlock-shaped routine in the kernel's code sections");
  return false;
}

}  // namespace

bool find_kdbg(Context& ctx) {
  const auto& o = ctx.options;
  std::string why;
  if (o.kdbg_va) {
    if (accept_block(ctx, *o.kdbg_va, std::nullopt, "--kdbg", why)) return true;
    if (o.kdbg_keys && accept_block(ctx, *o.kdbg_va, o.kdbg_keys, "--kdbg with --kdbg-keys", why)) {
      return true;
    }
    ctx.log("kdbg: --kdbg {:#x}: {}", *o.kdbg_va, why);
  }
  // The code path first on x64: it also finds a plain block (debugger enabled) and reads far
  // less than a tag scan of the whole image.
  if (ctx.is64() && find_encoded(ctx)) return true;
  return find_plain_in_image(ctx);
}

}  // namespace pagedump::discovery
