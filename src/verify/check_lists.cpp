// lists.*: the loaded module list and the process list a debugger walks (reference §6.6).
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "../discovery/eprocess_offsets.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

constexpr std::size_t kMaxEntries = 8192;  // far beyond any real module or process count

struct LdrOffsets {
  std::uint32_t dll_base, size_of_image, base_name;
};
// KLDR_DATA_TABLE_ENTRY (x64 / x86). Time stamps come from the images' own headers.
constexpr LdrOffsets kLdr64{0x30, 0x40, 0x58};
constexpr LdrOffsets kLdr32{0x18, 0x20, 0x2C};

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// Walks a LIST_ENTRY ring from `head`; `visit(entry)` sees each entry. Returns "" at the head
// again, else why the walk stopped (a cycle that misses the head, an unreadable link).
template <class F>
std::string walk(const Context& c, std::uint64_t head, F visit) {
  std::unordered_set<std::uint64_t> seen;
  std::uint64_t prev = head;
  auto next = c.read_ptr(head);
  if (!next) return fmt::format("the list head at VA {:#x} cannot be read: {}", head, c.why_unreadable(head));
  while (c.kva(*next) != c.kva(head)) {
    const std::uint64_t e = c.kva(*next);
    if (!seen.insert(e).second) {
      return fmt::format("cycle: the entry at VA {:#x} links back to VA {:#x} without reaching the head {:#x}",
                         prev, e, head);
    }
    if (seen.size() > kMaxEntries) return fmt::format("more than {} entries", kMaxEntries);
    visit(e);
    prev = e;
    next = c.read_ptr(e);
    if (!next) return fmt::format("the Flink of the entry at VA {:#x} cannot be read: {}", e, c.why_unreadable(e));
  }
  return {};
}

void check_modules_memory(Context& c) {
  const LdrOffsets& o = c.is64 ? kLdr64 : kLdr32;
  const std::uint64_t head = c.kva(c.kdbg->PsLoadedModuleList);
  const std::string end = walk(c, head, [&](std::uint64_t e) {
    ModuleEntry m;
    m.entry = e;
    m.base = c.kva(c.read_ptr(e + o.dll_base).value_or(0));
    m.size = c.read_as<std::uint32_t>(e + o.size_of_image).value_or(0);
    m.name = c.read_unicode_string(e + o.base_name).value_or("");
    c.modules.push_back(std::move(m));
  });
  if (!end.empty()) {
    c.add("lists.modules", CheckStatus::fail, "PsLoadedModuleList at VA {:#x}: after {} entries, {}", head,
          c.modules.size(), end);
    return;
  }
  c.modules_complete = true;
}

void check_module_order(Context& c, const char* source) {
  if (c.modules.size() < 2) {
    c.add("lists.modules", CheckStatus::fail, "{} has {} entries; expected ntoskrnl.exe and hal.dll first", source,
          c.modules.size());
    return;
  }
  const std::string first = lower(c.modules[0].name), second = lower(c.modules[1].name);
  if (first != "ntoskrnl.exe" && first != "ntkrnlmp.exe" && first != "ntkrnlpa.exe" && first != "ntkrpamp.exe") {
    c.add("lists.modules", CheckStatus::fail, "{}: entry 0 (at {:#x}) is '{}'; expected ntoskrnl.exe", source,
          c.modules[0].entry, c.modules[0].name);
    return;
  }
  // Windows 7 and earlier keep the HAL's file name: halmacpi.dll, halacpi.dll, ...
  if (!second.starts_with("hal") || !second.ends_with(".dll")) {
    c.add("lists.modules", CheckStatus::fail, "{}: entry 1 (at {:#x}) is '{}'; expected hal.dll (or halmacpi.dll...)", source,
          c.modules[1].entry, c.modules[1].name);
    return;
  }
  if (c.kva(c.modules[0].base) != c.kva(c.kdbg->KernBase)) {
    c.add("lists.modules", CheckStatus::fail, "{}: ntoskrnl.exe is at {:#x} but the KDBG's KernBase is {:#x}", source,
          c.modules[0].base, c.kdbg->KernBase);
    return;
  }
  c.add("lists.modules", CheckStatus::pass, "{}: {} modules, ntoskrnl.exe at {:#x} first and hal.dll next", source,
        c.modules.size(), c.modules[0].base);
}

void check_processes(Context& c) {
  const auto& h = c.dump->header();
  const std::uint64_t head = c.kva(c.kdbg->PsActiveProcessHead);
  const std::uint32_t build = h.minor_version.value_or(0);
  auto offsets = discovery::eprocess_offsets(c.is64, build);
  auto first = c.read_ptr(head);
  if (!first) {
    c.add("lists.processes", CheckStatus::fail, "PsActiveProcessHead at VA {:#x} cannot be read: {}", head,
          c.why_unreadable(head));
    return;
  }
  std::size_t count = 0;
  const std::string end = walk(c, head, [&](std::uint64_t) { ++count; });
  if (!end.empty()) {
    c.add("lists.processes", CheckStatus::fail, "PsActiveProcessHead at VA {:#x}: after {} entries, {}", head, count,
          end);
    return;
  }
  if (!offsets) {
    c.add("lists.processes", CheckStatus::warn,
          "{} processes; the EPROCESS layout of build {} is not known, so System was not checked", count, build);
    return;
  }
  // System is the first process; UniqueProcessId and the DTB are read from its EPROCESS.
  const std::uint64_t eprocess = c.kva(*first) - offsets->active_process_links;
  const auto pid = c.read_ptr(eprocess + offsets->unique_process_id);
  const auto dtb = c.read_ptr(eprocess + c.kdbg->OffsetEprocessDirectoryTableBase);
  if (!pid || *pid != 4) {
    c.add("lists.processes", CheckStatus::fail, "the first process (EPROCESS {:#x}) has UniqueProcessId {}; expected "
          "System, PID 4", eprocess, pid ? fmt::format("{}", *pid) : std::string("unreadable"));
    return;
  }
  const std::uint64_t mask = c.is64 ? ~0xFFFull : 0xFFFFFFE0ull;
  if (!dtb || !h.directory_table_base || (*dtb & mask) != (*h.directory_table_base & mask)) {
    c.add("lists.processes", CheckStatus::fail,
          "System (EPROCESS {:#x}) has DirectoryTableBase {}; the header (file offset 0x10) says {:#x}", eprocess,
          dtb ? fmt::format("{:#x}", *dtb) : std::string("unreadable"), h.directory_table_base.value_or(0));
    return;
  }
  c.add("lists.processes", CheckStatus::pass, "{} processes; System (PID 4, EPROCESS {:#x}) has the header's "
        "DirectoryTableBase {:#x}", count, eprocess, *dtb);
}

}  // namespace

void check_lists(Context& c) {
  if (!c.kdbg) {
    c.add("lists.modules", CheckStatus::skip, "no usable KDBG");
    return;
  }
  if (c.triage) {
    for (const auto& d : c.triage->drivers()) {
      c.modules.push_back({d.name, d.base, d.size, d.timestamp, d.entry_offset});
    }
    c.modules_complete = true;
    check_module_order(c, "the driver list");
    c.add("lists.processes", CheckStatus::skip, "a small dump carries only the current process");
    return;
  }
  check_modules_memory(c);
  if (c.modules_complete) check_module_order(c, "PsLoadedModuleList");
  check_processes(c);
}

}  // namespace pagedump::verify::detail
