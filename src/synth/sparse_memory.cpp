#include "pagedump/synth/sparse_memory.h"

#include <algorithm>

namespace pagedump::synth {

void SparseMemory::write(std::uint64_t addr, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    std::uint64_t off = addr % kPage;
    std::size_t n = std::min<std::size_t>(bytes.size(), kPage - off);
    Page& page = pages_.try_emplace(addr / kPage).first->second;  // value-initialised: zeros
    std::memcpy(page.data() + off, bytes.data(), n);
    addr += n;
    bytes = bytes.subspan(n);
  }
}

void SparseMemory::read(std::uint64_t addr, std::span<std::byte> out) const {
  while (!out.empty()) {
    std::uint64_t off = addr % kPage;
    std::size_t n = std::min<std::size_t>(out.size(), kPage - off);
    auto it = pages_.find(addr / kPage);
    if (it == pages_.end()) {
      std::memset(out.data(), 0, n);
    } else {
      std::memcpy(out.data(), it->second.data() + off, n);
    }
    addr += n;
    out = out.subspan(n);
  }
}

void SparseMemory::fill(std::uint64_t addr, std::uint64_t size, std::byte value) {
  Page chunk;
  chunk.fill(value);
  while (size > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, kPage - addr % kPage));
    write(addr, std::span(chunk.data(), n));
    addr += n;
    size -= n;
  }
}

void SparseMemory::put_string(std::uint64_t addr, std::string_view s) {
  write(addr, std::as_bytes(std::span(s.data(), s.size())));
  put<std::uint8_t>(addr + s.size(), 0);
}

}  // namespace pagedump::synth
