#include "verify_context.h"

#include <algorithm>
#include <array>

namespace pagedump::verify::detail {

bool Context::failed(std::string_view id_prefix) const {
  return std::any_of(checks.begin(), checks.end(), [&](const Check& k) {
    return k.status == CheckStatus::fail && std::string_view(k.id).starts_with(id_prefix);
  });
}

std::optional<std::uint64_t> Context::read_ptr(std::uint64_t va) const {
  return vm ? vm->read_pointer(kva(va), is64) : std::nullopt;
}

std::optional<std::string> Context::read_unicode_string(std::uint64_t va) const {
  std::uint16_t length = 0;
  std::uint64_t buffer = 0;
  if (is64) {
    auto s = read_as<std::array<std::uint64_t, 2>>(va);
    if (!s) return std::nullopt;
    length = static_cast<std::uint16_t>((*s)[0] & 0xFFFF);
    buffer = (*s)[1];
  } else {
    auto s = read_as<std::array<std::uint32_t, 2>>(va);
    if (!s) return std::nullopt;
    length = static_cast<std::uint16_t>((*s)[0] & 0xFFFF);
    buffer = (*s)[1];
  }
  length = static_cast<std::uint16_t>(std::min<unsigned>(length & ~1u, 1024));
  std::vector<char16_t> chars(length / 2);
  if (length && !read(buffer, std::as_writable_bytes(std::span(chars)))) return std::nullopt;
  std::string out;
  for (char16_t ch : chars) out += (ch >= 0x20 && ch < 0x7F) ? static_cast<char>(ch) : '?';
  return out;
}

std::string Context::why_unreadable(std::uint64_t va) const {
  if (space) return describe(space->translate(kva(va)), space->mode());
  if (triage_view) return fmt::format("VA {:#x} is not among the VA ranges the small dump carries", va);
  return fmt::format("VA {:#x}: no virtual memory view", va);
}

const ModuleEntry* Context::module_at(std::uint64_t va) const {
  for (const auto& m : modules) {
    if (va >= m.base && va - m.base < m.size) return &m;
  }
  return nullptr;
}

std::string Context::where(std::uint64_t va) const {
  if (!space) return fmt::format("VA {:#x}", va);
  auto t = space->translate(kva(va));
  if (!t) return fmt::format("VA {:#x}", va);
  auto off = dump->page_file_offset(t.pa / 0x1000);
  return off ? fmt::format("VA {:#x} (PA {:#x}, file offset {:#x})", va, t.pa, *off + t.pa % 0x1000)
             : fmt::format("VA {:#x} (PA {:#x})", va, t.pa);
}

}  // namespace pagedump::verify::detail
