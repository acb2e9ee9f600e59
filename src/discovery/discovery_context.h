// State shared by the discovery steps: the image, the kernel address space once a directory
// table base is chosen, the options and the log of what was tried.
#pragma once

#include <array>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "counting_memory.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/virtual_memory.h"

namespace pagedump::discovery {

inline constexpr std::uint64_t kKuserSharedDataX64 = 0xFFFFF78000000000ull;
inline constexpr std::uint64_t kKuserSharedDataX86 = 0xFFDF0000ull;

// The one place that builds a page-table view over the image (src/translate).
std::unique_ptr<AddressSpace> make_kernel_space(const PhysicalMemory& image, PagingMode paging,
                                                std::uint64_t dtb);

// The PE facts discovery needs about an image mapped at a VA (pe_identity.cpp, over the
// library's PE reader).
struct ImageIdentity {
  std::uint32_t size_of_image = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t checksum = 0;
  std::uint16_t machine = 0;
  std::string export_name;            // the export directory's DLL name, "" if none
  std::optional<PdbIdentity> pdb;     // CodeView RSDS
  std::vector<std::pair<std::uint32_t, std::uint32_t>> code_sections;  // (rva, size)
  std::vector<std::pair<std::uint32_t, std::uint32_t>> data_sections;  // (rva, size)
};
// nullopt with `why` filled when the bytes at `base` are not a readable PE image.
std::optional<ImageIdentity> read_image_identity(const VirtualMemory& vm, std::uint64_t base,
                                                 std::string& why);
// ntoskrnl by its export name, or by a kernel PDB name in its RSDS record.
bool is_kernel_image(const ImageIdentity& id);

struct Context {
  Context(const PhysicalMemory& image, const DiscoveryOptions& opts)
      : memory(image, opts.read_budget), options(opts) {}

  CountingMemory memory;
  const DiscoveryOptions& options;
  DiscoveredSystem sys;
  std::unique_ptr<AddressSpace> space;      // kernel view through sys.directory_table_base
  std::vector<std::uint64_t> kernel_hints;  // VAs believed to be inside ntoskrnl

  bool is64() const { return sys.architecture == Architecture::x64; }
  std::size_t ptr_size() const { return is64() ? 8 : 4; }

  template <class... Args>
  void log(fmt::format_string<Args...> f, Args&&... args) {
    sys.log.push_back(fmt::format(f, std::forward<Args>(args)...));
  }

  bool read(std::uint64_t va, std::span<std::byte> out) const {
    return space && space->read_virtual(va, out).ok();
  }
  template <class T>
  std::optional<T> read_as(std::uint64_t va) const {
    T v{};
    if (!read(va, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
    return v;
  }
  // A pointer-sized value, zero-extended on x86.
  std::optional<std::uint64_t> read_ptr(std::uint64_t va) const {
    return space ? space->read_pointer(va, is64()) : std::nullopt;
  }
  // x86 KDBG pointers are sign-extended; kernel VAs on x86 are used 32-bit.
  std::uint64_t kva(std::uint64_t v) const { return is64() ? v : (v & 0xFFFFFFFFull); }
  bool is_kernel_va(std::uint64_t va) const {
    return is64() ? va >= 0xFFFF800000000000ull : (va >= 0x80000000ull && va <= 0xFFFFFFFFull);
  }
  // UNICODE_STRING at va -> UTF-8 (ASCII-safe), bounded to 1024 characters.
  std::optional<std::string> read_unicode_string(std::uint64_t va) const;
};

// The steps, in the order discover_system runs them. Each records its method and log lines;
// the ones that must succeed throw Error with the log on failure.
// A page-table root that maps KUSER_SHARED_DATA; the kernel base decides between several.
struct DtbCandidate {
  std::uint64_t dtb = 0;
  PagingMode paging = PagingMode::x64_4level;
  std::string method;
  int self_map_index = -1;                   // x64 PML4 self-reference, when seen
  std::optional<std::uint64_t> kernel_hint;  // e.g. the low stub's LmTarget
};
// Offers candidates, strategy by strategy and lazily (a scan stops as soon as `try_it` accepts
// one), each validated against KUSER_SHARED_DATA first. True when `try_it` accepted one.
bool for_each_dtb_candidate(Context& ctx, const std::function<bool(const DtbCandidate&)>& try_it,
                            int only_self_map_index = -1);  // dtb_finder.cpp
void use_dtb(Context& ctx, const DtbCandidate& c);          // dtb_finder.cpp
bool find_kernel_base(Context& ctx);            // kernel_finder.cpp
bool find_kdbg(Context& ctx);                   // kdbg_finder.cpp
void find_version_and_shared_data(Context& ctx);  // system_facts.cpp
void find_physical_memory_runs(Context& ctx);   // system_facts.cpp
void find_bugcheck(Context& ctx);               // system_facts.cpp
void find_processors(Context& ctx);             // processors.cpp
void find_modules(Context& ctx);                // kernel_lists.cpp
void find_processes(Context& ctx);              // kernel_lists.cpp
void find_unloaded_drivers(Context& ctx);       // kernel_lists.cpp

}  // namespace pagedump::discovery
