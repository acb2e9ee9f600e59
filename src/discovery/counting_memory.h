// Counts what discovery reads from the image, so `inspect --verbose` can show that it reads
// only what it needs (a 16 GiB image must not be read end to end), and bounds it: past the
// budget every read fails (io_error) and exhausted() is set, so hostile page tables (loops,
// every VA aliasing one page) end discovery with an error instead of hanging it.
//
// Reads of a page or less are served from one 16 KiB block of the image read whole: the
// kernel-base scan probes two bytes of each page downwards and the code scan reads page by
// page, which were a thousand system calls each, and on a cold cache or a network share a
// thousand reads the file system cannot read ahead. 16 KiB rather than 64: most blocks serve a
// few scattered structures (a table page, a KPRCB, a module header), and copying the other
// 48 KiB of each out of the page cache cost a sparse conversion 0.25 ms of its 7 (105 blocks;
// 4, 8 and 32 KiB measured slower, docs/performance.md). Discovery is single-threaded; so is
// this.
#pragma once

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>

#include "pagedump/physical_memory.h"

namespace pagedump::discovery {

class CountingMemory final : public PhysicalMemory {
 public:
  CountingMemory(const PhysicalMemory& inner, std::uint64_t budget)
      : inner_(inner), budget_(budget) {}
  std::string_view format_name() const override { return inner_.format_name(); }
  std::span<const PhysicalRange> ranges() const override { return inner_.ranges(); }
  std::span<const CpuState> cpus() const override { return inner_.cpus(); }
  StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const override {
    return inner_.stored_extent(pa, limit);
  }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override {
    const std::uint64_t block = pa & ~(kBlock - 1);
    if (out.size() <= kPageSize && pa + out.size() <= block + kBlock && load_block(block)) {
      if (held_zero_) {
        std::memset(out.data(), 0, out.size());
      } else {
        std::memcpy(out.data(), block_->data() + (pa - block), out.size());
      }
      return ReadResult{};
    }
    return read_direct(pa, out);
  }
  std::uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }
  bool exhausted() const { return exhausted_.load(std::memory_order_relaxed); }
  std::uint64_t budget() const { return budget_; }

  static constexpr std::uint64_t kBlock = 16 * 1024;

 private:
  ReadResult read_direct(std::uint64_t pa, std::span<std::byte> out) const {
    if (bytes_read_.fetch_add(out.size(), std::memory_order_relaxed) + out.size() > budget_) {
      exhausted_.store(true, std::memory_order_relaxed);
      return ReadResult{ReadStatus::io_error, pa, 0};
    }
    return inner_.read_physical(pa, out);
  }
  // True when `block` is held. A block the image cannot give whole (a hole, the file's end),
  // or one the budget has no room for, is not retried: its reads go to the image one by one,
  // which then say exactly where the image ends. A block the image knows to be zeros (a hole of
  // a sparse file: most of a sparse capture) is held without being read or filled; it still
  // counts against the budget, so a walk over unused RAM stays bounded.
  bool load_block(std::uint64_t block) const {
    if (held_ == block) return true;
    if (refused_ == block) return false;
    if (bytes_read() + kBlock > budget_) return false;
    held_zero_ = inner_.known_zero(block, kBlock);
    if (held_zero_) {
      bytes_read_.fetch_add(kBlock, std::memory_order_relaxed);
      held_ = block;
      return true;
    }
    if (!block_) block_ = std::make_unique_for_overwrite<std::array<std::byte, kBlock>>();
    if (!read_direct(block, *block_).ok()) {
      held_.reset();
      refused_ = block;
      return false;
    }
    held_ = block;
    return true;
  }

  const PhysicalMemory& inner_;
  std::uint64_t budget_;
  mutable std::atomic<std::uint64_t> bytes_read_{0};
  mutable std::atomic<bool> exhausted_{false};
  mutable std::unique_ptr<std::array<std::byte, kBlock>> block_;
  mutable std::optional<std::uint64_t> held_, refused_;
  mutable bool held_zero_ = false;  // held_ is a block of known zeros; block_ is not its bytes
};

}  // namespace pagedump::discovery
