// The triage (small memory) dump, DumpType 4 (reference §5): the TRIAGE_DUMP64 header at
// 0x2000 / TRIAGE_DUMP32 at 0x1000 and every section it points to, checked and decoded.
//
// What is fatal and what is a warning:
// - Fatal (pagedump::Error): anything that would make a section's bytes wrong or unreadable:
//   the triage header past the end of the file, SizeOfDump past the end of the file or
//   shorter than the headers, ValidOffset outside the triage area or not holding "TRGD", a
//   section (offset + size) past SizeOfDump, a count that cannot fit, a driver list whose
//   stride (StringPoolOffset - DriverListOffset) / DriverCount is not whole or is shorter than
//   an entry, a driver name outside the string pool (or names sharing pool bytes, which would
//   let a small pool decode into unbounded memory), a KDBG copy without the "KDBG" tag or with
//   a DebuggerDataSize outside 0x18..0x800, a data block outside SizeOfDump, wrapping the
//   address space or (32-bit) with an address that is not a 32-bit value zero- or
//   sign-extended.
// - Warnings (warnings()): what Windows has always done but a reader does not depend on:
//   ValidOffset != SizeOfDump - 4, an unusual driver stride, copy sizes that disagree with
//   the KDBG's SizePrcb / SizeEProcess / SizeEThread, an unexpected MM storage version/size,
//   the KDBG's own Size differing from DebuggerDataSize, driver 0 not covering
//   PsLoadedModuleList / KdDebuggerDataBlock, a BrokenDriverOffset that is not an entry of
//   the driver list, the data-block table not sorted / contiguous / zero-padded up to
//   ValidOffset (§5.7 item 7), and data blocks whose VAs overlap (the lower one wins).
//
// The object keeps a reference to the InputFile it was parsed from; the file must outlive it
// (and every TriageView made from it). Memory held is bounded by the validated counts, which
// are bounded by SizeOfDump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"
#include "pagedump/io/input_file.h"

namespace pagedump {

// A run of bytes in the dump file.
struct FileRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t end() const noexcept { return offset + size; }
  bool empty() const noexcept { return size == 0; }
  friend bool operator==(const FileRange&, const FileRange&) = default;
};

// The triage header with 32-bit layouts widened to the 64-bit one. Fields the 32-bit header
// does not have (BStore*, DataPage*) are zero there; its three disputed words at 0x4C are kept
// in disputed32 (reference §5.3).
struct TriageFields {
  std::uint32_t service_pack_build = 0;
  std::uint32_t size_of_dump = 0;
  std::uint32_t valid_offset = 0;
  std::uint32_t context_offset = 0;
  std::uint32_t exception_offset = 0;
  std::uint32_t mm_offset = 0;
  std::uint32_t unloaded_drivers_offset = 0;
  std::uint32_t prcb_offset = 0;
  std::uint32_t process_offset = 0;
  std::uint32_t thread_offset = 0;
  std::uint32_t call_stack_offset = 0;
  std::uint32_t size_of_call_stack = 0;
  std::uint32_t driver_list_offset = 0;
  std::uint32_t driver_count = 0;
  std::uint32_t string_pool_offset = 0;
  std::uint32_t string_pool_size = 0;
  std::uint32_t broken_driver_offset = 0;
  std::uint32_t triage_options = 0;
  std::uint64_t top_of_stack = 0;
  std::uint32_t bstore_offset = 0;
  std::uint32_t size_of_bstore = 0;
  std::uint64_t limit_of_bstore = 0;
  std::uint64_t data_page_address = 0;
  std::uint32_t data_page_offset = 0;
  std::uint32_t data_page_size = 0;
  std::uint32_t debugger_data_offset = 0;
  std::uint32_t debugger_data_size = 0;
  std::uint32_t data_blocks_offset = 0;
  std::uint32_t data_blocks_count = 0;
  std::uint32_t disputed32[3] = {};
};

// DUMP_MM_STORAGE, widened.
struct TriageMmStorage {
  std::uint64_t file_offset = 0;
  std::uint32_t version = 0;
  std::uint32_t size = 0;
  std::uint32_t special_pool_tag = 0;
  std::uint32_t triage_action_taken = 0;
  std::uint32_t verify_driver_level = 0;
  std::uint32_t kernel_verifier = 0;
  std::uint64_t maximum_non_paged_pool = 0;
  std::uint64_t allocated_non_paged_pool = 0;
  std::uint64_t paged_pool_maximum = 0;
  std::uint64_t paged_pool_allocated = 0;
  std::uint64_t committed_pages = 0;
  std::uint64_t committed_pages_peak = 0;
  std::uint64_t commit_limit_maximum = 0;
};

struct TriageUnloadedDriver {
  std::string name;  // UTF-8, at most the 12 characters Windows keeps
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

struct TriageDriver {
  std::uint64_t entry_offset = 0;   // file offset of the DUMP_DRIVER_ENTRY
  std::uint64_t string_offset = 0;  // file offset of its DUMP_STRING
  std::string path;                 // UTF-8 full path, e.g. \SystemRoot\system32\ntoskrnl.exe
  std::string name;                 // base name (after the last '\' or '/')
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t timestamp = 0;
};

// One VA range the dump carries bytes for.
struct TriageBlock {
  std::uint64_t address = 0;  // 32-bit dumps: reduced to 32 bits
  std::uint64_t file_offset = 0;
  std::uint64_t size = 0;
  std::uint64_t end() const noexcept { return address + size; }
};

// The crashing processor as WinDbg shows it (see TriageDump::crashing_processor).
struct CrashingProcessor {
  enum class Source {
    prcb_context_pointer,    // *(KPRCB + OffsetPrcbContext), read through the TriageView
    prcb_processor_state,    // KPRCB.ProcessorState.ContextFrame inside the KPRCB copy
  };
  std::uint32_t number = 0;       // KPRCB.Number
  std::uint64_t prcb_va = 0;      // KiProcessorBlock[number]
  std::uint64_t context_va = 0;   // VA the CONTEXT was read from
  Source source = Source::prcb_context_pointer;
  std::uint32_t machine = 0;      // MachineImageType, which says what the context is
  std::vector<std::byte> context; // raw CONTEXT (AMD64 0x4D0, ARM64 0x390, i386 0x2CC, ARM 0x1A0)
};

class TriageView;

class TriageDump {
 public:
  // main_header_bytes: the 0x2000 (is64) / 0x1000 bytes of the main header, already read.
  static TriageDump parse(const InputFile& file, bool is64,
                          std::span<const std::byte> main_header_bytes);

  const InputFile& file() const noexcept { return *file_; }
  bool is64() const noexcept { return is64_; }
  std::uint32_t machine() const noexcept { return machine_; }
  std::uint64_t triage_header_offset() const noexcept { return is64_ ? 0x2000 : 0x1000; }
  const TriageFields& fields() const noexcept { return f_; }
  std::uint32_t size_of_dump() const noexcept { return f_.size_of_dump; }
  std::uint32_t valid_offset() const noexcept { return f_.valid_offset; }

  // From the main header.
  std::uint64_t kd_debugger_data_block() const noexcept { return kdbg_va_; }
  std::uint64_t ps_loaded_module_list() const noexcept { return ps_loaded_module_list_; }
  std::uint32_t mini_dump_fields() const noexcept { return mini_dump_fields_; }
  std::uint32_t number_processors() const noexcept { return number_processors_; }

  // The CONTEXT at ContextOffset (the faulting context on the samples), sized by the machine.
  FileRange context_range() const noexcept { return context_range_; }
  std::span<const std::byte> context() const noexcept { return context_; }
  // The EXCEPTION_RECORD64 / 32 at ExceptionOffset (raw bytes; load the structure by is64()).
  FileRange exception_range() const noexcept { return exception_range_; }
  std::span<const std::byte> exception() const noexcept { return exception_; }

  const std::optional<TriageMmStorage>& mm_storage() const noexcept { return mm_; }
  FileRange unloaded_drivers_range() const noexcept { return unloaded_range_; }
  const std::vector<TriageUnloadedDriver>& unloaded_drivers() const noexcept { return unloaded_; }

  // Copies without a VA in the file; sizes run to the next section (cross-checked with KDBG).
  FileRange prcb_range() const noexcept { return prcb_range_; }
  FileRange process_range() const noexcept { return process_range_; }
  FileRange thread_range() const noexcept { return thread_range_; }

  // Stack bytes, mapped at [TopOfStack, TopOfStack + SizeOfCallStack).
  FileRange stack_range() const noexcept { return stack_range_; }
  std::uint64_t top_of_stack() const noexcept { return f_.top_of_stack; }

  FileRange driver_list_range() const noexcept { return driver_list_range_; }
  std::uint32_t driver_stride() const noexcept { return driver_stride_; }
  const std::vector<TriageDriver>& drivers() const noexcept { return drivers_; }
  FileRange string_pool_range() const noexcept { return string_pool_range_; }
  // Index into drivers() of the entry BrokenDriverOffset points at, if it points at one.
  std::optional<std::size_t> broken_driver_index() const noexcept { return broken_driver_; }

  // The decoded KDBG copy: raw bytes (DebuggerDataSize) and the structure (missing tail = 0).
  FileRange kdbg_range() const noexcept { return kdbg_range_; }
  std::span<const std::byte> kdbg_bytes() const noexcept { return kdbg_bytes_; }
  const std::optional<format::KdDebuggerData64>& kdbg() const noexcept { return kdbg_; }

  FileRange data_page_range() const noexcept { return data_page_range_; }
  FileRange data_blocks_table_range() const noexcept { return blocks_table_range_; }
  // In table order, as the file lists them.
  const std::vector<TriageBlock>& data_blocks() const noexcept { return blocks_; }

  // Every VA range the dump carries (data blocks, data page, stack, KDBG copy), sorted by
  // address and clipped so none overlap. TriageView answers reads from this.
  const std::vector<TriageBlock>& virtual_regions() const noexcept { return regions_; }

  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  // Reads file bytes of a validated range (a copy, e.g. the KPRCB or the stack).
  std::vector<std::byte> read_range(FileRange range) const;

  // The crashing CPU's KPRCB VA and register CONTEXT (reference §7.2). Throws Error when the
  // dump lacks what is needed (KDBG copy, KPRCB copy, the pointed-to bytes).
  CrashingProcessor crashing_processor(const TriageView& view) const;

 private:
  TriageDump() = default;

  const InputFile* file_ = nullptr;
  bool is64_ = true;
  std::uint32_t machine_ = 0;
  std::uint64_t kdbg_va_ = 0;
  std::uint64_t ps_loaded_module_list_ = 0;
  std::uint32_t mini_dump_fields_ = 0;
  std::uint32_t number_processors_ = 0;
  TriageFields f_;
  FileRange context_range_, exception_range_, unloaded_range_, prcb_range_, process_range_,
      thread_range_, stack_range_, driver_list_range_, string_pool_range_, kdbg_range_,
      data_page_range_, blocks_table_range_;
  std::vector<std::byte> context_, exception_, kdbg_bytes_;
  std::optional<TriageMmStorage> mm_;
  std::vector<TriageUnloadedDriver> unloaded_;
  std::uint32_t driver_stride_ = 0;
  std::vector<TriageDriver> drivers_;
  std::optional<std::size_t> broken_driver_;
  std::optional<format::KdDebuggerData64> kdbg_;
  std::vector<TriageBlock> blocks_;
  std::vector<TriageBlock> regions_;
  std::vector<std::string> warnings_;

  friend class TriageParser;
};

// CONTEXT size for a MachineImageType (0 when unknown).
std::size_t context_size_for_machine(std::uint32_t machine) noexcept;

}  // namespace pagedump
