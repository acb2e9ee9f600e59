// Page tables of the synthetic guest, written into its sparse physical memory: x64 4-level
// (4 KiB and 2 MiB pages) and x86 PAE (PDPT + 4 page directories). Lookups walk the tables
// just written, so every write the builder does through a VA exercises them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "pagedump/synth/sparse_memory.h"

namespace pagedump::synth {

namespace pte {
inline constexpr std::uint64_t kPresent = 0x1, kWrite = 0x2, kUser = 0x4, kAccessed = 0x20,
                               kDirty = 0x40, kLarge = 0x80;
inline constexpr std::uint64_t kKernel = kPresent | kWrite | kAccessed | kDirty;  // 0x63
inline constexpr std::uint64_t kUserRw = kKernel | kUser;                         // 0x67
inline constexpr std::uint64_t kAddressMask = 0x000FFFFFFFFFF000ull;
}  // namespace pte

class GuestPaging {
 public:
  enum class Mode { x64, pae };
  using PageAllocator = std::function<std::uint64_t()>;  // a fresh, zeroed physical page

  GuestPaging(SparseMemory& mem, Mode mode, std::uint64_t root_pa, PageAllocator table_pages);

  Mode mode() const noexcept { return mode_; }
  // x64: the PML4; PAE: the PDPT (the 4 page directories follow it, one page apart).
  std::uint64_t root() const noexcept { return root_; }

  void map_4k(std::uint64_t va, std::uint64_t pa, std::uint64_t flags = pte::kKernel);
  void map_2m(std::uint64_t va, std::uint64_t pa, std::uint64_t flags = pte::kKernel);
  // PA for va, or nullopt when not mapped.
  std::optional<std::uint64_t> translate(std::uint64_t va) const;

  // x64 only: installs PML4[index] -> the PML4 itself.
  void install_self_map(std::uint32_t index);
  // PAE: PD3 entries 0..3 -> the four page directories (PTEs at 0xC0000000).
  void install_pae_self_map();

 private:
  std::uint64_t entry_address(std::uint64_t table_pa, std::uint64_t index) const {
    return table_pa + index * 8;
  }
  // The next-level table behind entry (table_pa, index), created when absent.
  std::uint64_t descend(std::uint64_t table_pa, std::uint64_t index, std::uint64_t flags);

  SparseMemory& mem_;
  Mode mode_;
  std::uint64_t root_;
  PageAllocator alloc_;
};

}  // namespace pagedump::synth
