// The small dump in two steps: what it carries (read from the image once, bounded by the
// structure sizes the KDBG gives, 16 KiB of stack and the blocks the registers and stack point
// to), then where each part goes in the file under a size cap. Bytes are produced from both by
// small_dump_writer.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagedump/discovery/system.h"
#include "pagedump/physical_memory.h"

namespace pagedump::writer {

inline constexpr std::uint64_t kSmallDumpStackMax = 16 * 1024;  // MSDOC-SMD: 16 KB at most
inline constexpr std::uint64_t kPointedBlockSize = 0x100;       // what the 19041 sample carries

struct SmallDumpBlock {
  std::uint64_t va = 0;
  std::vector<std::byte> bytes;
};

struct SmallDumpDriver {
  std::u16string path;
  std::uint64_t base = 0;
  std::uint32_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t timestamp = 0;
};

struct SmallDumpContent {
  bool is64 = true;
  std::uint32_t cpu = 0;
  std::uint64_t prcb_va = 0, thread_va = 0, process_va = 0;
  std::vector<std::byte> context;  // the header's CONTEXT
  std::vector<std::byte> prcb, eprocess, ethread;
  std::uint64_t stack_top = 0;     // lowest VA of the saved stack (the stack pointer)
  std::vector<std::byte> stack;    // [stack_top, stack_top + size), toward the stack base
  std::vector<std::byte> kdbg;     // decoded
  std::vector<SmallDumpDriver> drivers;
  std::vector<DiscoveredUnloadedDriver> unloaded;
  std::vector<SmallDumpBlock> blocks;  // in order of importance, none overlapping
  std::vector<std::string> notes;
};

// The bugcheck processor when the machine crashed: the one whose current thread's kernel stack
// holds an address a bugcheck parameter names (the exception and context records KeBugCheckEx
// is given live there), else the first.
std::uint32_t bugcheck_processor(const PhysicalMemory& image, const DiscoveredSystem& system,
                                 std::vector<std::string>& notes);

// Reads everything the dump carries. `context` is the header CONTEXT of processor `cpu`.
SmallDumpContent gather_small_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                   std::uint32_t cpu, std::vector<std::byte> context);

struct SmallDumpLayout {
  bool is64 = true;
  std::uint32_t triage_offset = 0, mm_offset = 0, mm_size = 0, unloaded_offset = 0,
                unloaded_size = 0, prcb_offset = 0, process_offset = 0, thread_offset = 0,
                stack_offset = 0, stack_size = 0, kdbg_offset = 0, driver_list_offset = 0,
                driver_count = 0, driver_stride = 0, string_pool_offset = 0,
                string_pool_size = 0, blocks_table_offset = 0, block_count = 0,
                valid_offset = 0, size_of_dump = 0;
  std::vector<std::size_t> blocks;           // indexes of the kept content blocks
  std::vector<std::uint32_t> block_offsets;  // one per kept block
  bool overflowed = false;
  std::vector<std::string> left_out;  // what the cap left out, for the notes
};

// Places the sections in Windows' order. `exact` pads the file to max_size. Throws
// Error(usage) when what is never left out does not fit in max_size.
SmallDumpLayout plan_small_dump(const SmallDumpContent& content, std::uint64_t max_size,
                                bool exact);

// The whole file, header included.
std::vector<std::byte> produce_small_dump(const SmallDumpContent& content,
                                          const SmallDumpLayout& layout,
                                          std::vector<std::byte> header);

}  // namespace pagedump::writer
