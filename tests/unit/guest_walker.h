// A deliberately small page-table walker for the guest tests, independent of the guest
// builder's own: x64 4-level or PAE, over any PhysicalMemory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "pagedump/physical_memory.h"
#include "pagedump/virtual_memory.h"

namespace pagedump::test {

class Walker : public VirtualMemory {
 public:
  Walker(const PhysicalMemory& pm, std::uint64_t cr3, bool pae)
      : pm_(pm), cr3_(cr3 & ~0xFFFull), pae_(pae) {}

  std::optional<std::uint64_t> translate(std::uint64_t va) const {
    auto q = [&](std::uint64_t pa) -> std::optional<std::uint64_t> {
      std::uint64_t v = 0;
      if (!pm_.read_physical(pa, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
      return v;
    };
    constexpr std::uint64_t kMask = 0x000FFFFFFFFFF000ull;
    std::optional<std::uint64_t> e;
    std::uint64_t table = 0;
    if (!pae_) {
      e = q(cr3_ + ((va >> 39) & 0x1FF) * 8);
      if (!e || !(*e & 1)) return std::nullopt;
      e = q((*e & kMask) + ((va >> 30) & 0x1FF) * 8);
      if (!e || !(*e & 1)) return std::nullopt;
      if (*e & 0x80) return (*e & kMask & ~0x3FFFFFFFull) | (va & 0x3FFFFFFF);
      table = *e & kMask;
    } else {
      e = q((cr3_ & ~0x1Full) + ((va >> 30) & 3) * 8);
      if (!e || !(*e & 1)) return std::nullopt;
      table = *e & kMask;
    }
    e = q(table + ((va >> 21) & 0x1FF) * 8);
    if (!e || !(*e & 1)) return std::nullopt;
    if (*e & 0x80) {
      last_large_ = true;
      return (*e & kMask & ~0x1FFFFFull) | (va & 0x1FFFFF);
    }
    last_large_ = false;
    e = q((*e & kMask) + ((va >> 12) & 0x1FF) * 8);
    if (!e || !(*e & 1)) return std::nullopt;
    return (*e & kMask) | (va & 0xFFF);
  }

  ReadResult read_virtual(std::uint64_t va, std::span<std::byte> out) const override {
    std::size_t done = 0;
    while (done < out.size()) {
      auto pa = translate(va + done);
      if (!pa) return {ReadStatus::not_mapped, va + done, 0};
      std::size_t n = std::min<std::size_t>(out.size() - done, 0x1000 - (va + done) % 0x1000);
      auto r = pm_.read_physical(*pa, out.subspan(done, n));
      if (!r) return r;
      done += n;
    }
    return {};
  }

  template <class T>
  T get(std::uint64_t va) const {
    T v{};
    read_virtual_or_throw(va, std::as_writable_bytes(std::span(&v, 1)));
    return v;
  }
  std::uint64_t ptr(std::uint64_t va) const {
    return pae_ ? get<std::uint32_t>(va) : get<std::uint64_t>(va);
  }
  std::string utf16(std::uint64_t unicode_string_va) const {
    auto len = get<std::uint16_t>(unicode_string_va);
    std::uint64_t buf = ptr(unicode_string_va + (pae_ ? 4 : 8));
    std::string s;
    for (std::uint16_t i = 0; i < len / 2; ++i)
      s.push_back(static_cast<char>(get<std::uint16_t>(buf + 2 * i)));
    return s;
  }
  std::string cstr(std::uint64_t va, std::size_t max) const {
    std::string s;
    for (std::size_t i = 0; i < max; ++i) {
      char c = get<char>(va + i);
      if (!c) break;
      s.push_back(c);
    }
    return s;
  }
  mutable bool last_large_ = false;

 private:
  const PhysicalMemory& pm_;
  std::uint64_t cr3_;
  bool pae_;
};

}  // namespace pagedump::test
