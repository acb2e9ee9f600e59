// What kernel discovery finds in a memory image: the description of the running Windows
// kernel that a crash dump header is built from, with how each fact was found.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pagedump/format/kdbg.h"
#include "pagedump/physical_memory.h"
#include "pagedump/translate/address_space.h"

namespace pagedump {

enum class Architecture { x64, x86 };

struct DiscoveryOptions {
  std::optional<std::uint64_t> kdbg_va;          // --kdbg VA
  std::optional<format::KdbgKeys> kdbg_keys;     // --kdbg-keys WAITNEVER,WAITALWAYS,FLAGVA
  // Physical bytes discovery may read before it gives up (hostile page tables). A real
  // discovery reads the low 1 GiB at most once for page-table roots, then little more.
  std::uint64_t read_budget = 4ull << 30;
  // Page-table roots whose kernel search failed before discovery gives up: every root runs
  // the full kernel scan, and a hostile image can make every low page look like a root.
  std::uint32_t max_roots_without_kernel = 32;
};

struct PdbIdentity {
  std::string name;  // "ntkrnlmp.pdb"
  std::string guid;  // upper-case hex, no braces, symbol-store order
  std::uint32_t age = 0;
};

struct DiscoveredModule {
  std::string name;  // base name
  std::string path;  // full path
  std::uint64_t base = 0;
  std::uint32_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t timestamp = 0;
  std::uint64_t entry = 0;  // VA of the KLDR_DATA_TABLE_ENTRY
};

struct DiscoveredProcess {
  std::uint64_t pid = 0;
  std::string name;
  std::uint64_t directory_table_base = 0;
  std::uint64_t eprocess = 0;
};

struct DiscoveredUnloadedDriver {
  std::string name;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

struct DiscoveredCpu {
  std::uint32_t index = 0;
  std::uint64_t prcb = 0;
  std::uint64_t context_va = 0;          // *(KPRCB + OffsetPrcbContext), 0 if none
  std::uint64_t proc_state_context_va = 0;  // KPRCB + OffsetPrcbProcStateContext
  std::vector<std::byte> context;        // the CONTEXT record (captured registers win)
  std::string context_source;            // "captured", "memory (KPRCB context pointer)", ...
  std::vector<std::string> notes;        // disagreements between capture and memory
};

struct Bugcheck {
  std::uint32_t code = 0;
  std::array<std::uint64_t, 4> parameters{};
};

struct DiscoveredSystem {
  Architecture architecture = Architecture::x64;
  PagingMode paging = PagingMode::x64_4level;
  std::uint64_t directory_table_base = 0;
  std::string dtb_method;

  std::uint64_t kernel_base = 0;
  std::uint32_t kernel_size = 0;
  std::string kernel_base_method;
  PdbIdentity kernel_pdb;

  std::uint64_t kdbg_va = 0;
  bool kdbg_encoded = false;
  std::string kdbg_method;
  std::optional<format::KdbgKeys> kdbg_keys;  // set when the in-memory block is encoded
  std::vector<std::byte> kdbg_block;          // decoded, Header.Size bytes
  format::KdDebuggerData64 kdbg{};            // decoded fields (zero past Header.Size)

  std::optional<std::uint64_t> version_block_va;
  std::uint32_t build = 0;
  std::uint32_t major_version = 0xF;  // 0xF free, 0xC checked
  std::uint32_t machine_image_type = 0;
  std::string version_method;
  std::uint8_t kd_secondary_version = 0;

  std::uint32_t product_type = 0;
  std::uint32_t suite_mask = 0;
  std::uint64_t system_time = 0;      // FILETIME
  std::uint64_t interrupt_time = 0;   // 100 ns since boot
  bool pae_enabled = false;

  std::vector<std::pair<std::uint64_t, std::uint64_t>> physical_memory_runs;  // (base_page, count)
  std::vector<std::string> physical_memory_notes;  // disagreement with the source's ranges

  std::vector<DiscoveredCpu> cpus;
  std::optional<Bugcheck> bugcheck;  // when KiBugcheckData holds a code
  std::vector<DiscoveredModule> modules;
  std::vector<DiscoveredProcess> processes;
  std::vector<DiscoveredUnloadedDriver> unloaded_drivers;

  std::vector<std::string> log;  // every strategy tried, in order, and its outcome
  std::uint64_t bytes_read = 0;  // physical bytes discovery read from the image

  std::uint32_t number_processors() const { return static_cast<std::uint32_t>(cpus.size()); }
};

// Finds the kernel. Throws Error(not_present) with one line per strategy tried and why it
// failed when the image holds no Windows kernel pagedump can recognise, Error(unsupported) for
// 5-level paging and ARM64 images.
DiscoveredSystem discover_system(const PhysicalMemory& image, const DiscoveryOptions& options = {});

}  // namespace pagedump
