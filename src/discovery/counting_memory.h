// Counts what discovery reads from the image, so `inspect --verbose` can show that it reads
// only what it needs (a 16 GiB image must not be read end to end), and bounds it: past the
// budget every read fails (io_error) and exhausted() is set, so hostile page tables (loops,
// every VA aliasing one page) end discovery with an error instead of hanging it.
#pragma once

#include <atomic>

#include "pagedump/physical_memory.h"

namespace pagedump::discovery {

class CountingMemory final : public PhysicalMemory {
 public:
  CountingMemory(const PhysicalMemory& inner, std::uint64_t budget)
      : inner_(inner), budget_(budget) {}
  std::string_view format_name() const override { return inner_.format_name(); }
  std::span<const PhysicalRange> ranges() const override { return inner_.ranges(); }
  std::span<const CpuState> cpus() const override { return inner_.cpus(); }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override {
    if (bytes_read_.fetch_add(out.size(), std::memory_order_relaxed) + out.size() > budget_) {
      exhausted_.store(true, std::memory_order_relaxed);
      return ReadResult{ReadStatus::io_error, pa, 0};
    }
    return inner_.read_physical(pa, out);
  }
  std::uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }
  bool exhausted() const { return exhausted_.load(std::memory_order_relaxed); }
  std::uint64_t budget() const { return budget_; }

 private:
  const PhysicalMemory& inner_;
  std::uint64_t budget_;
  mutable std::atomic<std::uint64_t> bytes_read_{0};
  mutable std::atomic<bool> exhausted_{false};
};

}  // namespace pagedump::discovery
