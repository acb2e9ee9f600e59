// The kernel dump reader on arbitrary bytes: header (both widths), runs / bitmap / RDMP, page
// reads, the triage sections of DumpType 4, and virtual reads through the page tables the
// header's DirectoryTableBase names. Anything but pagedump::Error escaping is a bug.
#include <algorithm>
#include <array>
#include <string>

#include "exercise_memory.h"
#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "pagedump/translate/address_space.h"

using namespace pagedump;

namespace {

std::optional<PagingMode> paging_of(const DumpFile& d) {
  const auto& h = d.header();
  const auto arch = h.architecture();
  if (arch == "x64") return PagingMode::x64_4level;
  if (arch == "arm64") return PagingMode::arm64_4k;
  if (arch == "x86") return h.pae_enabled.value_or(false) ? PagingMode::x86_pae : PagingMode::x86_legacy;
  return std::nullopt;
}

void exercise_virtual(const DumpFile& d) {
  const auto mode = paging_of(d);
  if (!mode || !d.header().directory_table_base) return;
  AddressSpace as(d, *mode, *d.header().directory_table_base);
  std::array<std::byte, 64> buf{};
  for (auto va : {d.header().kd_debugger_data_block, d.header().ps_loaded_module_list,
                  d.header().ps_active_process_head, d.header().pfn_database}) {
    if (!va) continue;
    (void)as.translate(*va);
    (void)as.read_virtual(*va, buf);
  }
  // A bounded walk: the writer and discovery walk like this; stop after a fixed count.
  std::uint64_t seen = 0;
  (void)as.for_each_mapping(0, ~std::uint64_t(0), [&](const Mapping&) { return ++seen < 4096; },
                            [&](const TablePage&) { return ++seen < 4096; });
}

void exercise_triage(const DumpFile& d) {
  auto hb = d.header_bytes();
  TriageDump t = TriageDump::parse(d.file(), d.header().is64, hb);
  TriageView view(t);
  std::array<std::byte, 256> buf{};
  for (const auto& r : t.virtual_regions()) {
    (void)view.read_virtual(r.address, std::span(buf).first(std::size_t(std::min<std::uint64_t>(r.size, buf.size()))));
    (void)view.read_virtual(r.end() - 1, buf);
  }
  try {
    (void)t.crashing_processor(view);
  } catch (const Error&) {
  }
}

// The same reads through a mapping of the file (DumpOpenOptions::map_file) must give the same
// bytes and the same failures as pread.
void compare_mapped(const DumpFile& d, const std::string& path) {
  DumpOpenOptions options;
  options.map_file = true;
  auto m = DumpFile::open(path, options);
  std::array<std::byte, 2 * kPageSize> a{}, b{};
  const auto ranges = d.ranges();
  const std::size_t n = std::min<std::size_t>(ranges.size(), 16);
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::uint64_t pa : {ranges[i].base, ranges[i].end() - kPageSize / 2}) {
      const ReadResult x = d.read_physical(pa, a);
      const ReadResult y = m->read_physical(pa, b);
      if (x.status != y.status || x.address != y.address || x.file_offset != y.file_offset) {
        __builtin_trap();
      }
      if (x && a != b) __builtin_trap();
    }
  }
  exercise_virtual(*m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("dump");
  const auto& path = file.set({data, size});
  try {
    auto d = DumpFile::open(path);
    (void)d->context_registers();
    (void)d->exception();
    fuzz::exercise_memory(*d);
    for (std::uint64_t pfn : {std::uint64_t(0), std::uint64_t(1), std::uint64_t(0x10), std::uint64_t(0xFFFFF),
                              ~std::uint64_t(0) >> 12}) {
      (void)d->page_file_offset(pfn);
    }
    if (d->header().dump_type == 4) exercise_triage(*d);
    exercise_virtual(*d);
    compare_mapped(*d, path);
  } catch (const Error&) {
  }
  return 0;
}
