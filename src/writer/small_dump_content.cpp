// What a small dump carries, read from the image through the kernel's page tables with the
// writer's corrections applied (decoded KDBG, captured CONTEXTs), so the dump agrees with a
// complete dump written from the same image.
#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "dump_finishing.h"
#include "overlays.h"
#include "pagedump/context_record.h"
#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/kdbg.h"
#include "small_dump_plan.h"

namespace pagedump::writer {
namespace {

using format::KdDebuggerData64;

class KernelReader {
 public:
  KernelReader(const PhysicalMemory& image, const DiscoveredSystem& system,
               std::vector<std::string>& notes)
      : space_(image, system.paging, system.directory_table_base),
        overlays_(consistency_overlays(image, system, notes)) {}

  // The bytes readable from va on, up to out.size(), stopping at the first page that does not
  // translate or read.
  std::size_t read_prefix(std::uint64_t va, std::span<std::byte> out) const {
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t v = va + done;
      if (v < va) break;  // wrapped
      const Translation t = space_.translate(v);
      if (!t) break;
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(out.size() - done, kPageSize - (v & (kPageSize - 1))));
      auto chunk = out.subspan(done, n);
      if (!space_.physical().read_physical(t.pa, chunk)) break;
      overlays_.apply(t.pa, chunk);
      done += n;
    }
    return done;
  }

  std::vector<std::byte> read_all(std::uint64_t va, std::size_t size, const char* what) const {
    std::vector<std::byte> out(size);
    const std::size_t got = read_prefix(va, out);
    if (got != size) {
      throw Error(ErrorKind::not_present,
                  fmt::format("the {} at VA {:#x} ({:#x} bytes) cannot be read: {}", what, va,
                              size, describe(space_.translate(va + got), space_.mode())));
    }
    return out;
  }

 private:
  AddressSpace space_;
  Overlays overlays_;
};

std::uint64_t load_pointer(std::span<const std::byte> bytes, std::size_t offset, bool is64,
                           const char* what) {
  const std::size_t width = is64 ? 8 : 4;
  if (offset + width > bytes.size()) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: offset {:#x} lies outside the {:#x}-byte structure", what,
                            offset, bytes.size()));
  }
  std::uint64_t v = 0;
  std::memcpy(&v, bytes.data() + offset, width);
  return v;
}

bool kdbg_has(const DiscoveredSystem& s, std::size_t field_offset, std::size_t width) {
  return s.kdbg_block.size() >= field_offset + width;
}

std::u16string utf16(const std::string& s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0xFFFD;
    std::size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 6 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      len = 4;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

// Data blocks never overlap: a new block is cut where an earlier one begins and dropped when
// it starts inside one (Windows' blocks in the sample are disjoint the same way).
class BlockSet {
 public:
  explicit BlockSet(std::vector<SmallDumpBlock>& blocks) : blocks_(blocks) {}

  bool add(std::uint64_t va, std::vector<std::byte> bytes) {
    if (bytes.empty()) return false;
    auto next = taken_.upper_bound(va);
    if (next != taken_.begin()) {
      auto prev = std::prev(next);
      if (prev->second > va) return false;
    }
    if (next != taken_.end() && next->first < va + bytes.size()) {
      bytes.resize(static_cast<std::size_t>(next->first - va));
    }
    if (bytes.empty()) return false;
    taken_[va] = va + bytes.size();
    blocks_.push_back({va, std::move(bytes)});
    return true;
  }

 private:
  std::vector<SmallDumpBlock>& blocks_;
  std::map<std::uint64_t, std::uint64_t> taken_;  // start -> end
};

// KLDR_DATA_TABLE_ENTRY CheckSum / TimeDateStamp (Vergilius Project listings from the public
// symbols): x64 Windows 10 (build 10240+): CheckSum 0x78, TimeDateStamp 0x9C; x64 before
// Windows 10 has no TimeDateStamp there; x86 (NT 5.1 .. 10): CheckSum 0x40, TimeDateStamp 0x44.
void ldr_identity(const KernelReader& mem, const DiscoveredSystem& system, std::uint64_t entry,
                  SmallDumpDriver& d) {
  std::uint32_t checksum_off = 0, timestamp_off = 0;
  if (system.architecture == Architecture::x64) {
    checksum_off = 0x78;
    timestamp_off = system.build >= 10240 ? 0x9C : 0;
  } else {
    checksum_off = 0x40;
    timestamp_off = 0x44;
  }
  std::uint32_t v = 0;
  auto bytes = std::as_writable_bytes(std::span(&v, 1));
  if (mem.read_prefix(entry + checksum_off, bytes) == 4) d.checksum = v;
  if (timestamp_off && mem.read_prefix(entry + timestamp_off, bytes) == 4) d.timestamp = v;
}

bool kernel_address(std::uint64_t v, bool is64) {
  return is64 ? v >= 0xFFFF800000000000ull : (v >= 0x80000000ull && v <= 0xFFFFFFFFull);
}

struct ThreadStack {
  std::uint64_t base = 0, limit = 0;
};

// The current thread's kernel stack bounds from its KTHREAD: StackBase where the KDBG gives its
// offset, else InitialStack rounded up to a page (InitialStack sits below the base by the
// saved floating-point area); StackLimit when the KDBG has it.
ThreadStack stack_of(const DiscoveredSystem& system, std::span<const std::byte> ethread) {
  const KdDebuggerData64& k = system.kdbg;
  const bool is64 = system.architecture == Architecture::x64;
  ThreadStack s;
  if (kdbg_has(system, offsetof(KdDebuggerData64, OffsetKThreadStackBase), 4) &&
      k.OffsetKThreadStackBase) {
    s.base = load_pointer(ethread, k.OffsetKThreadStackBase, is64, "KTHREAD.StackBase");
  } else if (k.OffsetKThreadInitialStack) {
    s.base = load_pointer(ethread, k.OffsetKThreadInitialStack, is64, "KTHREAD.InitialStack");
    s.base = (s.base + kPageSize - 1) & ~(kPageSize - 1) & (is64 ? ~0ull : 0xFFFFFFFFull);
  }
  if (kdbg_has(system, offsetof(KdDebuggerData64, OffsetKThreadStackLimit), 4) &&
      k.OffsetKThreadStackLimit) {
    s.limit = load_pointer(ethread, k.OffsetKThreadStackLimit, is64, "KTHREAD.StackLimit");
  }
  return s;
}

ThreadStack thread_stack(const KernelReader& mem, const DiscoveredSystem& system,
                         std::uint64_t prcb) {
  const KdDebuggerData64& k = system.kdbg;
  const bool is64 = system.architecture == Architecture::x64;
  const std::size_t width = is64 ? 8 : 4;
  if (!prcb || !k.OffsetPrcbCurrentThread || !k.SizeEThread) return {};
  std::uint64_t thread = 0;
  if (mem.read_prefix(prcb + k.OffsetPrcbCurrentThread,
                      std::as_writable_bytes(std::span(&thread, 1)).first(width)) != width) {
    return {};
  }
  std::vector<std::byte> ethread(k.SizeEThread);
  if (mem.read_prefix(thread, ethread) != ethread.size()) return {};
  try {
    return stack_of(system, ethread);
  } catch (const Error&) {
    return {};
  }
}

std::vector<std::uint64_t> context_registers(bool is64, std::span<const std::byte> ctx) {
  std::vector<std::uint64_t> regs;
  if (is64 && ctx.size() >= sizeof(format::ContextAmd64)) {
    format::ContextAmd64 c;
    std::memcpy(&c, ctx.data(), sizeof c);
    for (auto v : {c.Rax, c.Rcx, c.Rdx, c.Rbx, c.Rsp, c.Rbp, c.Rsi, c.Rdi, c.R8, c.R9, c.R10,
                   c.R11, c.R12, c.R13, c.R14, c.R15, c.Rip}) {
      regs.push_back(v);
    }
  } else if (!is64 && ctx.size() >= sizeof(format::ContextI386)) {
    format::ContextI386 c;
    std::memcpy(&c, ctx.data(), sizeof c);
    for (std::uint32_t v : {c.Eax, c.Ecx, c.Edx, c.Ebx, c.Esp, c.Ebp, c.Esi, c.Edi, c.Eip}) {
      regs.push_back(v);
    }
  }
  return regs;
}

}  // namespace

std::uint32_t bugcheck_processor(const PhysicalMemory& image, const DiscoveredSystem& system,
                                 std::vector<std::string>& notes) {
  if (!system.bugcheck || system.cpus.empty()) return 0;
  const bool is64 = system.architecture == Architecture::x64;
  const CpuArch arch = is64 ? CpuArch::x64 : CpuArch::x86;
  const std::uint64_t mask = is64 ? ~0ull : 0xFFFFFFFFull;
  std::vector<std::string> ignored;
  KernelReader mem(image, system, ignored);
  for (const auto& cpu : system.cpus) {
    const std::uint64_t sp = context_stack_pointer(arch, cpu.context) & mask;
    const auto stack = thread_stack(mem, system, cpu.prcb & mask);
    if (!sp || !stack.base || sp >= stack.base) continue;
    for (std::uint64_t p : system.bugcheck->parameters) {
      p &= mask;
      if (p >= sp && p < stack.base) {
        notes.push_back(fmt::format("processor {} is the bugcheck processor: bugcheck parameter "
                                    "{:#x} lies on its thread's stack",
                                    cpu.index, p));
        return cpu.index;
      }
    }
  }
  notes.push_back("no bugcheck parameter lies on a processor's stack; processor 0 is taken "
                  "(choose another with --cpu)");
  return 0;
}

SmallDumpContent gather_small_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                   std::uint32_t cpu, std::vector<std::byte> context) {
  SmallDumpContent c;
  c.is64 = system.architecture == Architecture::x64;
  c.cpu = cpu;
  c.context = std::move(context);
  if (cpu >= system.cpus.size()) {
    throw Error(ErrorKind::usage, fmt::format("processor {} does not exist (the machine has {})",
                                              cpu, system.cpus.size()));
  }
  if (system.kdbg_block.empty()) {
    throw Error(ErrorKind::not_present, "no KDBG was found: a small dump needs its structure "
                                        "sizes and offsets");
  }
  const KdDebuggerData64& k = system.kdbg;
  if (k.SizePrcb == 0 || k.SizeEProcess == 0 || k.SizeEThread == 0 ||
      k.OffsetPrcbCurrentThread == 0 || k.OffsetKThreadApcProcess == 0) {
    throw Error(ErrorKind::unsupported,
                fmt::format("the KDBG lacks what a small dump needs (SizePrcb {:#x}, SizeEProcess "
                            "{:#x}, SizeEThread {:#x}, OffsetPrcbCurrentThread {:#x}, "
                            "OffsetKThreadApcProcess {:#x})",
                            k.SizePrcb, k.SizeEProcess, k.SizeEThread, k.OffsetPrcbCurrentThread,
                            k.OffsetKThreadApcProcess));
  }
  KernelReader mem(image, system, c.notes);
  const std::uint64_t ptr_mask = c.is64 ? ~0ull : 0xFFFFFFFFull;

  c.prcb_va = system.cpus[cpu].prcb & ptr_mask;
  c.prcb = mem.read_all(c.prcb_va, k.SizePrcb, "KPRCB");
  c.thread_va = load_pointer(c.prcb, k.OffsetPrcbCurrentThread, c.is64, "KPRCB.CurrentThread");
  c.ethread = mem.read_all(c.thread_va, k.SizeEThread, "ETHREAD of the current thread");
  c.process_va =
      load_pointer(c.ethread, k.OffsetKThreadApcProcess, c.is64, "KTHREAD.ApcState.Process");
  c.eprocess = mem.read_all(c.process_va, k.SizeEProcess, "EPROCESS of the current thread");

  // The kernel stack: from the stack pointer toward the stack base, 16 KiB at most. The base
  // is KTHREAD.StackBase where the KDBG gives its offset, else InitialStack rounded up to a
  // page (InitialStack sits below the base by the saved floating-point area).
  const CpuArch arch = c.is64 ? CpuArch::x64 : CpuArch::x86;
  const std::uint64_t sp = context_stack_pointer(arch, c.context) & ptr_mask;
  const ThreadStack bounds = stack_of(system, c.ethread);
  const std::uint64_t base = bounds.base, limit = bounds.limit;
  const bool on_thread_stack =
      sp && base && sp < base && (limit ? sp >= limit : base - sp <= 0x30000);
  std::uint64_t end = 0;
  if (on_thread_stack) {
    end = std::min(base, sp + kSmallDumpStackMax);
  } else {
    end = sp + kSmallDumpStackMax;
    c.notes.push_back(fmt::format("the stack pointer {:#x} is not on the thread's kernel stack "
                                  "(base {:#x}, limit {:#x}): 16 KiB from it are taken, as far "
                                  "as they can be read",
                                  sp, base, limit));
  }
  if (sp) {
    c.stack.resize(static_cast<std::size_t>(end - sp));
    c.stack.resize(mem.read_prefix(sp, c.stack));
    c.stack_top = sp;
    if (c.stack.empty()) {
      c.notes.push_back(fmt::format("the stack at {:#x} cannot be read; the dump has none", sp));
    }
  }

  c.kdbg = system.kdbg_block;
  for (const auto& m : system.modules) {
    SmallDumpDriver d{utf16(m.path.empty() ? m.name : m.path), m.base & ptr_mask, m.size,
                      m.checksum, m.timestamp};
    // Discovery takes CheckSum and TimeDateStamp from the image's PE header; a driver whose
    // header is paged out still has them in its loader entry, where Windows takes them from.
    if (m.entry && d.checksum == 0 && d.timestamp == 0) ldr_identity(mem, system, m.entry, d);
    c.drivers.push_back(std::move(d));
  }
  c.unloaded = system.unloaded_drivers;

  // Data blocks, most important first: the KPRCB and the CONTEXT at their addresses, then the
  // memory the registers point to, then the memory the stack's values point to.
  // KiProcessorBlock[] is tiny and first: with it a reader finds the KPRCB's address even
  // when the cap leaves the KPRCB block out.
  BlockSet blocks(c.blocks);
  if (const std::uint64_t kpb = k.KiProcessorBlock & ptr_mask) {
    std::vector<std::byte> array(system.cpus.size() * (c.is64 ? 8 : 4));
    array.resize(mem.read_prefix(kpb, array));
    blocks.add(kpb, std::move(array));
  }
  blocks.add(c.prcb_va, c.prcb);
  const std::size_t ctx_size = c.is64 ? sizeof(format::ContextAmd64) : sizeof(format::ContextI386);
  if (const std::uint64_t cva = system.cpus[cpu].context_va & ptr_mask) {
    std::vector<std::byte> ctx(ctx_size);
    ctx.resize(mem.read_prefix(cva, ctx));
    blocks.add(cva, std::move(ctx));
  }
  auto add_pointed = [&](std::uint64_t v) {
    v &= ptr_mask;
    if (!kernel_address(v, c.is64)) return;
    std::vector<std::byte> bytes(kPointedBlockSize);
    bytes.resize(mem.read_prefix(v, bytes));
    blocks.add(v, std::move(bytes));
  };
  for (std::uint64_t r : context_registers(c.is64, c.context)) add_pointed(r);
  const std::size_t width = c.is64 ? 8 : 4;
  for (std::size_t off = 0; off + width <= c.stack.size(); off += width) {
    add_pointed(load_pointer(c.stack, off, c.is64, "stack"));
  }
  return c;
}

}  // namespace pagedump::writer
