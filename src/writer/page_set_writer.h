// Bitmap dumps of a set of physical pages (DumpType 5 'FDMP' and 6 'SDMP', reference §4): a
// stream of ascending PFN runs in; the header, the bitmap and the pages (with the consistency
// overlays) out. The complete dump's bitmap layout and the kernel dump both come through here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump {
class OutputFile;
}

namespace pagedump::writer {

struct PfnRun {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

// A set of physical pages, visited as ascending, non-overlapping runs.
class PageSet {
 public:
  virtual ~PageSet() = default;
  virtual std::uint64_t page_count() const = 0;
  virtual std::uint64_t end_pfn() const = 0;  // one past the highest PFN in the set (0: empty)
  virtual void for_each_run(const std::function<void(const PfnRun&)>& visit) const = 0;
};

// A set held as its runs (complete dumps: the kernel's memory runs).
class RunListPageSet final : public PageSet {
 public:
  explicit RunListPageSet(std::vector<PfnRun> sorted_runs);
  std::uint64_t page_count() const override { return pages_; }
  std::uint64_t end_pfn() const override { return end_; }
  void for_each_run(const std::function<void(const PfnRun&)>& visit) const override;

 private:
  std::vector<PfnRun> runs_;
  std::uint64_t pages_ = 0, end_ = 0;
};

// A set collected page by page in any order (kernel dumps). One bit per PFN, in blocks of
// 2^18 PFNs (1 GiB of memory, 32 KiB of bits) that exist only once a page in them is added:
// memory is at most 32 KiB per GiB of address space that holds a member, i.e. 1/32768 of the
// memory the set describes, never a heap object per page.
class PfnBitmap final : public PageSet {
 public:
  void add(std::uint64_t pfn);
  void add_range(std::uint64_t first, std::uint64_t count);  // [first, first + count)
  bool contains(std::uint64_t pfn) const;
  std::uint64_t page_count() const override { return pages_; }
  std::uint64_t end_pfn() const override;
  void for_each_run(const std::function<void(const PfnRun&)>& visit) const override;

 private:
  static constexpr std::uint64_t kBlockPfns = 1ull << 18;
  using Block = std::vector<std::uint64_t>;  // kBlockPfns / 64 words
  std::map<std::uint64_t, Block> blocks_;
  std::uint64_t pages_ = 0;
};

// Where and how a dump is written, common to every dump type.
struct DumpTarget {
  std::string output;
  bool force = false;
  bool quiet = false;
  std::optional<Bugcheck> bugcheck;
  std::optional<std::uint32_t> bugcheck_cpu;
  std::string source_format;
  std::function<std::uint64_t(const std::string& output)> free_space;  // empty: statvfs
  bool sync = true;  // OutputFile durable
};

// The target named by a writer's options: CompleteDumpOptions and KernelDumpOptions carry
// these fields under the same names.
template <class Options>
DumpTarget target_of(const Options& o) {
  return {o.output,        o.force,      o.quiet, o.bugcheck, o.bugcheck_cpu,
          o.source_format, o.free_space, o.sync};
}

struct BitmapDumpSpec {
  std::uint32_t dump_type = 5;      // 5 full bitmap, 6 kernel bitmap
  std::uint32_t signature = 0;      // 'FDMP' / 'SDMP'
  std::uint32_t dump_options = 0;   // the bitmap header's DumpOptions
  bool omit_zero_pages = false;     // all-zero pages without a correction are not stored
};

// `header` comes from fill_system_header (without runs). Checks the target's free space
// first, writes through OutputFile (atomic), reports progress over the set's pages.
DumpWriteResult write_bitmap_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                  std::vector<std::byte> header, const PageSet& pages,
                                  const BitmapDumpSpec& spec, const DumpTarget& target,
                                  std::vector<std::string> notes);

// The last step of every writer: bugcheck, header context, exception record, comment and
// RequiredDumpSpace into `header`, written at offset 0; then the output is committed.
Bugcheck finish_and_commit(OutputFile& out, std::vector<std::byte>& header,
                           const DiscoveredSystem& system, std::uint32_t dump_type,
                           const DumpTarget& target, std::uint64_t file_size);

// Throws Error(io) when the target's file system has less than `required` bytes free.
void check_free_space(const DumpTarget& target, std::uint64_t required, std::uint64_t header,
                      std::uint64_t memory);

}  // namespace pagedump::writer
