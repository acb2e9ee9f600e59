#include "pagedump/synth/guest_paging.h"

#include <stdexcept>

namespace pagedump::synth {

GuestPaging::GuestPaging(SparseMemory& mem, Mode mode, std::uint64_t root_pa,
                         PageAllocator table_pages)
    : mem_(mem), mode_(mode), root_(root_pa), alloc_(std::move(table_pages)) {
  if (mode_ == Mode::pae) {
    // The PDPT's four entries hold only Present (the other low bits are reserved in PAE),
    // and the directories sit right after it: the shape a PAE DTB scan expects (§6.6).
    for (std::uint64_t i = 0; i < 4; ++i) {
      mem_.put<std::uint64_t>(root_ + i * 8, (root_ + 0x1000 * (i + 1)) | pte::kPresent);
    }
  }
}

std::uint64_t GuestPaging::descend(std::uint64_t table_pa, std::uint64_t index,
                                   std::uint64_t flags) {
  std::uint64_t at = entry_address(table_pa, index);
  auto e = mem_.get<std::uint64_t>(at);
  if (e & pte::kPresent) {
    if (e & pte::kLarge) throw std::logic_error("guest paging: mapping inside a large page");
    if ((flags & pte::kUser) && !(e & pte::kUser)) mem_.put<std::uint64_t>(at, e | pte::kUser);
    return e & pte::kAddressMask;
  }
  std::uint64_t page = alloc_();
  mem_.put<std::uint64_t>(at, page | pte::kKernel | (flags & pte::kUser));
  return page;
}

void GuestPaging::map_4k(std::uint64_t va, std::uint64_t pa, std::uint64_t flags) {
  std::uint64_t pt = 0;
  if (mode_ == Mode::x64) {
    std::uint64_t pdpt = descend(root_, (va >> 39) & 0x1FF, flags);
    std::uint64_t pd = descend(pdpt, (va >> 30) & 0x1FF, flags);
    pt = descend(pd, (va >> 21) & 0x1FF, flags);
  } else {
    std::uint64_t pd = root_ + 0x1000 * (((va >> 30) & 3) + 1);
    pt = descend(pd, (va >> 21) & 0x1FF, flags);
  }
  mem_.put<std::uint64_t>(entry_address(pt, (va >> 12) & 0x1FF), (pa & pte::kAddressMask) | flags);
}

void GuestPaging::map_2m(std::uint64_t va, std::uint64_t pa, std::uint64_t flags) {
  if (va % 0x200000 || pa % 0x200000) throw std::logic_error("guest paging: unaligned 2 MiB page");
  std::uint64_t pd = 0;
  if (mode_ == Mode::x64) {
    std::uint64_t pdpt = descend(root_, (va >> 39) & 0x1FF, flags);
    pd = descend(pdpt, (va >> 30) & 0x1FF, flags);
  } else {
    pd = root_ + 0x1000 * (((va >> 30) & 3) + 1);
  }
  mem_.put<std::uint64_t>(entry_address(pd, (va >> 21) & 0x1FF), pa | flags | pte::kLarge);
}

std::optional<std::uint64_t> GuestPaging::translate(std::uint64_t va) const {
  std::uint64_t table = 0;
  if (mode_ == Mode::x64) {
    auto e = mem_.get<std::uint64_t>(entry_address(root_, (va >> 39) & 0x1FF));
    if (!(e & pte::kPresent)) return std::nullopt;
    e = mem_.get<std::uint64_t>(entry_address(e & pte::kAddressMask, (va >> 30) & 0x1FF));
    if (!(e & pte::kPresent)) return std::nullopt;
    table = e & pte::kAddressMask;
  } else {
    auto e = mem_.get<std::uint64_t>(root_ + ((va >> 30) & 3) * 8);
    if (!(e & pte::kPresent)) return std::nullopt;
    table = e & pte::kAddressMask;
  }
  auto pde = mem_.get<std::uint64_t>(entry_address(table, (va >> 21) & 0x1FF));
  if (!(pde & pte::kPresent)) return std::nullopt;
  if (pde & pte::kLarge) return (pde & pte::kAddressMask & ~0x1FFFFFull) | (va & 0x1FFFFF);
  auto e = mem_.get<std::uint64_t>(entry_address(pde & pte::kAddressMask, (va >> 12) & 0x1FF));
  if (!(e & pte::kPresent)) return std::nullopt;
  return (e & pte::kAddressMask) | (va & 0xFFF);
}

void GuestPaging::install_self_map(std::uint32_t index) {
  if (mode_ != Mode::x64 || index < 0x100 || index > 0x1FF) {
    throw std::logic_error("guest paging: self-map index");
  }
  mem_.put<std::uint64_t>(entry_address(root_, index), root_ | pte::kKernel);
}

void GuestPaging::install_pae_self_map() {
  if (mode_ != Mode::pae) throw std::logic_error("guest paging: not PAE");
  std::uint64_t pd3 = root_ + 0x4000;
  for (std::uint64_t i = 0; i < 4; ++i) {
    mem_.put<std::uint64_t>(entry_address(pd3, i), (root_ + 0x1000 * (i + 1)) | pte::kKernel);
  }
}

}  // namespace pagedump::synth
