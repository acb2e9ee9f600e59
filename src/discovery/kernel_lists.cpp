// The kernel's lists: loaded modules (PsLoadedModuleList), processes (PsActiveProcessHead) and
// unloaded drivers (MmUnloadedDrivers). Every walk is bounded and stops on a cycle.
#include <algorithm>
#include <cstring>
#include <set>

#include "discovery_context.h"
#include "eprocess_offsets.h"

namespace pagedump::discovery {
namespace {

constexpr std::size_t kMaxListEntries = 8192;

// KLDR_DATA_TABLE_ENTRY fields, unchanged from NT 5 to Windows 11 (public symbols; ReactOS
// LDR_DATA_TABLE_ENTRY): DllBase, EntryPoint, SizeOfImage, FullDllName, BaseDllName.
struct LdrOffsets {
  std::uint64_t dll_base, size_of_image, full_name, base_name;
};
constexpr LdrOffsets kLdr64{0x30, 0x40, 0x48, 0x58};
constexpr LdrOffsets kLdr32{0x18, 0x20, 0x24, 0x2C};

// Walks a LIST_ENTRY list from its head; f(entry_va) returns false to stop.
template <class F>
std::size_t walk_list(const Context& ctx, std::uint64_t head, std::string& end_reason, F f) {
  std::set<std::uint64_t> seen;
  auto link = ctx.read_ptr(head);
  std::size_t n = 0;
  while (true) {
    if (!link) {
      end_reason = "a link is unreadable";
      break;
    }
    const std::uint64_t entry = ctx.kva(*link);
    if (entry == head) {
      end_reason = "back at the head";
      break;
    }
    if (!seen.insert(entry).second) {
      end_reason = fmt::format("cycle at {:#x}", entry);
      break;
    }
    if (seen.size() > kMaxListEntries) {
      end_reason = "more entries than any kernel has";
      break;
    }
    if (!f(entry)) {
      end_reason = "stopped";
      break;
    }
    ++n;
    link = ctx.read_ptr(entry);
  }
  return n;
}

std::string base_name_of(const std::string& path) {
  auto pos = path.find_last_of("\\/");
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::optional<EprocessOffsets> derive_offsets(Context& ctx, std::uint64_t system_links) {
  const auto& k = ctx.sys.kdbg;
  const std::size_t size = k.SizeEProcess ? k.SizeEProcess : 0x800;
  std::vector<std::byte> buf(size);
  for (std::uint64_t apl = 2 * ctx.ptr_size(); apl < size; apl += ctx.ptr_size()) {
    const std::uint64_t eprocess = system_links - apl;
    auto dtb = ctx.read_ptr(eprocess + k.OffsetEprocessDirectoryTableBase);
    if (!dtb || (*dtb & ~0xFFFull) != (ctx.sys.directory_table_base & ~0xFFFull)) continue;
    if (!ctx.read(eprocess, buf)) continue;
    static constexpr char kSystem[] = "System";
    auto it = std::search(buf.begin(), buf.end(), reinterpret_cast<const std::byte*>(kSystem),
                          reinterpret_cast<const std::byte*>(kSystem) + sizeof kSystem);
    if (it == buf.end()) continue;
    return EprocessOffsets{static_cast<std::uint16_t>(apl - ctx.ptr_size()),
                           static_cast<std::uint16_t>(apl),
                           static_cast<std::uint16_t>(it - buf.begin())};
  }
  return std::nullopt;
}

bool offsets_fit_system(Context& ctx, std::uint64_t system_links, const EprocessOffsets& o) {
  const std::uint64_t eprocess = system_links - o.active_process_links;
  auto pid = ctx.read_ptr(eprocess + o.unique_process_id);
  std::array<char, 7> name{};
  return pid && *pid == 4 &&
         ctx.read(eprocess + o.image_file_name, std::as_writable_bytes(std::span(name))) &&
         std::memcmp(name.data(), "System", 7) == 0;
}

}  // namespace

std::optional<std::string> Context::read_unicode_string(std::uint64_t va) const {
  std::uint16_t length = 0;
  std::uint64_t buffer = 0;
  if (is64()) {
    auto s = read_as<std::array<std::uint64_t, 2>>(va);
    if (!s) return std::nullopt;
    length = static_cast<std::uint16_t>((*s)[0] & 0xFFFF);
    buffer = (*s)[1];
  } else {
    auto s = read_as<std::array<std::uint32_t, 2>>(va);
    if (!s) return std::nullopt;
    length = static_cast<std::uint16_t>((*s)[0] & 0xFFFF);
    buffer = (*s)[1];
  }
  length = std::min<std::uint16_t>(length & ~1u, 2048);
  std::vector<char16_t> chars(length / 2);
  if (length && !read(buffer, std::as_writable_bytes(std::span(chars)))) return std::nullopt;
  std::string out;
  for (char16_t c : chars) out += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
  return out;
}

void find_modules(Context& ctx) {
  const LdrOffsets& o = ctx.is64() ? kLdr64 : kLdr32;
  const std::uint64_t head = ctx.kva(ctx.sys.kdbg.PsLoadedModuleList);
  std::string end;
  walk_list(ctx, head, end, [&](std::uint64_t entry) {
    DiscoveredModule m;
    m.entry = entry;
    m.base = ctx.read_ptr(entry + o.dll_base).value_or(0);
    m.size = ctx.read_as<std::uint32_t>(entry + o.size_of_image).value_or(0);
    m.path = ctx.read_unicode_string(entry + o.full_name).value_or("");
    m.name = ctx.read_unicode_string(entry + o.base_name).value_or(base_name_of(m.path));
    std::string why;
    if (auto id = read_image_identity(*ctx.space, m.base, why)) {
      m.checksum = id->checksum;
      m.timestamp = id->timestamp;
    }
    ctx.sys.modules.push_back(std::move(m));
    return true;
  });
  ctx.log("modules: {} from PsLoadedModuleList at {:#x} (walk ended: {})", ctx.sys.modules.size(),
          head, end);
}

void find_processes(Context& ctx) {
  const std::uint64_t head = ctx.kva(ctx.sys.kdbg.PsActiveProcessHead);
  auto first = ctx.read_ptr(head);
  if (!first) {
    ctx.log("processes: PsActiveProcessHead {:#x} is unreadable", head);
    return;
  }
  const std::uint64_t system_links = ctx.kva(*first);
  auto offsets = eprocess_offsets(ctx.is64(), ctx.sys.build);
  std::string how = fmt::format("the build {} table", ctx.sys.build);
  if (!offsets || !offsets_fit_system(ctx, system_links, *offsets)) {
    offsets = derive_offsets(ctx, system_links);
    how = "offsets derived from the System process";
  }
  if (!offsets) {
    ctx.log("processes: EPROCESS layout of build {} unknown and not derivable", ctx.sys.build);
    return;
  }
  const std::uint64_t dtb_off = ctx.sys.kdbg.OffsetEprocessDirectoryTableBase;
  std::string end;
  walk_list(ctx, head, end, [&](std::uint64_t links) {
    DiscoveredProcess p;
    p.eprocess = links - offsets->active_process_links;
    p.pid = ctx.read_ptr(p.eprocess + offsets->unique_process_id).value_or(0);
    p.directory_table_base = ctx.read_ptr(p.eprocess + dtb_off).value_or(0);
    std::array<char, 16> name{};
    if (ctx.read(p.eprocess + offsets->image_file_name, std::as_writable_bytes(std::span(name).first(15)))) {
      p.name = std::string(name.data(), strnlen(name.data(), 15));
    }
    ctx.sys.processes.push_back(std::move(p));
    return true;
  });
  ctx.log("processes: {} from PsActiveProcessHead at {:#x} ({}; walk ended: {})",
          ctx.sys.processes.size(), head, how, end);
}

void find_unloaded_drivers(Context& ctx) {
  const auto& k = ctx.sys.kdbg;
  auto array = k.MmUnloadedDrivers ? ctx.read_ptr(ctx.kva(k.MmUnloadedDrivers)) : std::nullopt;
  auto last = k.MmLastUnloadedDriver ? ctx.read_as<std::uint32_t>(ctx.kva(k.MmLastUnloadedDriver))
                                     : std::nullopt;
  if (!array || !*array || !last) return;
  // MI_UNLOADED_DRIVERS is 50; UNLOADED_DRIVERS: Name, StartAddress, EndAddress, CurrentTime.
  const std::uint32_t count = std::min<std::uint32_t>(*last, 50);
  const std::uint64_t stride = ctx.is64() ? 0x28 : 0x18;
  const std::uint64_t name_size = ctx.is64() ? 0x10 : 0x8;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = *array + i * stride;
    DiscoveredUnloadedDriver d;
    d.name = ctx.read_unicode_string(at).value_or("");
    d.start = ctx.read_ptr(at + name_size).value_or(0);
    d.end = ctx.read_ptr(at + name_size + ctx.ptr_size()).value_or(0);
    ctx.sys.unloaded_drivers.push_back(std::move(d));
  }
  ctx.log("unloaded drivers: {} from MmUnloadedDrivers", ctx.sys.unloaded_drivers.size());
}

}  // namespace pagedump::discovery
