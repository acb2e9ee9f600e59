// The synthetic Windows guest: a memory image built in code, laid out like a running Windows
// kernel, with a GroundTruth of every value kernel discovery must find in it. Memory is
// sparse (only written pages are stored; the rest of RAM reads as zeros) so a guest with
// gigabytes of address space costs a few megabytes.
//
// Variants (GuestSpec): x64 Windows 10 19041-like (encoded or plain KDBG, with or without the
// low stub and captured CPU state, PCID bits in CR3, crashed or not, a memory map of 3 or of
// 45+ runs), and x86 PAE Windows 7 SP1-like (plain KDBG with sign-extended pointers).
// With a real 19041 triage dump at hand (GuestSpec::sample), the x64 guest takes its KDBG,
// KPRCB, EPROCESS and ETHREAD bytes and its driver list from it; otherwise the same addresses
// and offsets come from constants.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pagedump/cpu_state.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/physical_memory.h"
#include "pagedump/synth/sparse_memory.h"

namespace pagedump::synth {

enum class GuestArch { x64, x86_pae };

struct GuestSpec {
  GuestArch arch = GuestArch::x64;
  std::uint64_t seed = 1;  // drives the self-map index and key values
  std::uint32_t cpu_count = 4;
  bool kdbg_encoded = true;  // x64 only: Windows 8+ encoding with KdpDataBlockEncoded = 1
  bool low_stub = true;      // x64 only: PROCESSOR_START_BLOCK at 0x13000
  bool cpu_state = true;     // captured registers per CPU (as QEMU/VMware images carry)
  bool pcid = false;         // CR3 carries PCID bits (low 12 bits) in the captured state
  bool crashed = false;      // KiBugcheckData holds a bugcheck
  bool many_runs = false;    // a memory map of more than 42 runs (header overflow)
  // 0: 4 GiB of RAM (3 GiB below the PCI hole, 1 GiB above 4 GiB). Otherwise about this many
  // MiB (at least 192): below the PCI hole first, at least 16 MiB above 4 GiB. Small guests
  // serve tests that copy all of RAM; large ones the benchmarks.
  std::uint32_t ram_mib = 0;
  bool decoys = true;        // an MZ-only fragment and a non-kernel PE below the kernel
  std::uint32_t user_processes = 2;
  // A real triage dump of Windows 10 19041 x64 to take bytes from (x64 only).
  std::optional<std::filesystem::path> sample;
  // With `sample`: also map the memory the sample carries at its real addresses (every data
  // block outside the kernel image, the stack, and the KPRCB, ETHREAD and EPROCESS copies), for
  // round trips of the small dump writer against Windows' own small dump.
  bool sample_memory = false;
};

struct GuestModule {
  std::string base_name;  // "ntoskrnl.exe"
  std::string full_name;  // "\SystemRoot\system32\ntoskrnl.exe"
  std::uint64_t base = 0;
  std::uint32_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t time_date_stamp = 0;
  std::uint64_t entry_va = 0;  // VA of its KLDR_DATA_TABLE_ENTRY
  bool image_mapped = false;   // a PE header is present at `base`
};

struct GuestProcess {
  std::uint32_t pid = 0;
  std::string name;  // ImageFileName
  std::uint64_t eprocess = 0;
  std::uint64_t dtb = 0;
  // A private user page: its VA, PA and the marker string it starts with.
  std::uint64_t user_va = 0;
  std::uint64_t user_pa = 0;
  std::string user_marker;
};

struct GuestCpu {
  std::uint64_t pcr = 0;           // KPCR VA (= GS base in kernel mode)
  std::uint64_t prcb = 0;          // KPRCB VA (= KiProcessorBlock[i])
  std::uint64_t context = 0;       // VA of the CONTEXT that *(prcb + OffsetPrcbContext) points to
  std::uint64_t thread = 0;        // KPRCB.CurrentThread
  std::uint64_t idt = 0;           // IDT VA
  std::uint64_t rip = 0, rsp = 0;  // the registers stored in the CONTEXT
  std::uint64_t stack_base = 0, stack_limit = 0;  // the current thread's kernel stack
};

struct GroundTruth {
  GuestArch arch = GuestArch::x64;
  std::uint32_t build = 0;    // NtBuildNumber & 0xFFFF
  std::uint16_t machine = 0;  // IMAGE_FILE_MACHINE_*
  std::vector<PhysicalRange> memory_map;

  // Paging.
  std::uint64_t dtb = 0;             // System CR3 (x64: PML4 PA; PAE: PDPT PA)
  std::uint32_t self_map_index = 0;  // x64 PML4 self-map slot
  std::uint64_t pte_base = 0;        // x64: VA of the PTE array the self-map implies
  std::optional<std::uint64_t> low_stub_pa;

  // The kernel image.
  std::uint64_t kernel_base = 0;
  std::uint32_t kernel_size = 0;
  std::uint64_t kernel_pa = 0;  // physically contiguous
  std::uint32_t kernel_timestamp = 0, kernel_checksum = 0;
  std::string kernel_export_name;  // "ntoskrnl.exe"
  std::string pdb_name;            // "ntkrnlmp.pdb"
  std::string pdb_guid;            // symbol-store order, upper case
  std::uint32_t pdb_age = 0;
  std::string pdb_symbol_path;             // "ntkrnlmp.pdb/<GUID><AGE>/ntkrnlmp.pdb"
  std::string kernel_image_key;            // TIMESTAMP%08X SIZE%X
  std::vector<std::uint64_t> decoy_bases;  // PE-looking fragments that are not the kernel

  // KDBG and what decodes it.
  std::uint64_t kdbg_va = 0;
  std::uint64_t kdbg_pa = 0;
  std::uint32_t kdbg_size = 0;
  bool kdbg_encoded = false;
  format::KdbgKeys keys{};  // wait_never, wait_always, encoded_flag_va
  std::uint64_t wait_never_va = 0, wait_always_va = 0;
  std::uint64_t kd_copy_data_block_va = 0;  // 0 when the guest has no such routine (x86)
  std::vector<std::byte> kdbg_plain;        // the decoded block (kdbg_size bytes)
  std::uint64_t version_block_va = 0;
  std::uint64_t debugger_data_list_va = 0;  // KdpDebuggerDataListHead

  // Kernel variables (addresses) and what they hold.
  std::uint64_t ps_loaded_module_list = 0;
  std::uint64_t ps_active_process_head = 0;
  std::uint64_t ki_processor_block = 0;
  std::uint64_t ki_bugcheck_data = 0;
  std::uint32_t bugcheck_code = 0;  // 0 = not crashed
  std::array<std::uint64_t, 4> bugcheck_parameters{};
  std::uint64_t mm_pfn_database_va = 0;           // the variable
  std::uint64_t mm_pfn_database = 0;              // its value
  std::uint64_t mm_physical_memory_block_va = 0;  // the variable
  std::uint64_t physical_memory_descriptor = 0;   // its value
  std::uint64_t nt_build_lab_va = 0;
  std::string nt_build_lab;

  std::uint64_t kuser_va = 0, kuser_pa = 0;
  std::uint32_t nt_product_type = 0, suite_mask = 0, nt_major = 0, nt_minor = 0;
  std::uint64_t system_time = 0, interrupt_time = 0;

  std::vector<GuestCpu> cpus;
  std::vector<GuestModule> modules;     // load order: ntoskrnl.exe, hal.dll, ...
  std::vector<GuestProcess> processes;  // System first

  // Structure offsets the guest used (what the KDBG's Offset* fields say).
  std::uint32_t offset_prcb_context = 0, offset_prcb_proc_state_context = 0;
  std::uint32_t offset_eprocess_dtb = 0, offset_eprocess_pid = 0, offset_eprocess_links = 0,
                offset_eprocess_name = 0;
  bool from_sample = false;
  // sample_memory: what was placed at real addresses, and the crashing thread's structures.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sample_regions;  // (va, size)
  std::uint64_t sample_thread = 0, sample_process = 0, sample_prcb = 0;
  std::uint32_t sample_cpu = 0;
};

// A built guest. It is also a PhysicalMemory (format "synthetic"): holes of the memory map
// read as not_present, pages of RAM never written read as zeros.
class Guest : public PhysicalMemory {
 public:
  std::string_view format_name() const override { return "synthetic"; }
  std::span<const PhysicalRange> ranges() const override { return truth.memory_map; }
  ReadResult read_physical(std::uint64_t pa, std::span<std::byte> out) const override;
  std::span<const CpuState> cpus() const override { return cpu_states; }

  // Writes a raw image (file offset = physical address, holes as zeros, written sparsely)
  // and, when map_path is given, its memory map as lines "0x<start> 0x<end>" (end
  // exclusive: the text form `pagedump --memory-map` reads). Both go through OutputFile: an
  // existing file is replaced only with `overwrite`, never one that is not a regular file.
  void write_raw(const std::filesystem::path& path,
                 const std::optional<std::filesystem::path>& map_path = std::nullopt,
                 bool overwrite = false) const;

  // The seam for the image writers of tests/builders/images (QEMU ELF, VirtualBox, LiME,
  // VMware; branch `sources`, not yet on main): formats this build knows. Raw writes
  // `path` and `path`.map.
  enum class ImageFormat { raw };
  void emit(ImageFormat format, const std::filesystem::path& path, bool overwrite = false) const;

  SparseMemory memory;
  std::vector<CpuState> cpu_states;
  GroundTruth truth;
};

Guest build_guest(const GuestSpec& spec);

}  // namespace pagedump::synth
