// Builds triage (small memory, DumpType 4) dumps from chosen contents, with the sections in
// the order Windows writes them (reference §5.5): main header (context and exception inside
// it), triage header, MM storage, unloaded drivers, KPRCB, EPROCESS, ETHREAD, stack, KDBG copy,
// driver list, string pool, data-block table, block contents, zero padding, "TRGD".
// Malformed variants: set the hooks in TriageSpec, or patch the bytes afterwards using the
// offsets in TriageLayout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pagedump/format/common.h"

namespace pagedump::test {

struct TriageDriverSpec {
  std::u16string path;  // full path, e.g. u"\\SystemRoot\\system32\\ntoskrnl.exe"
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t timestamp = 0;
};

struct TriageUnloadedSpec {
  std::u16string name;  // full base name; Windows keeps 12 characters, Name.Length the whole
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

struct TriageBlockSpec {
  std::uint64_t address = 0;  // 32-bit dumps: written sign-extended, as Windows does
  std::vector<std::byte> bytes;
};

struct TriageSpec {
  bool is64 = true;
  std::uint32_t machine = 0;  // 0: AMD64 for is64, i386 otherwise
  std::uint32_t build = 19041;
  std::uint32_t processors = 2;
  std::uint32_t bugcheck_code = 0x7E;
  std::uint64_t kd_debugger_data_block = 0;  // main header field: VA of the KDBG copy
  std::uint64_t ps_loaded_module_list = 0;
  std::vector<std::byte> context;    // header ContextRecord (ContextOffset points at it)
  std::vector<std::byte> exception;  // header Exception (ExceptionOffset points at it)
  std::uint32_t mm_special_pool_tag = 0;
  std::uint64_t mm_committed_pages = 0;
  std::vector<TriageUnloadedSpec> unloaded;
  std::vector<std::byte> prcb, process, thread;
  std::uint64_t top_of_stack = 0;
  std::vector<std::byte> stack;
  std::vector<std::byte> kdbg;  // the decoded block; DebuggerDataSize = its size
  std::vector<TriageDriverSpec> drivers;
  std::vector<TriageBlockSpec> blocks;
  TriageBlockSpec data_page;  // x64 only: DataPageAddress/Offset/Size; written after the blocks
  std::uint32_t triage_options = 0xFFFFFFFF;
  std::uint32_t service_pack_build = 0;
  std::size_t padding_before_marker = 0x40;  // zero bytes between the last block and "TRGD"
  std::vector<std::byte> after_size_of_dump;  // secondary data past SizeOfDump

  // Hooks for malformed variants.
  std::uint32_t driver_stride = 0;     // 0: the natural entry size (0x90 / 0x4C)
  bool write_marker = true;            // false: leave the marker bytes zero
  std::uint32_t broken_driver_index = 0xFFFFFFFF;  // set BrokenDriverOffset to this entry
};

// File offsets of everything the builder wrote (0 = not written).
struct TriageLayout {
  std::uint64_t triage_header = 0;
  std::uint64_t context = 0, exception = 0, mm = 0, unloaded = 0, prcb = 0, process = 0, thread = 0,
                stack = 0, kdbg = 0, driver_list = 0, string_pool = 0, string_pool_size = 0,
                blocks_table = 0, block_data = 0, data_page = 0, valid_offset = 0, size_of_dump = 0;
  std::vector<std::uint64_t> driver_strings;  // DUMP_STRING offset per driver
  std::vector<std::uint64_t> block_offsets;   // content offset per block
  // File offset of a triage-header field given its offset inside TRIAGE_DUMP64/32.
  std::uint64_t field(std::size_t offset_in_triage_header) const { return triage_header + offset_in_triage_header; }
};

struct BuiltTriage {
  std::vector<std::byte> bytes;
  TriageLayout layout;

  template <class T>
  void patch(std::uint64_t offset, const T& value) {
    format::store(bytes, offset, value);
  }
  void write(const std::filesystem::path& path) const;
};

BuiltTriage build_triage_dump(const TriageSpec& spec);

// A complete, consistent dump resembling Windows' (x64 19041 offsets; i386 for !is64): two
// processors, a KPRCB copy for processor 1 also present as a data block at its VA,
// KiProcessorBlock as a data block, the CONTEXT the KPRCB points to as a data block, three
// drivers, two unloaded drivers, a stack and a KDBG copy. The constants below name its values.
TriageSpec typical_triage_spec(bool is64);

namespace typical {
inline constexpr std::uint64_t kKernBase64 = 0xfffff80012000000ull;
inline constexpr std::uint64_t kKernBase32 = 0x81000000ull;
inline constexpr std::uint32_t kPrcbNumber = 1;
inline constexpr std::uint16_t kOffsetPrcbContext64 = 0x85c0, kOffsetPrcbContext32 = 0x3d0;
inline constexpr std::uint16_t kOffsetPrcbProcState32 = 0x120;
inline constexpr std::uint16_t kOffsetPrcbNumber64 = 0x24, kOffsetPrcbNumber32 = 0x14;
inline constexpr std::uint32_t kSizePrcb64 = 0xaf00, kSizePrcb32 = 0x3c00;
inline constexpr std::uint32_t kSizeEProcess64 = 0xa40, kSizeEProcess32 = 0x2c0;
inline constexpr std::uint32_t kSizeEThread64 = 0x898, kSizeEThread32 = 0x380;
// Register values in the CONTEXT the KPRCB points to (rip/eip, rsp/esp, rcx/ecx).
inline constexpr std::uint64_t kCpuRip64 = 0xfffff80012400a80ull, kCpuRsp64 = 0xffff850000010ee8ull,
                               kCpuRcx64 = 0x7e;
inline constexpr std::uint32_t kCpuEip32 = 0x81200a80, kCpuEsp32 = 0x9a010ee8, kCpuEcx32 = 0x7e;
// Faulting context in the header.
inline constexpr std::uint64_t kFaultRip64 = 0xfffff8001300334cull;
inline constexpr std::uint32_t kFaultEip32 = 0x8230334c;
}  // namespace typical

}  // namespace pagedump::test
