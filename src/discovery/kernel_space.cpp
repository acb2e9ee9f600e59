#include <memory>

#include "discovery_context.h"

namespace pagedump::discovery {

std::unique_ptr<AddressSpace> make_kernel_space(const PhysicalMemory& image, PagingMode paging,
                                                std::uint64_t dtb) {
  return std::make_unique<AddressSpace>(image, paging, dtb);
}

}  // namespace pagedump::discovery
