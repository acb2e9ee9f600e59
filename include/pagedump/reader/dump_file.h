// A Windows kernel dump file (PAGEDU64 / PAGEDUMP) opened for reading: its header, normalised
// for both widths, and its physical memory (runs, bitmap or RDMP ranges). Small reads are
// served from a bounded cache of the pages read before, large ones with one pread per stretch
// the file stores contiguously. Memory use does not grow with the size of the dump: the bitmap is
// read on demand through a small rank index, and the page cache has a fixed capacity. Const
// members are safe to call from several threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pagedump/format/context_registers.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/io/input_file.h"
#include "pagedump/physical_memory.h"

namespace pagedump {

namespace reader_detail {
class PageCache;
}
namespace io_detail {
class MappedView;
}

// Header fields of either width. A field that still holds the writer's "PAGE" fill is nullopt.
struct DumpHeaderInfo {
  bool is64 = true;             // PAGEDU64 (true) or PAGEDUMP (false)
  std::uint32_t dump_type = 0;  // always set: open() rejects unknown values
  std::optional<std::uint32_t> machine_image_type;
  std::optional<std::uint32_t> major_version;
  std::optional<std::uint32_t> minor_version;  // build number
  std::optional<std::uint64_t> directory_table_base;
  std::optional<std::uint64_t> pfn_database;
  std::optional<std::uint64_t> ps_loaded_module_list;
  std::optional<std::uint64_t> ps_active_process_head;
  std::optional<std::uint64_t> kd_debugger_data_block;
  std::optional<std::uint32_t> number_processors;
  std::optional<std::uint32_t> bugcheck_code;
  std::array<std::optional<std::uint64_t>, 4> bugcheck_parameters{};
  std::optional<std::uint64_t> required_dump_space;
  std::optional<std::uint64_t> system_time;     // FILETIME
  std::optional<std::uint64_t> system_up_time;  // 100 ns units
  std::optional<std::uint32_t> mini_dump_fields;
  std::optional<std::uint32_t> secondary_data_state;
  std::optional<std::uint32_t> product_type;
  std::optional<std::uint32_t> suite_mask;
  std::optional<std::uint32_t> writer_status;
  std::optional<std::uint8_t> kd_secondary_version;
  std::optional<std::uint32_t> attributes;
  std::optional<std::uint32_t> boot_id;
  std::optional<std::string> comment;  // up to the first NUL; nullopt when the fill
  std::optional<bool> pae_enabled;     // 32-bit headers only

  std::string_view format() const noexcept { return is64 ? "PAGEDU64" : "PAGEDUMP"; }
  std::size_t header_size() const noexcept {
    return is64 ? format::kHeaderSize64 : format::kHeaderSize32;
  }
  // "x64", "x86", "arm64", "arm" or "unknown".
  std::string_view architecture() const noexcept;
};

// The header's EXCEPTION_RECORD, widened. Fields holding the fill are nullopt.
struct DumpException {
  std::optional<std::uint32_t> code;
  std::optional<std::uint32_t> flags;
  std::optional<std::uint64_t> record;
  std::optional<std::uint64_t> address;
  std::optional<std::uint32_t> number_parameters;
  std::vector<std::uint64_t> parameters;  // the first min(NumberParameters, 15)
};

// One stretch of physical pages stored contiguously in the file.
struct DumpRun {
  std::uint64_t base_page = 0;
  std::uint64_t page_count = 0;
  std::uint64_t file_offset = 0;  // of base_page's data
};

// How the physical memory of the dump is described.
enum class MemoryLayout {
  none,     // header-only (3) and triage (4) dumps: no physical memory
  runs,     // DumpType 1: the header's PHYSICAL_MEMORY_DESCRIPTOR
  bitmap,   // DumpType 5/6 (and the legacy summary 2): a bitmap of present PFNs
  ranges,   // DumpType 8/9/0xA: the RDMP range list
};

struct BitmapSummary {
  std::uint32_t signature = 0;         // 'SDMP' / 'FDMP'
  std::uint32_t dump_options = 0;
  std::uint64_t header_offset = 0;     // file offset of the bitmap / summary header
  std::uint64_t bits_offset = 0;       // file offset of the first bitmap byte
  std::uint64_t first_page_offset = 0;
  std::uint64_t present_pages = 0;
  std::uint64_t bitmap_bits = 0;
  bool legacy_summary = false;         // DumpType 2 layout (SUMMARY_DUMP64/32)
};

struct RdmpSummary {
  std::uint64_t metadata_size = 0;
  std::uint64_t first_page_offset = 0;
  std::uint64_t number_of_ranges = 0;
  std::uint64_t total_pages = 0;
};

// Set when the file ends before the last page the dump describes.
struct TruncationInfo {
  std::uint64_t file_size = 0;
  std::uint64_t expected_size = 0;        // end of the last stored page
  std::uint64_t pages_in_file = 0;        // complete pages present
  std::uint64_t first_missing_page = 0;   // PFN of the first page not (completely) in the file
  std::uint64_t first_missing_offset = 0; // where its data should be
};

struct DumpOpenOptions {
  // Memory the reader may keep of the dump's pages (reads under 64 KiB go through it); 0: none.
  std::size_t cache_bytes = std::size_t(32) << 20;
  // Read pages under 64 KiB through a shared read-only mapping of the file rather than with
  // pread: a page read once costs a page fault instead of a system call, typically twice as fast
  // for a reader that touches thousands of scattered pages (a debugger, a fuzzer's snapshot
  // loader). The cost: the process's resident set counts every page of the file it touched
  // (the system can reclaim them, but they show in RSS), and the mapping installs a
  // process-wide SIGBUS handler, through which a file that shrinks while open, or an I/O
  // error, fails the read with ReadStatus::io_error instead of ending the process. Off by
  // default; large reads, and every read of the command-line tool, use pread.
  bool map_file = false;
};

class DumpFile : public PhysicalMemory {
 public:
  static constexpr std::size_t kDefaultCacheBytes = DumpOpenOptions{}.cache_bytes;

  // Opens and checks a kernel dump; throws pagedump::Error naming the offset and field.
  // cache_bytes bounds the page cache (0: every read is a pread).
  static std::unique_ptr<DumpFile> open(const std::string& path,
                                        std::size_t cache_bytes = kDefaultCacheBytes);
  static std::unique_ptr<DumpFile> open(const std::string& path, const DumpOpenOptions& options);
  ~DumpFile() override;

  const std::string& path() const noexcept { return file_.path(); }
  std::uint64_t file_size() const noexcept { return file_.size(); }
  const InputFile& file() const noexcept { return file_; }
  bool mapped() const noexcept { return mapped_ != nullptr; }  // DumpOpenOptions::map_file

  const DumpHeaderInfo& header() const noexcept { return header_; }
  // The raw header bytes (0x2000 or 0x1000).
  std::span<const std::byte> header_bytes() const noexcept { return raw_header_; }
  format::DumpHeader64 header64() const;  // throws Error(usage) on a 32-bit dump
  format::DumpHeader32 header32() const;  // throws Error(usage) on a 64-bit dump

  std::optional<format::ContextArch> context_arch() const noexcept;
  // The raw header CONTEXT bytes (3000 / 1200), and the registers decoded from it (empty
  // when the machine type is unknown).
  std::span<const std::byte> context_bytes() const noexcept;
  format::NamedRegisters context_registers() const;
  const DumpException& exception() const noexcept { return exception_; }

  MemoryLayout layout() const noexcept { return layout_; }
  // Runs (type 1) or RDMP ranges (8/9/0xA), ascending by base_page; empty otherwise.
  std::span<const DumpRun> runs() const noexcept { return runs_; }
  // Type 1: the descriptor's NumberOfRuns / NumberOfPages.
  std::optional<std::uint64_t> number_of_runs() const noexcept { return number_of_runs_; }
  std::optional<std::uint64_t> number_of_pages() const noexcept { return number_of_pages_; }
  const std::optional<BitmapSummary>& bitmap() const noexcept { return bitmap_; }
  const std::optional<RdmpSummary>& rdmp() const noexcept { return rdmp_; }
  const std::optional<TruncationInfo>& truncated() const noexcept { return truncated_; }
  // Pages the dump stores (present pages), whether or not the file still holds them all.
  std::uint64_t stored_pages() const noexcept { return stored_pages_; }

  // File offset of physical page `pfn`, or nullopt when the dump does not store it.
  std::optional<std::uint64_t> page_file_offset(std::uint64_t pfn) const;

  // PhysicalMemory
  std::string_view format_name() const override;
  std::span<const PhysicalRange> ranges() const override;
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override;

 private:
  explicit DumpFile(InputFile file);
  struct BitmapIndex;

  void parse_header();
  void parse_runs();
  void parse_bitmap(bool legacy);
  void parse_rdmp();
  void compute_truncation();
  // The file offset of pfn, and the bitmap lookup behind it; the page cache's lock held.
  std::optional<std::uint64_t> page_offset_locked(std::uint64_t pfn) const;
  std::optional<std::uint64_t> bitmap_page_index(std::uint64_t pfn) const;
  std::uint64_t bitmap_select(std::uint64_t n) const;  // PFN of the n-th present page

  InputFile file_;
  std::vector<std::byte> raw_header_;
  DumpHeaderInfo header_;
  DumpException exception_;
  MemoryLayout layout_ = MemoryLayout::none;
  std::vector<DumpRun> runs_;
  std::optional<std::uint64_t> number_of_runs_, number_of_pages_;
  std::optional<BitmapSummary> bitmap_;
  std::optional<RdmpSummary> rdmp_;
  std::optional<TruncationInfo> truncated_;
  std::uint64_t stored_pages_ = 0;
  std::unique_ptr<BitmapIndex> bitmap_index_;
  std::unique_ptr<reader_detail::PageCache> cache_;  // and the lock over both caches
  std::unique_ptr<io_detail::MappedView> mapped_;    // with DumpOpenOptions::map_file

  mutable std::once_flag ranges_once_;
  mutable std::vector<PhysicalRange> ranges_;
};

// One-line description of a ReadResult for a dump, adding "the dump is truncated" / "absent
// is not zero" explanations the generic describe() lacks.
std::string describe_dump_read(const DumpFile& dump, const ReadResult& r);

}  // namespace pagedump
