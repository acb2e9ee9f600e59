// Corrections written into a dump's pages (never into the source): bytes meant for a virtual
// address, resolved to the physical pages they land on, applied as pages are copied.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "pagedump/translate/address_space.h"

namespace pagedump::writer {

class Overlays {
 public:
  // Adds `bytes` at `va`, split over the pages it spans. Returns false, with a note, when a
  // page of it does not translate (that part is then left as the source has it).
  bool add_virtual(const AddressSpace& space, std::uint64_t va, std::span<const std::byte> bytes,
                   const std::string& what, std::vector<std::string>& notes);
  // Marks the page `va` lies in as one the dump holds even when it is all zeros, as a corrected
  // page is: what a debugger reads first (a processor's stack page, its KPRCB), which a bitmap
  // dump that leaves zero pages out would otherwise make missing memory. False when `va` does
  // not translate.
  bool keep_virtual(const AddressSpace& space, std::uint64_t va);
  // Patches the part of [pa, pa + chunk.size()) the overlays cover.
  void apply(std::uint64_t pa, std::span<std::byte> chunk) const;
  // The first page-aligned address in [pa, end) whose page carries an overlay or is kept; `end`
  // if none.
  std::uint64_t first_page_touched(std::uint64_t pa, std::uint64_t end) const;
  bool empty() const noexcept { return patches_.empty() && kept_.empty(); }

 private:
  struct Patch {
    std::uint64_t pa;
    std::vector<std::byte> bytes;
  };
  std::vector<Patch> patches_;  // sorted by pa; later additions win where they overlap
  std::set<std::uint64_t> kept_;  // page addresses (a hostile image may name 2048 KPRCBs)
};

}  // namespace pagedump::writer
