// Where each part of a small dump goes: Windows' section order (reference §5.5), sections back
// to back, and under a size cap the stated order of what is left out.
#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/triage.h"
#include "small_dump_plan.h"

namespace pagedump::writer {
namespace {

using namespace format;

std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t(7); }

struct Sizes {
  std::uint64_t fixed_before_stack = 0;  // header .. ETHREAD
  std::uint64_t kdbg = 0;
  std::uint32_t stride = 0;
  std::vector<std::uint64_t> string_records;
  std::vector<std::uint64_t> block_sizes;
};

// End of the block data for the given amounts (before padding and 'TRGD').
std::uint64_t content_end(const Sizes& s, std::uint64_t stack, std::size_t drivers,
                          std::uint64_t pool, std::size_t blocks, std::uint64_t block_bytes) {
  return s.fixed_before_stack + stack + s.kdbg + std::uint64_t(drivers) * s.stride + pool +
         16 * std::uint64_t(blocks) + block_bytes;
}

}  // namespace

SmallDumpLayout plan_small_dump(const SmallDumpContent& c, std::uint64_t max_size, bool exact) {
  SmallDumpLayout l;
  l.is64 = c.is64;
  const std::uint32_t header = c.is64 ? 0x2000 : 0x1000;
  l.triage_offset = header;
  l.mm_offset = header + static_cast<std::uint32_t>(c.is64 ? sizeof(TriageDump64)
                                                           : sizeof(TriageDump32));
  l.mm_size = c.is64 ? sizeof(DumpMmStorage64) : sizeof(DumpMmStorage32);
  l.unloaded_offset = l.mm_offset + l.mm_size;
  l.unloaded_size = static_cast<std::uint32_t>(
      (c.is64 ? kUnloadedDriversHeader64 : kUnloadedDriversHeader32) +
      c.unloaded.size() * (c.is64 ? sizeof(DumpUnloadedDriver64) : sizeof(DumpUnloadedDriver32)));

  Sizes s;
  s.fixed_before_stack = std::uint64_t(l.unloaded_offset) + l.unloaded_size + c.prcb.size() +
                         c.eprocess.size() + c.ethread.size();
  s.kdbg = c.kdbg.size();
  s.stride = c.is64 ? sizeof(DumpDriverEntry64) : sizeof(DumpDriverEntry32);
  for (const auto& d : c.drivers) {
    s.string_records.push_back(dump_string_record_size(static_cast<std::uint32_t>(d.path.size())));
  }
  std::uint64_t pool = 0;
  for (auto r : s.string_records) pool += r;

  std::size_t drivers = c.drivers.size();
  std::uint64_t stack = c.stack.size();
  // The valid marker follows the content; without a fixed size ValidOffset is 8-aligned.
  auto total = [&](std::uint64_t end) { return (exact ? end : align8(end)) + 4; };
  auto end_without_blocks = [&] {
    return content_end(s, stack, drivers, pool, 0, 0);
  };
  std::vector<std::size_t> kept;
  std::uint64_t block_bytes = 0;
  if (total(end_without_blocks()) <= max_size) {
    // Data blocks have what is left, in their order of importance; one that does not fit is
    // left out and smaller ones after it may still be kept.
    std::uint64_t room = max_size - total(end_without_blocks());
    for (std::size_t i = 0; i < c.blocks.size(); ++i) {
      const std::uint64_t cost = 16 + c.blocks[i].bytes.size();
      if (cost <= room) {
        kept.push_back(i);
        room -= cost;
        block_bytes += c.blocks[i].bytes.size();
      }
    }
    // Alignment of ValidOffset can take up to 7 bytes more than the room counted.
    while (!kept.empty() &&
           total(content_end(s, stack, drivers, pool, kept.size(), block_bytes)) > max_size) {
      block_bytes -= c.blocks[kept.back()].bytes.size();
      kept.pop_back();
    }
  }
  if (kept.size() < c.blocks.size()) {
    l.overflowed = true;
    l.left_out.push_back(
        fmt::format("{} of {} data blocks", c.blocks.size() - kept.size(), c.blocks.size()));
  }
  if (total(end_without_blocks()) > max_size) {
    const std::uint64_t excess = total(end_without_blocks()) - max_size;
    const std::uint64_t cut = std::min(stack, align8(excess));
    l.left_out.push_back(fmt::format("{:#x} of {:#x} stack bytes at its far end", cut, stack));
    stack -= cut;
  }
  const std::size_t all_drivers = drivers;
  while (drivers > 0 && total(end_without_blocks()) > max_size) {
    pool -= s.string_records[--drivers];
  }
  if (drivers < all_drivers) {
    l.overflowed = true;
    l.left_out.push_back(fmt::format("the last {} of {} drivers of the driver list",
                                     all_drivers - drivers, all_drivers));
  }
  if (total(end_without_blocks()) > max_size) {
    throw Error(ErrorKind::usage,
                fmt::format("a small dump of this system needs at least {} bytes (header, "
                            "context, KPRCB, EPROCESS, ETHREAD, KDBG); the size cap is {}",
                            align8(content_end(s, 0, 0, 0, 0, 0)) + 4, max_size));
  }
  const std::size_t blocks = kept.size();

  std::uint64_t off = l.unloaded_offset + l.unloaded_size;
  l.prcb_offset = static_cast<std::uint32_t>(off);
  off += c.prcb.size();
  l.process_offset = static_cast<std::uint32_t>(off);
  off += c.eprocess.size();
  l.thread_offset = static_cast<std::uint32_t>(off);
  off += c.ethread.size();
  l.stack_offset = static_cast<std::uint32_t>(off);
  l.stack_size = static_cast<std::uint32_t>(stack);
  off += stack;
  l.kdbg_offset = static_cast<std::uint32_t>(off);
  off += s.kdbg;
  l.driver_list_offset = static_cast<std::uint32_t>(off);
  l.driver_count = static_cast<std::uint32_t>(drivers);
  l.driver_stride = s.stride;
  off += std::uint64_t(drivers) * s.stride;
  l.string_pool_offset = static_cast<std::uint32_t>(off);
  l.string_pool_size = static_cast<std::uint32_t>(pool);
  off += pool;
  l.blocks_table_offset = static_cast<std::uint32_t>(off);
  l.block_count = static_cast<std::uint32_t>(blocks);
  off += 16 * std::uint64_t(blocks);
  for (std::size_t i : kept) {
    l.blocks.push_back(i);
    l.block_offsets.push_back(static_cast<std::uint32_t>(off));
    off += c.blocks[i].bytes.size();
  }
  l.valid_offset = static_cast<std::uint32_t>(exact ? max_size - 4 : align8(off));
  l.size_of_dump = l.valid_offset + 4;
  return l;
}

}  // namespace pagedump::writer
