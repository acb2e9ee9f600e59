// Physical memory as every part of pagedump sees it: an image source (raw, ELF core, LiME,
// VMware, an existing dump) or a dump being read. Holes are not memory: a read that touches
// one says so and never invents zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pagedump/cpu_state.h"

namespace pagedump {

inline constexpr std::uint64_t kPageSize = 0x1000;

struct PhysicalRange {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  std::uint64_t end() const noexcept { return base + size; }
  friend bool operator==(const PhysicalRange&, const PhysicalRange&) = default;
};

enum class ReadStatus {
  ok,
  not_present,  // the address is in a hole of the image / not stored in the dump
  truncated,    // the image claims the address, but its file ends before the data
  not_mapped,   // (virtual reads) no valid translation for the address
  io_error,
};

// Outcome of a read. On failure, `address` is the first address that could not be read and
// `file_offset` (when meaningful) where its bytes should have been.
struct ReadResult {
  ReadStatus status = ReadStatus::ok;
  std::uint64_t address = 0;
  std::uint64_t file_offset = 0;
  bool ok() const noexcept { return status == ReadStatus::ok; }
  explicit operator bool() const noexcept { return ok(); }
};

// One-line, human explanation of a failed read ("physical address 0x... is not in the dump").
std::string describe(const ReadResult& r, std::string_view space = "physical");

struct StoredExtent {
  bool known_zero = false;
  std::uint64_t end = 0;
};

class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;

  // Short format name: "raw", "elf-qemu", "lime", "vmware", "dump-full", ...
  virtual std::string_view format_name() const = 0;

  // Physical ranges that hold memory, ascending and non-overlapping.
  virtual std::span<const PhysicalRange> ranges() const = 0;

  // Reads out.size() bytes at physical address pa. Partial success is failure: the
  // result names the first address that could not be read.
  virtual ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const = 0;

  // Processor state captured with the image, if the format carries it.
  virtual std::span<const CpuState> cpus() const { return {}; }

  // How the source stores the stretch of [pa, limit) that starts at pa: zeros it knows
  // without reading them (a hole of a sparse file), or bytes to read, up to `end`. Writers use
  // it to skip the unused RAM of a sparse capture at the speed `cp` skips holes. By default
  // everything is bytes to read.
  virtual StoredExtent stored_extent(std::uint64_t pa, std::uint64_t limit) const {
    (void)pa;
    return {false, limit};
  }

  // True when the source knows, without reading, that all of [pa, pa + size) is zeros
  // (stored_extent says so up to its end): scans for nonzero shapes pass over it.
  bool known_zero(std::uint64_t pa, std::uint64_t size) const;

  // Convenience: throws Error(not_present / truncated / io) with describe() on failure.
  void read_physical_or_throw(std::uint64_t pa, std::span<std::byte> out) const;

  std::uint64_t total_bytes() const;
  bool contains(std::uint64_t pa) const;
};

}  // namespace pagedump
