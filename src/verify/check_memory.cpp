// memory.*: the kernel's address space and its debugger data (reference §6).
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/version_block.h"
#include "pagedump/pe/pe_image.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

constexpr std::uint64_t kPage = 0x1000;
constexpr std::uint64_t kKuserX64 = 0xFFFFF78000000000ull;
constexpr std::uint64_t kKuserX86 = 0xFFDF0000ull;

std::optional<PagingMode> paging_mode(const Context& c) {
  switch (c.machine) {
    case format::machine::kAmd64: return PagingMode::x64_4level;
    case format::machine::kArm64: return PagingMode::arm64_4k;
    case format::machine::kI386:
      return c.dump->header().pae_enabled.value_or(false) ? PagingMode::x86_pae : PagingMode::x86_legacy;
    default: return std::nullopt;
  }
}

bool check_dtb(Context& c) {
  const auto& h = c.dump->header();
  auto mode = paging_mode(c);
  if (!mode || !h.directory_table_base) {
    c.add("memory.dtb", CheckStatus::skip, "no directory table base or paging mode to check");
    return false;
  }
  c.space = std::make_unique<AddressSpace>(*c.dump, *mode, *h.directory_table_base);
  const std::uint64_t kuser = c.is64 ? kKuserX64 : kKuserX86;
  const std::uint64_t kdbg = c.kva(h.kd_debugger_data_block.value_or(0));
  for (auto [va, what] : {std::pair{kuser, "KUSER_SHARED_DATA"}, std::pair{kdbg, "the KDBG (in the kernel image)"}}) {
    auto t = c.space->translate(va);
    if (!t) {
      c.add("memory.dtb", CheckStatus::fail,
            "DirectoryTableBase {:#x} (file offset 0x10) does not map {} at VA {:#x}: {}",
            *h.directory_table_base, what, va, describe(t, *mode));
      c.space.reset();
      return false;
    }
    std::array<std::byte, 8> probe{};
    if (!c.dump->read_physical(t.pa, probe).ok()) {
      c.add("memory.dtb", CheckStatus::fail,
            "DirectoryTableBase {:#x} maps {} at VA {:#x} to PA {:#x}, which the dump does not hold",
            *h.directory_table_base, what, va, t.pa);
      c.space.reset();
      return false;
    }
  }
  c.vm = c.space.get();
  c.add("memory.dtb", CheckStatus::pass, "DirectoryTableBase {:#x} ({}) maps KUSER_SHARED_DATA and the kernel",
        *h.directory_table_base, to_string(*mode));
  return true;
}

bool read_kdbg(Context& c, std::uint64_t va) {
  format::DbgkdDebugDataHeader64 hdr{};
  if (!c.read(va, std::as_writable_bytes(std::span(&hdr, 1)))) {
    c.add("memory.kdbg", CheckStatus::fail, "KdDebuggerDataBlock {:#x} cannot be read: {}", va, c.why_unreadable(va));
    return false;
  }
  if (hdr.OwnerTag != format::kKdbgOwnerTag) {
    c.add("memory.kdbg", CheckStatus::fail,
          "the KDBG at {} is encoded or not a KDBG: OwnerTag reads {:#010x}, expected 'KDBG' "
          "(0x4742444b); a debugger cannot use an encoded block",
          c.where(va + 0x10), hdr.OwnerTag);
    return false;
  }
  if (hdr.Size < 0x100 || hdr.Size > 0x800) {
    c.add("memory.kdbg", CheckStatus::fail, "the KDBG at {} has Size {:#x}; expected 0x100..0x800",
          c.where(va + 0x14), hdr.Size);
    return false;
  }
  std::vector<std::byte> bytes(std::min<std::size_t>(hdr.Size, sizeof(format::KdDebuggerData64)));
  if (!c.read(va, bytes)) {
    c.add("memory.kdbg", CheckStatus::fail, "the KDBG at VA {:#x} ({:#x} bytes) cannot be read: {}", va,
          hdr.Size, c.why_unreadable(va + bytes.size() - 1));
    return false;
  }
  format::KdDebuggerData64 k{};
  std::memcpy(&k, bytes.data(), bytes.size());
  c.kdbg = k;
  c.add("memory.kdbg", CheckStatus::pass, "decoded KDBG at VA {:#x}, Size {:#x}", va, hdr.Size);
  return true;
}

void check_kdbg_agreement(Context& c) {
  const auto& h = c.dump->header();
  const auto& k = *c.kdbg;
  std::vector<std::string> bad;
  if (h.ps_loaded_module_list && c.kva(k.PsLoadedModuleList) != c.kva(*h.ps_loaded_module_list)) {
    bad.push_back(fmt::format("PsLoadedModuleList: header {:#x}, KDBG {:#x}", *h.ps_loaded_module_list,
                              k.PsLoadedModuleList));
  }
  if (c.full_memory()) {
    if (h.ps_active_process_head && c.kva(k.PsActiveProcessHead) != c.kva(*h.ps_active_process_head)) {
      bad.push_back(fmt::format("PsActiveProcessHead: header {:#x}, KDBG {:#x}", *h.ps_active_process_head,
                                k.PsActiveProcessHead));
    }
    // Two conventions (reference §10): crash-time dumps hold the address of nt!MmPfnDatabase
    // (as the KDBG does), others its value, the PFN array. Either is what a debugger accepts.
    if (h.pfn_database && c.kva(*h.pfn_database) != c.kva(k.MmPfnDatabase)) {
      auto pfn = c.read_ptr(k.MmPfnDatabase);
      if (!pfn || c.kva(*pfn) != c.kva(*h.pfn_database)) {
        bad.push_back(fmt::format("PfnDataBase: header {:#x}, KDBG MmPfnDatabase {:#x} (holding {})", *h.pfn_database,
                                  k.MmPfnDatabase, pfn ? fmt::format("{:#x}", *pfn) : std::string("unreadable")));
      }
    }
    std::array<std::byte, 2> mz{};
    if (!c.read(k.KernBase, mz) || mz[0] != std::byte{'M'} || mz[1] != std::byte{'Z'}) {
      bad.push_back(fmt::format("KernBase {:#x} does not hold an 'MZ' image", k.KernBase));
    }
  } else if (c.triage && !c.triage->drivers().empty() &&
             c.kva(c.triage->drivers()[0].base) != c.kva(k.KernBase)) {
    bad.push_back(fmt::format("KernBase: KDBG {:#x}, driver list entry 0 {:#x}", k.KernBase,
                              c.triage->drivers()[0].base));
  }
  if (bad.empty()) {
    c.add("memory.kdbg_header", CheckStatus::pass, "the KDBG agrees with the header (KernBase {:#x})", k.KernBase);
  } else {
    std::string msg;
    for (const auto& b : bad) msg += (msg.empty() ? "" : "; ") + b;
    c.add("memory.kdbg_header", CheckStatus::fail, "the KDBG disagrees with the header: {}", msg);
  }
}

// KdVersionBlock (DBGKD_GET_VERSION64) lies near the KDBG in ntoskrnl's data (reference §6.5).
void check_version_block(Context& c) {
  const auto& k = *c.kdbg;
  const std::uint64_t center = c.kva(c.dump->header().kd_debugger_data_block.value_or(0)) & ~(kPage - 1);
  std::vector<std::byte> page(kPage);
  for (std::uint64_t i = 0; i <= 32; ++i) {
    const std::uint64_t va = center - 16 * kPage + i * kPage;
    if (!c.read(va, page)) continue;
    for (std::size_t off = 0; off + sizeof(format::DbgkdGetVersion64) <= kPage; off += 8) {
      auto v = format::load<format::DbgkdGetVersion64>(page, off);
      if (c.kva(v.KernBase) != c.kva(k.KernBase) || c.kva(v.PsLoadedModuleList) != c.kva(k.PsLoadedModuleList))
        continue;
      const auto& h = c.dump->header();
      std::vector<std::string> bad;
      if (h.minor_version && v.MinorVersion != (*h.minor_version & 0xFFFF))
        bad.push_back(fmt::format("build {} but the header says {}", v.MinorVersion, *h.minor_version));
      if (h.machine_image_type && v.MachineType != *h.machine_image_type)
        bad.push_back(fmt::format("MachineType {:#x} but the header says {:#x}", v.MachineType, *h.machine_image_type));
      if (bad.empty()) {
        c.add("memory.version_block", CheckStatus::pass, "KdVersionBlock at VA {:#x}: build {}, machine {:#x}",
              va + off, v.MinorVersion, v.MachineType);
      } else {
        c.add("memory.version_block", CheckStatus::fail, "KdVersionBlock at {}: {}", c.where(va + off),
              bad.size() == 1 ? bad[0] : bad[0] + "; " + bad[1]);
      }
      return;
    }
  }
  c.add("memory.version_block", c.triage ? CheckStatus::skip : CheckStatus::warn,
        "no KdVersionBlock (KernBase {:#x}, PsLoadedModuleList {:#x}) within 16 pages of the KDBG", k.KernBase,
        k.PsLoadedModuleList);
}

}  // namespace

void check_memory(Context& c) {
  if (!c.dump) {
    c.add("memory.kdbg", CheckStatus::skip, "the dump could not be opened");
    return;
  }
  const auto& h = c.dump->header();
  if (c.full_memory()) {
    if (!check_dtb(c)) return;
  } else if (c.triage) {
    c.add("memory.dtb", CheckStatus::skip, "a small dump carries no page tables; VAs come from its data blocks");
  } else {
    c.add("memory.kdbg", CheckStatus::skip, "DumpType {} carries no memory", c.dump_type);
    return;
  }
  if (!h.kd_debugger_data_block) {
    c.add("memory.kdbg", CheckStatus::fail, "KdDebuggerDataBlock is the 'PAGE' fill");
    return;
  }
  if (c.triage) {
    if (!c.triage->kdbg()) {
      c.add("memory.kdbg", CheckStatus::fail, "the small dump has no KDBG copy (DebuggerDataOffset {:#x})",
            c.triage->fields().debugger_data_offset);
      return;
    }
    c.kdbg = *c.triage->kdbg();
    c.add("memory.kdbg", CheckStatus::pass, "decoded KDBG copy at file offset {:#x} ({:#x} bytes) for VA {:#x}",
          c.triage->kdbg_range().offset, c.triage->kdbg_range().size, *h.kd_debugger_data_block);
  } else if (!read_kdbg(c, *h.kd_debugger_data_block)) {
    return;
  }
  check_kdbg_agreement(c);
  check_version_block(c);
}

}  // namespace pagedump::verify::detail
