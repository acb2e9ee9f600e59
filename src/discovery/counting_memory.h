// Counts what discovery reads from the image, so `inspect --verbose` can show that it reads
// only what it needs (a 16 GiB image must not be read end to end).
#pragma once

#include <atomic>

#include "pagedump/physical_memory.h"

namespace pagedump::discovery {

class CountingMemory final : public PhysicalMemory {
 public:
  explicit CountingMemory(const PhysicalMemory& inner) : inner_(inner) {}
  std::string_view format_name() const override { return inner_.format_name(); }
  std::span<const PhysicalRange> ranges() const override { return inner_.ranges(); }
  std::span<const CpuState> cpus() const override { return inner_.cpus(); }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override {
    bytes_read_.fetch_add(out.size(), std::memory_order_relaxed);
    return inner_.read_physical(pa, out);
  }
  std::uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

 private:
  const PhysicalMemory& inner_;
  mutable std::atomic<std::uint64_t> bytes_read_{0};
};

}  // namespace pagedump::discovery
