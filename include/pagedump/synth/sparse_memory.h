// Byte-addressed memory that stores only the pages written to it: a synthetic guest's
// physical memory (or a PE image by RVA) costs what it holds, not what it spans. Pages never
// written read as zeros.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string_view>

namespace pagedump::synth {

class SparseMemory {
 public:
  static constexpr std::uint64_t kPage = 0x1000;
  using Page = std::array<std::byte, kPage>;

  void write(std::uint64_t addr, std::span<const std::byte> bytes);
  void read(std::uint64_t addr, std::span<std::byte> out) const;
  void fill(std::uint64_t addr, std::uint64_t size, std::byte value);

  template <class T>
  void put(std::uint64_t addr, const T& value) {
    write(addr, std::as_bytes(std::span(&value, 1)));
  }
  template <class T>
  T get(std::uint64_t addr) const {
    T v;
    read(addr, std::as_writable_bytes(std::span(&v, 1)));
    return v;
  }
  void put_string(std::uint64_t addr, std::string_view s);  // plus a NUL

  // Written pages by page number (address / kPage), ascending.
  const std::map<std::uint64_t, Page>& pages() const noexcept { return pages_; }

 private:
  std::map<std::uint64_t, Page> pages_;
};

}  // namespace pagedump::synth
