// Complete dumps: the header, then each run's pages back to back (DumpType 1), or a full
// bitmap dump (DumpType 5) through the shared page-set writer. Memory stays flat: pages are
// streamed in chunks.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "dump_finishing.h"
#include "page_set_writer.h"
#include "page_stream.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/error.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/io/output_file.h"
#include "pagedump/io/progress.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump {
namespace {

using namespace format;
using writer::Overlays;

using writer::DumpTarget;
using writer::PfnRun;

bool image_holds(const PhysicalMemory& image, std::uint64_t pa, std::uint64_t size) {
  for (const auto& r : image.ranges()) {
    if (pa >= r.base && pa + size <= r.end()) return true;
  }
  return false;
}

// The pages a complete dump stores: the kernel's own runs, else the image's ranges.
std::vector<PfnRun> dump_runs(const PhysicalMemory& image, const DiscoveredSystem& system,
                              std::vector<std::string>& notes, bool& all_in_image) {
  std::vector<PfnRun> runs;
  all_in_image = true;
  for (auto [base, count] : system.physical_memory_runs) {
    if (count == 0) continue;
    runs.push_back({base, count});
    if (!image_holds(image, base * kPageSize, count * kPageSize)) all_in_image = false;
  }
  if (runs.empty()) {
    notes.push_back("the kernel's physical memory descriptor was not read; the image's ranges "
                    "are used");
    for (const auto& r : image.ranges()) {
      const std::uint64_t first = (r.base + kPageSize - 1) / kPageSize;
      const std::uint64_t last = r.end() / kPageSize;
      if (last > first) runs.push_back({first, last - first});
    }
  }
  std::sort(runs.begin(), runs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return runs;
}

// Intersects runs with the image's ranges (pages the image does not hold are left out).
std::vector<PfnRun> clip_to_image(const PhysicalMemory& image, const std::vector<PfnRun>& runs) {
  std::vector<PfnRun> out;
  for (const auto& run : runs) {
    for (const auto& r : image.ranges()) {
      const std::uint64_t a = std::max(run.first, (r.base + kPageSize - 1) / kPageSize);
      const std::uint64_t b = std::min(run.first + run.count, r.end() / kPageSize);
      if (b > a) out.push_back({a, b - a});
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return out;
}

// DumpType 1: the header's runs, then their pages back to back. All-zero pages stay holes of
// the output (the file is extended to its size): they read back as zeros, and a sparse capture
// does not turn into gigabytes of written zeros.
DumpWriteResult write_runs(const PhysicalMemory& image, const DiscoveredSystem& system,
                           std::vector<std::byte> header, const std::vector<PfnRun>& runs,
                           const CompleteDumpOptions& options, std::vector<std::string> notes) {
  const auto start = std::chrono::steady_clock::now();
  const Overlays overlays = writer::consistency_overlays(image, system, notes);
  DumpWriteResult result;
  result.notes = std::move(notes);
  const std::uint64_t first_page = header.size();
  std::uint64_t pages = 0;
  for (const auto& r : runs) pages += r.count;
  writer::check_free_space(writer::target_of(options), first_page + pages * kPageSize, first_page,
                           pages * kPageSize);

  OutputFile out(options.output, options.force, options.sync);
  Progress progress("writing " + options.output, pages * kPageSize, options.quiet);
  std::uint64_t written_pages = 0;
  writer::PageStream stream(image, overlays);
  for (const auto& run : runs) {
    stream.stream(run, [&](const writer::PageSpan& span) {
      if (!span.zero()) out.write_at(first_page + written_pages * kPageSize, span.bytes);
      written_pages += span.count;
      progress.update(written_pages * kPageSize);
    });
  }
  const std::uint64_t file_size = first_page + written_pages * kPageSize;
  out.truncate(file_size);
  const auto type = static_cast<std::uint32_t>(DumpType::full);
  result.bugcheck =
      writer::finish_and_commit(out, header, system, type, writer::target_of(options), file_size);
  progress.finish();

  result.output = options.output;
  result.dump_type = type;
  result.bytes_written = file_size;
  result.pages = written_pages;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

DumpWriteResult write(const PhysicalMemory& image, const DiscoveredSystem& system,
                      std::vector<std::byte> header, std::vector<PfnRun> runs, bool bitmap,
                      const CompleteDumpOptions& options, std::vector<std::string> notes) {
  if (!bitmap) return write_runs(image, system, std::move(header), runs, options, std::move(notes));
  writer::BitmapDumpSpec spec;
  spec.dump_type = static_cast<std::uint32_t>(DumpType::bitmap_full);
  spec.signature = kFullDumpSignature;
  spec.omit_zero_pages = options.omit_zero_pages;
  return writer::write_bitmap_dump(image, system, std::move(header),
                                   writer::RunListPageSet(std::move(runs)), spec,
                                   writer::target_of(options), std::move(notes));
}

}  // namespace

DumpWriteResult write_complete_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                    const CompleteDumpOptions& options) {
  std::vector<std::string> notes;
  bool all_in_image = true;
  auto runs = dump_runs(image, system, notes, all_in_image);
  const std::size_t capacity = system.architecture == Architecture::x64 ? kMaxRuns64 : kMaxRuns32;
  bool bitmap = options.layout == CompleteDumpLayout::bitmap;
  if (!all_in_image) {
    if (options.layout == CompleteDumpLayout::runs) {
      throw Error(ErrorKind::inconsistent,
                  "the kernel's physical memory runs are not all in the image; a complete dump "
                  "with runs would claim memory the image does not hold (use --type bitmap)");
    }
    notes.push_back("some of the kernel's physical memory runs are not in the image: a bitmap "
                    "dump of the pages the image holds is written");
    runs = clip_to_image(image, runs);
    bitmap = true;
  }
  if (!bitmap && runs.size() > capacity) {
    if (options.layout == CompleteDumpLayout::runs) {
      throw Error(ErrorKind::unsupported,
                  fmt::format("{} physical memory runs do not fit in the header ({} at most); "
                              "use --type bitmap",
                              runs.size(), capacity));
    }
    notes.push_back(fmt::format("{} runs do not fit in the header ({} at most): a bitmap dump is "
                                "written",
                                runs.size(), capacity));
    bitmap = true;
  }
  std::vector<std::byte> header(crash_dump_header_size(system));
  if (bitmap) {
    fill_system_header(system, header, false);
  } else {
    std::uint32_t needed = 0;
    auto status = ke_initialize_crash_dump_header(system, PAGEDUMP_DUMP_TYPE_FULL, 0, header.data(),
                                                  static_cast<std::uint32_t>(header.size()),
                                                  &needed);
    if (status != PAGEDUMP_STATUS_SUCCESS) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("KeInitializeCrashDumpHeader failed with {:#x}",
                              static_cast<std::uint32_t>(status)));
    }
  }
  return write(image, system, std::move(header), runs, bitmap, options, std::move(notes));
}

DumpWriteResult attach_complete_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                     std::span<const std::byte> header,
                                     const CompleteDumpOptions& options) {
  const std::size_t size = crash_dump_header_size(system);
  if (header.size() < size) {
    throw Error(ErrorKind::truncated,
                fmt::format("the header is {} bytes; a header for this system is {:#x} bytes",
                            header.size(), size));
  }
  // The header must describe this machine as it is now: same kernel, same memory.
  std::vector<std::byte> expected(size);
  std::uint32_t needed = 0;
  if (ke_initialize_crash_dump_header(system, PAGEDUMP_DUMP_TYPE_FULL, 0, expected.data(),
                                      static_cast<std::uint32_t>(size),
                                      &needed) != PAGEDUMP_STATUS_SUCCESS) {
    throw Error(ErrorKind::unsupported, "this system's memory cannot be described by a complete "
                                        "dump header; use convert --type bitmap");
  }
  const bool is64 = system.architecture == Architecture::x64;
  const std::size_t sig_end = 8;
  const std::size_t block_off = is64 ? offsetof(DumpHeader64, PhysicalMemoryBlock)
                                     : offsetof(DumpHeader32, PhysicalMemoryBlock);
  const std::size_t block_len = kPhysicalMemoryBlockBytes;
  if (!std::equal(header.begin(), header.begin() + sig_end, expected.begin())) {
    throw Error(ErrorKind::not_a_dump,
                "the header file does not start with the signature of this system's dump header "
                "(PAGEDU64 / PAGEDUMP)");
  }
  if (!std::equal(header.begin() + block_off, header.begin() + block_off + block_len,
                  expected.begin() + block_off)) {
    throw Error(ErrorKind::inconsistent,
                "the image's physical memory no longer matches the header's runs (RAM changed "
                "since the header was made): recreate the header with `pagedump header`");
  }
  const std::size_t dtb_off = is64 ? offsetof(DumpHeader64, DirectoryTableBase)
                                   : offsetof(DumpHeader32, DirectoryTableBase);
  const std::size_t kdbg_off = is64 ? offsetof(DumpHeader64, KdDebuggerDataBlock)
                                    : offsetof(DumpHeader32, KdDebuggerDataBlock);
  if (!std::equal(header.begin() + dtb_off, header.begin() + dtb_off + 4, expected.begin() + dtb_off) ||
      !std::equal(header.begin() + kdbg_off, header.begin() + kdbg_off + 4,
                  expected.begin() + kdbg_off)) {
    throw Error(ErrorKind::inconsistent,
                "the header describes another system (directory table base or KDBG differ from "
                "the image's): recreate the header with `pagedump header`");
  }
  std::vector<std::string> notes;
  bool all_in_image = true;
  auto runs = dump_runs(image, system, notes, all_in_image);
  if (!all_in_image) {
    throw Error(ErrorKind::inconsistent,
                "the image does not hold all the memory the header's runs describe: recreate the "
                "header with `pagedump header`");
  }
  return write(image, system, std::vector<std::byte>(header.begin(), header.begin() + size), runs,
               false, options, std::move(notes));
}

}  // namespace pagedump
