// Writes synthetic kernel dumps of every type and architecture for tests, from the on-disk
// structures in include/pagedump/format/. Page contents are derived from the PFN, so a test
// can check any byte it reads back. Hooks edit the header or the finished bytes to produce
// malformed variants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "pagedump/format/dump_header.h"

namespace pagedump::test {

enum class DumpArch { x64, arm64, x86_pae, x86, arm };

struct PfnRun {
  std::uint64_t base_page = 0;
  std::uint64_t page_count = 0;
};

// Values the builder writes into the header unless a hook changes them (tests assert them).
namespace built {
inline constexpr std::uint32_t kMajorVersion = 0xF;
inline constexpr std::uint32_t kMinorVersion = 19045;
inline constexpr std::uint64_t kDirectoryTableBase64 = 0x1ad000;
inline constexpr std::uint64_t kPfnDataBase64 = 0xfffff8047c6fc500;
inline constexpr std::uint64_t kPsLoadedModuleList64 = 0xfffff8047c62a390;
inline constexpr std::uint64_t kPsActiveProcessHead64 = 0xfffff8047c61e200;
inline constexpr std::uint64_t kKdDebuggerDataBlock64 = 0xfffff8047c600b20;
inline constexpr std::uint32_t kDirectoryTableBase32 = 0x185000;
inline constexpr std::uint32_t kPfnDataBase32 = 0x80e4f1e0;
inline constexpr std::uint32_t kPsLoadedModuleList32 = 0x80e3c1a8;
inline constexpr std::uint32_t kPsActiveProcessHead32 = 0x80e3b0c0;
inline constexpr std::uint32_t kKdDebuggerDataBlock32 = 0x80e06a20;
inline constexpr std::uint32_t kNumberProcessors = 4;
inline constexpr std::uint32_t kBugCheckCode = 0xE2;  // MANUALLY_INITIATED_CRASH
inline constexpr std::uint64_t kBugCheckParameter[4] = {0x11, 0x22, 0x33, 0x44};
inline constexpr std::uint64_t kSystemTime = 0x01d9a0b0c0d0e0f0;
inline constexpr std::uint64_t kSystemUpTime = 0x000000012a05f200;
inline constexpr std::uint32_t kProductType = 1;
inline constexpr std::uint32_t kSuiteMask = 0x110;
inline constexpr std::uint32_t kAttributes = 0x18;
inline constexpr char kComment[] = "pagedump test dump";
// Context registers: the program counter, stack pointer and first general register.
inline constexpr std::uint64_t kPc64 = 0xfffff8047bdf5a80;
inline constexpr std::uint64_t kSp64 = 0xffff850429892120;
inline constexpr std::uint64_t kReg0_64 = 0xffffc08be4da6240;
inline constexpr std::uint32_t kPc32 = 0x80d1c2b4;
inline constexpr std::uint32_t kSp32 = 0x9a3f7c10;
inline constexpr std::uint32_t kReg0_32 = 0x8b2e4f60;
inline constexpr std::uint32_t kExceptionCode = 0x80000003;
}  // namespace built

struct DumpSpec {
  DumpArch arch = DumpArch::x64;
  std::uint32_t dump_type = 1;
  // Pages the dump stores (types 1, 2, 5, 6, 8, 9, 0xA), ascending and disjoint.
  std::vector<PfnRun> runs = {{0x1, 0x3}, {0x10, 0x2}};
  // Bitmap types: bits in the bitmap (0: highest PFN + 1 rounded up to 64).
  std::uint64_t bitmap_bits = 0;
  // Bitmap types: 0 picks 'FDMP' for 5 and 'SDMP' for 6.
  std::uint32_t bitmap_signature = 0;
  // Hooks for chosen fields and malformed variants, applied in this order.
  std::function<void(format::DumpHeader64&)> edit_header64;
  std::function<void(format::DumpHeader32&)> edit_header32;
  std::function<void(std::vector<std::byte>&)> edit_file;
  std::optional<std::uint64_t> truncate_to;  // cut the file to this many bytes at the end
};

// Where the builder put things in the file it returned.
struct BuiltDump {
  std::vector<std::byte> bytes;
  std::uint64_t header_size = 0;
  std::uint64_t type_header_offset = 0;  // bitmap / summary / RDMP header (0 if none)
  std::uint64_t bitmap_offset = 0;       // first bitmap byte (bitmap types)
  std::uint64_t first_page_offset = 0;   // where page data starts
  std::uint64_t stored_pages = 0;
};

bool is_64bit(DumpArch arch);
std::uint32_t machine_of(DumpArch arch);

// The byte at `offset` within physical page `pfn` in every built dump.
std::byte page_byte(std::uint64_t pfn, std::uint64_t offset);
void fill_page(std::uint64_t pfn, std::span<std::byte> page);

BuiltDump build_dump(const DumpSpec& spec);
BuiltDump write_dump(const std::filesystem::path& path, const DumpSpec& spec);

}  // namespace pagedump::test
