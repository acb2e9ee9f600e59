// layout.*: that the file holds what the header says it holds (reference §3, §4, §5, §9).
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/triage.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

constexpr std::uint64_t kPage = 0x1000;

// The check a reader refusal belongs to: the structure that describes this type's memory.
const char* structure_check(std::uint32_t type) {
  switch (type) {
    case 1: return "layout.runs";
    case 2: case 5: case 6: return "layout.bitmap";
    case 4: return "layout.triage";
    case 8: case 9: case 0xA: return "layout.rdmp";
    default: return "layout.open";
  }
}

// 'TRGD' at ValidOffset, before the full triage parse, so that a missing marker has its own id.
bool check_triage_marker(Context& c) {
  const std::uint64_t at = c.is64 ? format::kHeaderSize64 : format::kHeaderSize32;
  std::array<std::uint32_t, 3> f{};
  if (c.file->read_at(at, std::as_writable_bytes(std::span(f))) != sizeof f) {
    c.add("layout.triage_marker", CheckStatus::fail,
          "the triage header at file offset {:#x} is beyond the end of the file ({:#x} bytes)", at,
          c.file->size());
    return false;
  }
  const std::uint32_t size_of_dump = f[1], valid_offset = f[2];
  std::uint32_t marker = 0;
  if (std::uint64_t{valid_offset} + 4 > c.file->size() ||
      c.file->read_at(valid_offset, std::as_writable_bytes(std::span(&marker, 1))) != 4) {
    c.add("layout.triage_marker", CheckStatus::fail,
          "ValidOffset (file offset {:#x}) is {:#x}, beyond the end of the file ({:#x} bytes)",
          at + 8, valid_offset, c.file->size());
    return false;
  }
  if (marker != format::kTriageValid) {
    c.add("layout.triage_marker", CheckStatus::fail,
          "file offset {:#x} (ValidOffset) holds {:#010x}; expected the 'TRGD' marker that says the "
          "small dump was completely written",
          valid_offset, marker);
    return false;
  }
  c.add("layout.triage_marker", CheckStatus::pass, "'TRGD' at file offset {:#x} (SizeOfDump {:#x})",
        valid_offset, size_of_dump);
  return true;
}

void check_required_space(Context& c) {
  const auto& h = c.dump->header();
  const std::uint64_t rds_off = c.is64 ? 0xFA0 : 0xFA0;
  if (!h.required_dump_space) {
    c.add("layout.required_dump_space", CheckStatus::fail,
          "RequiredDumpSpace at file offset {:#x} is the 'PAGE' fill", rds_off);
    return;
  }
  const std::uint64_t rds = *h.required_dump_space;
  std::optional<std::uint64_t> expected;
  std::string how;
  switch (c.dump->layout()) {
    case MemoryLayout::runs:
      expected = h.header_size() + c.dump->number_of_pages().value_or(0) * kPage;
      how = fmt::format("header {:#x} + NumberOfPages {:#x} x 0x1000", h.header_size(),
                        c.dump->number_of_pages().value_or(0));
      break;
    case MemoryLayout::bitmap:
      expected = c.dump->bitmap()->first_page_offset + c.dump->bitmap()->present_pages * kPage;
      how = fmt::format("FirstPage {:#x} + {:#x} present pages x 0x1000",
                        c.dump->bitmap()->first_page_offset, c.dump->bitmap()->present_pages);
      break;
    case MemoryLayout::ranges:
      expected = c.dump->rdmp()->first_page_offset + c.dump->rdmp()->total_pages * kPage;
      how = fmt::format("first page {:#x} + {:#x} pages x 0x1000", c.dump->rdmp()->first_page_offset,
                        c.dump->rdmp()->total_pages);
      break;
    case MemoryLayout::none:
      break;
  }
  if (c.triage) {
    // Small dumps may carry secondary data past SizeOfDump (reference §5.8): only a value that
    // cannot hold the triage area is wrong.
    const std::uint64_t sod = c.triage->size_of_dump();
    if (rds < sod) {
      c.add("layout.required_dump_space", CheckStatus::fail,
            "RequiredDumpSpace at file offset {:#x} is {:#x}, less than SizeOfDump {:#x}", rds_off, rds, sod);
    } else {
      c.add("layout.required_dump_space", CheckStatus::pass,
            "RequiredDumpSpace {:#x} holds SizeOfDump {:#x} (file {:#x} bytes)", rds, sod, c.file->size());
    }
    return;
  }
  if (!expected) {
    c.add("layout.required_dump_space", CheckStatus::pass, "RequiredDumpSpace {:#x} (no memory to account for)", rds);
    return;
  }
  if (rds != *expected) {
    const std::uint64_t diff = rds > *expected ? rds - *expected : *expected - rds;
    c.add("layout.required_dump_space", CheckStatus::fail,
          "RequiredDumpSpace at file offset {:#x} is {:#x}; the layout needs {:#x} ({}), {} {:#x} bytes{}",
          rds_off, rds, *expected, how, rds > *expected ? "over by" : "short by", diff,
          diff % kPage == 0 ? fmt::format(" ({} page{})", diff / kPage, diff == kPage ? "" : "s") : "");
    return;
  }
  c.add("layout.required_dump_space", CheckStatus::pass, "RequiredDumpSpace {:#x} = {}", rds, how);
}

void check_file_size(Context& c) {
  if (const auto& t = c.dump->truncated()) {
    c.add("layout.file_size", CheckStatus::fail,
          "the file ends at {:#x} but the dump stores pages up to {:#x}: PFN {:#x} (file offset {:#x}) "
          "and every page after it are missing ({:#x} of {:#x} pages in the file)",
          t->file_size, t->expected_size, t->first_missing_page, t->first_missing_offset,
          t->pages_in_file, c.dump->stored_pages());
    return;
  }
  if (c.triage && c.triage->size_of_dump() > c.file->size()) {
    c.add("layout.file_size", CheckStatus::fail, "SizeOfDump {:#x} is beyond the end of the file ({:#x})",
          c.triage->size_of_dump(), c.file->size());
    return;
  }
  c.add("layout.file_size", CheckStatus::pass, "the file ({:#x} bytes) holds every page the dump describes",
        c.file->size());
}

}  // namespace

void check_layout(Context& c) {
  if (!c.header_ok) {
    c.add("layout.open", CheckStatus::skip, "the header is not usable");
    return;
  }
  if (c.is_triage() && !check_triage_marker(c)) return;
  try {
    c.dump = DumpFile::open(c.path);
  } catch (const Error& e) {
    c.add(structure_check(c.dump_type), CheckStatus::fail, "{}", e.what());
    return;
  }
  if (c.is_triage()) {
    try {
      c.triage = TriageDump::parse(c.dump->file(), c.is64, c.dump->header_bytes());
      c.triage_view = std::make_unique<TriageView>(*c.triage);
      c.vm = c.triage_view.get();
      c.add("layout.triage", CheckStatus::pass,
            "{} sections within SizeOfDump {:#x}: {} drivers, {} data blocks{}",
            "all", c.triage->size_of_dump(), c.triage->drivers().size(), c.triage->data_blocks().size(),
            c.triage->warnings().empty() ? "" : fmt::format(" ({} warnings)", c.triage->warnings().size()));
    } catch (const Error& e) {
      c.add("layout.triage", CheckStatus::fail, "{}", e.what());
      return;
    }
  }
  check_required_space(c);
  check_file_size(c);
  switch (c.dump->layout()) {
    case MemoryLayout::runs:
      c.add("layout.runs", CheckStatus::pass, "{} runs, {:#x} pages (NumberOfPages agrees with the runs)",
            c.dump->runs().size(), c.dump->stored_pages());
      break;
    case MemoryLayout::bitmap:
      c.add("layout.bitmap", CheckStatus::pass,
            "bitmap of {:#x} bits at file offset {:#x} with {:#x} pages present, as its header says",
            c.dump->bitmap()->bitmap_bits, c.dump->bitmap()->bits_offset, c.dump->bitmap()->present_pages);
      break;
    case MemoryLayout::ranges:
      c.add("layout.rdmp", CheckStatus::pass, "{} RDMP ranges, {:#x} pages", c.dump->runs().size(),
            c.dump->rdmp()->total_pages);
      break;
    case MemoryLayout::none:
      break;
  }
}

}  // namespace pagedump::verify::detail
