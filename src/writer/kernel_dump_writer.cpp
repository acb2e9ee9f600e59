// Kernel dumps: the set of pages is collected by walking page tables (the kernel half of the
// System DTB; optionally one process's user half) into a PfnBitmap, then written by the shared
// bitmap-dump writer as DumpType 6 'SDMP'.
#include <algorithm>

#include <fmt/format.h>

#include "page_set_writer.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/error.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/writer/kernel_dump.h"

namespace pagedump {
namespace {

using writer::PfnBitmap;

constexpr std::uint64_t kKuserSharedDataX64 = 0xFFFFF78000000000ull;
constexpr std::uint64_t kKuserSharedDataX86 = 0xFFDF0000ull;

// The image's memory as sorted, page-aligned PFN ranges [first, end).
struct HeldPages {
  std::vector<writer::PfnRun> runs;

  explicit HeldPages(const PhysicalMemory& image) {
    for (const auto& r : image.ranges()) {
      const std::uint64_t first = (r.base + kPageSize - 1) / kPageSize;
      const std::uint64_t end = r.end() / kPageSize;
      if (end > first) runs.push_back({first, end - first});
    }
    std::sort(runs.begin(), runs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  }

  // Adds the held pages of [first, first + count) to `set`; returns how many were not held.
  std::uint64_t add(PfnBitmap& set, std::uint64_t first, std::uint64_t count) const {
    std::uint64_t held = 0;
    // Runs are sorted and disjoint: start at the last one beginning at or before `first`
    // (images such as zero-omitting bitmap dumps have many thousands of ranges).
    auto it = std::upper_bound(runs.begin(), runs.end(), first,
                               [](std::uint64_t pfn, const writer::PfnRun& r) { return pfn < r.first; });
    if (it != runs.begin()) --it;
    for (; it != runs.end() && it->first < first + count; ++it) {
      const std::uint64_t a = std::max(first, it->first);
      const std::uint64_t b = std::min(first + count, it->first + it->count);
      if (b > a) {
        set.add_range(a, b - a);
        held += b - a;
      }
    }
    return count - held;
  }
};

struct Collected {
  std::uint64_t leaf_pages_missing = 0;
  std::uint64_t tables_missing = 0;
  WalkSummary walk;
};

// Every leaf page (large pages as their 4 KiB frames) and every table page of [first, last].
Collected collect(const AddressSpace& space, std::uint64_t first, std::uint64_t last,
                  const HeldPages& held, PfnBitmap& set) {
  Collected c;
  c.walk = space.for_each_mapping(
      first, last,
      [&](const Mapping& m) {
        c.leaf_pages_missing += held.add(set, m.pa / kPageSize, m.size / kPageSize);
        return true;
      },
      [&](const TablePage& t) {
        if (t.status == ReadStatus::ok) c.tables_missing += held.add(set, t.pa / kPageSize, 1);
        return true;
      });
  return c;
}

// Reads a pointer-sized kernel variable whose VA the KDBG gives.
std::optional<std::uint64_t> read_variable(const AddressSpace& space, Architecture arch,
                                           std::uint64_t va) {
  if (va == 0) return std::nullopt;
  if (arch == Architecture::x64) {
    std::uint64_t v = 0;
    if (!space.read_virtual(va, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
    return v;
  }
  // KDBG64 holds 32-bit pointers sign-extended (0x82b7... is 0xFFFFFFFF82b7...).
  std::uint32_t v = 0;
  if (!space.read_virtual(va & 0xFFFFFFFFull, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
  return v;
}

std::uint64_t system_range_start(const AddressSpace& space, const DiscoveredSystem& system,
                                 std::vector<std::string>& notes) {
  const std::uint64_t fallback = default_system_range_start(system.architecture);
  const auto v = read_variable(space, system.architecture, system.kdbg.MmSystemRangeStart);
  const bool x64 = system.architecture == Architecture::x64;
  const bool plausible =
      v && (x64 ? *v >= 0xFFFF800000000000ull : (*v >= 0x80000000ull && *v <= 0xC0000000ull));
  if (plausible) return *v;
  notes.push_back(fmt::format("MmSystemRangeStart {}: the kernel half is taken to start at {:#x}",
                              v ? fmt::format("holds an implausible {:#x}", *v)
                              : system.kdbg.MmSystemRangeStart
                                  ? fmt::format("at {:#x} (from the KDBG) could not be read",
                                                system.kdbg.MmSystemRangeStart)
                                  : std::string("is not in the KDBG"),
                              fallback));
  return fallback;
}

std::uint64_t highest_user_address(const AddressSpace& space, const DiscoveredSystem& system,
                                   std::uint64_t range_start, std::vector<std::string>& notes) {
  const bool x64 = system.architecture == Architecture::x64;
  const std::uint64_t fallback = x64 ? 0x7FFFFFFEFFFFull : 0x7FFEFFFFull;
  const auto v = read_variable(space, system.architecture, system.kdbg.MmHighestUserAddress);
  if (v && *v < range_start && *v >= 0x10000) return *v;
  notes.push_back(fmt::format("MmHighestUserAddress was not found through the KDBG: user pages "
                              "are taken from "
"[0, {:#x}]",
                              fallback));
  return std::min(fallback, range_start - 1);
}

void note_missing(const Collected& c, const std::string& what, std::vector<std::string>& notes) {
  if (c.leaf_pages_missing) {
    notes.push_back(fmt::format("{}: {} page mappings lead to memory the image does not hold "
                                "(device memory, a capture gap, or pages a source dump left "
                                "out); those pages are left out",
                                what, c.leaf_pages_missing));
  }
  if (c.tables_missing || c.walk.unreadable_tables) {
    notes.push_back(fmt::format("{}: {} page-table pages could not be read; the VAs under them "
                                "are left out",
                                what, c.tables_missing + c.walk.unreadable_tables));
  }
}

}  // namespace

std::uint64_t default_system_range_start(Architecture arch) noexcept {
  return arch == Architecture::x64 ? 0xFFFF800000000000ull : 0x80000000ull;
}

DumpWriteResult write_kernel_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                  const KernelDumpOptions& options) {
  std::vector<std::string> notes;
  const bool x64 = system.architecture == Architecture::x64;
  const HeldPages held(image);
  PfnBitmap set;
  const AddressSpace kernel(image, system.paging, system.directory_table_base);
  const std::uint64_t start = system_range_start(kernel, system, notes);
  const std::uint64_t top = x64 ? ~0ull : 0xFFFFFFFFull;
  note_missing(collect(kernel, start, top, held, set), "kernel half", notes);

  // KUSER_SHARED_DATA is in the kernel half already; named so a layout that maps it elsewhere
  // still has it.
  const std::uint64_t kuser = x64 ? kKuserSharedDataX64 : kKuserSharedDataX86;
  if (auto t = kernel.translate(kuser)) {
    held.add(set, t.pa / kPageSize, 1);
  } else {
    notes.push_back(fmt::format("KUSER_SHARED_DATA at {:#x} does not translate ({})", kuser,
                                describe(t, kernel.mode())));
  }

  // DumpOptions: DUMP_SUMMARY_VALID_KERNEL_VA, plus DUMP_SUMMARY_VALID_CURRENT_USER_VA when a
  // process's user pages are in (SING's names; that these are the DumpOptions bits is
  // uncertain, reference §4.1). Readers checked so far ignore the field.
  std::uint32_t dump_options = format::kDumpSummaryValidKernelVa;
  if (options.include_process) {
    const auto it = std::find_if(system.processes.begin(), system.processes.end(),
                                 [&](const auto& p) { return p.pid == *options.include_process; });
    if (it == system.processes.end()) {
      std::string known;
      for (const auto& p : system.processes) {
        known += fmt::format("{}{} ({})", known.empty() ? "" : ", ", p.pid, p.name);
      }
      throw Error(ErrorKind::not_present,
                  fmt::format("--include-process {}: no such process in the image's process "
                              "list; found: {}",
                              *options.include_process, known.empty() ? "none" : known));
    }
    const AddressSpace user(image, system.paging, it->directory_table_base);
    const std::uint64_t highest = highest_user_address(kernel, system, start, notes);
    const auto before = set.page_count();
    note_missing(collect(user, 0, highest, held, set), fmt::format("process {}", it->pid), notes);
    notes.push_back(fmt::format("process {} ({}): {} user pages and tables added", it->pid,
                                it->name, set.page_count() - before));
    dump_options |= format::kDumpSummaryValidCurrentUserVa;
  }

  std::vector<std::byte> header(crash_dump_header_size(system));
  fill_system_header(system, header, false);
  writer::BitmapDumpSpec spec;
  spec.dump_type = static_cast<std::uint32_t>(format::DumpType::bitmap_kernel);
  spec.signature = format::kSummaryDumpSignature;
  spec.dump_options = dump_options;
  return writer::write_bitmap_dump(image, system, std::move(header), set, spec,
                                   writer::target_of(options), std::move(notes));
}

}  // namespace pagedump
