// A sparse physical memory image held in memory, for tests. Declared ranges hold memory that
// reads as zeros until written; everything else is a hole (not_present). Only written pages take
// storage, so a test may declare gigabytes. Optionally the "file" ends at some PA: claimed memory
// from there on reads as truncated, as a short image file would.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/physical_memory.h"

namespace pagedump::test {

class MemoryImage : public PhysicalMemory {
 public:
  explicit MemoryImage(std::string format_name = "memory-image");

  // Declares [pa, pa + size) as memory (merging with ranges it touches). Keeps written bytes.
  void map(std::uint64_t pa, std::uint64_t size);
  // Makes [pa, pa + size) a hole again and forgets the bytes written there.
  void unmap(std::uint64_t pa, std::uint64_t size);
  // Claimed memory at PAs >= pa reads as truncated (file_offset = the PA); nullopt undoes it.
  void truncate_at(std::optional<std::uint64_t> pa) { truncated_from_ = pa; }

  // Writes into declared memory; throws std::logic_error if any byte is in a hole.
  void write(std::uint64_t pa, std::span<const std::byte> bytes);
  void write(std::uint64_t pa, std::string_view text);
  void write_u64(std::uint64_t pa, std::uint64_t value);
  void write_u32(std::uint64_t pa, std::uint32_t value);
  void fill(std::uint64_t pa, std::uint64_t size, std::byte value);

  // Reads that must succeed (throw pagedump::Error otherwise).
  std::uint64_t read_u64(std::uint64_t pa) const;
  std::uint32_t read_u32(std::uint64_t pa) const;

  void set_cpus(std::vector<CpuState> cpus) { cpus_ = std::move(cpus); }
  // From now on stored_extent reports declared memory never written as zeros known without
  // reading, as a sparse file reports its holes (by default everything is bytes to read).
  void report_unwritten_as_known_zero() { unwritten_known_zero_ = true; }

  // Number of read_physical calls so far (lets tests see what a cache saved).
  std::uint64_t read_calls() const noexcept { return read_calls_; }

  std::string_view format_name() const override { return name_; }
  std::span<const PhysicalRange> ranges() const override { return ranges_; }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override;
  std::span<const CpuState> cpus() const override { return cpus_; }
  StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const override;

 private:
  using Page = std::array<std::byte, kPageSize>;
  const PhysicalRange* range_at(std::uint64_t pa) const;

  std::string name_;
  std::vector<PhysicalRange> ranges_;    // ascending, disjoint, not touching
  std::map<std::uint64_t, Page> pages_;  // written pages, by page number
  std::optional<std::uint64_t> truncated_from_;
  std::vector<CpuState> cpus_;
  mutable std::uint64_t read_calls_ = 0;
  bool unwritten_known_zero_ = false;
};

}  // namespace pagedump::test
