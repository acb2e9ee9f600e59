#include "support/written_dump.h"

#include "pagedump/translate/address_space.h"

namespace pagedump::test {

std::set<std::uint64_t> corrected_pages(const PhysicalMemory& guest,
                                        const DiscoveredSystem& system) {
  std::set<std::uint64_t> pages;
  AddressSpace space(guest, system.paging, system.directory_table_base);
  auto add = [&](std::uint64_t va, std::uint64_t size) {
    for (std::uint64_t p = va & ~0xFFFull; p < va + size; p += 0x1000) {
      if (auto t = space.translate(p)) pages.insert(t.pa & ~0xFFFull);
    }
  };
  const std::uint64_t context_size = system.architecture == Architecture::x64 ? 0x4D0 : 0x2CC;
  if (system.kdbg_encoded) {
    add(system.kdbg_va, system.kdbg_block.size());
    add(system.kdbg_keys->encoded_flag_va, 1);
  }
  for (const auto& c : system.cpus) {
    if (c.context_va) add(c.context_va, context_size);
    if (c.proc_state_context_va) add(c.proc_state_context_va, context_size);
  }
  return pages;
}

}  // namespace pagedump::test
