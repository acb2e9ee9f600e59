#include "dump_finishing.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "pagedump/context_record.h"
#include "pagedump/error.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/format/bugcheck.h"
#include "pagedump/format/context.h"
#include "pagedump/format/pointer_width.h"

namespace pagedump::writer {

using namespace format;

Bugcheck choose_bugcheck(const DiscoveredSystem& system, const std::optional<Bugcheck>& o) {
  if (o) return *o;
  if (system.bugcheck) return *system.bugcheck;
  return Bugcheck{bugcheck::kManuallyInitiatedCrash, {0, 0, 0, 0}};
}

namespace {

CpuState minimal_kernel_state(Architecture arch) {
  CpuState s;
  if (arch == Architecture::x64) {
    s.arch = CpuArch::x64;
    s.seg[CpuState::cs].selector = kernel_selectors_x64::kCs;
    s.seg[CpuState::ds].selector = kernel_selectors_x64::kDs;
    s.seg[CpuState::es].selector = kernel_selectors_x64::kEs;
    s.seg[CpuState::fs].selector = kernel_selectors_x64::kFs;
    s.seg[CpuState::gs].selector = kernel_selectors_x64::kGs;
    s.seg[CpuState::ss].selector = kernel_selectors_x64::kSs;
  } else {
    s.arch = CpuArch::x86;
    s.seg[CpuState::cs].selector = kernel_selectors_x86::kCs;
    s.seg[CpuState::ds].selector = kernel_selectors_x86::kDs;
    s.seg[CpuState::es].selector = kernel_selectors_x86::kEs;
    s.seg[CpuState::fs].selector = kernel_selectors_x86::kFs;
    s.seg[CpuState::gs].selector = kernel_selectors_x86::kGs;
    s.seg[CpuState::ss].selector = kernel_selectors_x86::kSs;
  }
  return s;
}

// ContextFlags carry the architecture bit and MxCsr matches its FltSave copy (kdmp-parser
// rejects a mismatch; WinDbg warns about a missing architecture flag).
std::vector<std::byte> normalised(Architecture arch, std::vector<std::byte> ctx) {
  if (arch == Architecture::x64 && ctx.size() >= sizeof(ContextAmd64)) {
    ContextAmd64 c;
    std::memcpy(&c, ctx.data(), sizeof c);
    if (!(c.ContextFlags & context_flags::kAmd64)) c.ContextFlags = context_flags::kAmd64All;
    if (c.MxCsr == 0 && c.FltSave.MxCsr == 0) c.MxCsr = 0x1F80;
    c.FltSave.MxCsr = c.MxCsr;
    std::memcpy(ctx.data(), &c, sizeof c);
  } else if (arch == Architecture::x86 && ctx.size() >= sizeof(ContextI386)) {
    ContextI386 c;
    std::memcpy(&c, ctx.data(), sizeof c);
    if (!(c.ContextFlags & context_flags::kI386)) c.ContextFlags |= context_flags::kI386Full;
    std::memcpy(ctx.data(), &c, sizeof c);
  }
  return ctx;
}

bool context_is_empty(Architecture arch, std::span<const std::byte> ctx) {
  const CpuArch a = arch == Architecture::x64 ? CpuArch::x64 : CpuArch::x86;
  return ctx.empty() || (context_instruction_pointer(a, ctx) == 0 &&
                         context_stack_pointer(a, ctx) == 0);
}

}  // namespace

std::vector<std::byte> header_context(const DiscoveredSystem& system, std::uint32_t cpu) {
  if (cpu < system.cpus.size() && !context_is_empty(system.architecture, system.cpus[cpu].context)) {
    return normalised(system.architecture, system.cpus[cpu].context);
  }
  return build_context_record(minimal_kernel_state(system.architecture));
}

std::string dump_comment(const std::string& source_format) {
  return fmt::format("pagedump {} from a {} memory image", PAGEDUMP_VERSION,
                     source_format.empty() ? "captured" : source_format);
}

namespace {

template <class W>
void finish(std::span<std::byte> header, std::uint32_t dump_type, const Bugcheck& b,
            std::span<const std::byte> ctx, std::uint64_t ip, std::uint64_t required,
            const std::string& comment) {
  using Ptr = typename W::Pointer;
  typename W::DumpHeader h;
  std::memcpy(&h, header.data(), sizeof h);
  h.DumpType = dump_type;
  h.BugCheckCode = b.code;
  for (int i = 0; i < 4; ++i) h.BugCheckParameter[i] = static_cast<Ptr>(b.parameters[i]);
  std::memcpy(h.ContextRecord, ctx.data(), std::min(ctx.size(), sizeof h.ContextRecord));
  h.Exception.ExceptionCode = kStatusBreakpoint;
  h.Exception.ExceptionFlags = kExceptionNoncontinuable;
  h.Exception.ExceptionRecord = 0;
  h.Exception.ExceptionAddress = static_cast<Ptr>(ip);
  h.Exception.NumberParameters = 0;
  h.RequiredDumpSpace = required;
  std::memset(h.Comment, 0, sizeof h.Comment);
  std::memcpy(h.Comment, comment.data(), std::min(comment.size(), sizeof h.Comment - 1));
  std::memcpy(header.data(), &h, sizeof h);
}

}  // namespace

void finish_header(std::span<std::byte> header, const DiscoveredSystem& system,
                   std::uint32_t dump_type, const Bugcheck& b, std::span<const std::byte> ctx,
                   std::uint64_t required, const std::string& comment) {
  const bool is64 = system.architecture == Architecture::x64;
  const std::uint64_t ip = context_instruction_pointer(is64 ? CpuArch::x64 : CpuArch::x86, ctx);
  with_width(is64, [&](auto width) {
    finish<decltype(width)>(header, dump_type, b, ctx, ip, required, comment);
  });
}

void read_corrected_pages(const PhysicalMemory& image, const Overlays& overlays, std::uint64_t pfn,
                          std::span<std::byte> out) {
  ReadResult r = image.read_physical(pfn * kPageSize, out);
  if (!r) {
    throw Error(r.status == ReadStatus::truncated ? ErrorKind::truncated : ErrorKind::not_present,
                fmt::format("reading the image for the dump: {}", describe(r)));
  }
  overlays.apply(pfn * kPageSize, out);
}

bool is_zero_page(std::span<const std::byte> page) noexcept {
  static const std::array<std::byte, kPageSize> zero{};
  return page.size() == kPageSize && std::memcmp(page.data(), zero.data(), kPageSize) == 0;
}

namespace {

void keep_range(Overlays& o, const AddressSpace& space, std::uint64_t va, std::uint64_t size) {
  if (va == 0 || size == 0 || va + size < va) return;
  for (std::uint64_t page = va & ~(kPageSize - 1); page < va + size; page += kPageSize) {
    o.keep_virtual(space, page);
  }
}

// What a debugger reads first of each processor stays in the dump even where it is all zeros
// (a bitmap dump leaves zero pages out, and a missing page reads as an error, not as zeros):
// the page the stack pointer lies in, the KPRCB, and its current thread and that thread's
// process, whose sizes and offsets the KDBG gives (16-bit fields: at most 64 KiB each).
void keep_processor_pages(const AddressSpace& space, const DiscoveredSystem& system,
                          Overlays& o) {
  const bool is64 = system.architecture == Architecture::x64;
  const CpuArch arch = is64 ? CpuArch::x64 : CpuArch::x86;
  const KdDebuggerData64& k = system.kdbg;
  const bool sizes = !system.kdbg_block.empty() && k.SizePrcb != 0;
  const std::uint64_t mask = is64 ? ~0ull : 0xFFFFFFFFull;  // x86 VAs may come sign-extended
  for (const auto& cpu : system.cpus) {
    if (const std::uint64_t sp = context_stack_pointer(arch, cpu.context) & mask; sp != 0) {
      o.keep_virtual(space, sp);
    }
    if (!sizes) continue;
    const std::uint64_t prcb = cpu.prcb & mask;
    keep_range(o, space, prcb, k.SizePrcb);
    const std::uint64_t thread =
        k.OffsetPrcbCurrentThread
            ? space.read_pointer(prcb + k.OffsetPrcbCurrentThread, is64).value_or(0)
            : 0;
    keep_range(o, space, thread, k.SizeEThread);
    if (thread && k.OffsetKThreadApcProcess) {
      keep_range(o, space, space.read_pointer(thread + k.OffsetKThreadApcProcess, is64).value_or(0),
                 k.SizeEProcess);
    }
  }
}

}  // namespace

Overlays consistency_overlays(const PhysicalMemory& image, const DiscoveredSystem& system,
                              std::vector<std::string>& notes) {
  Overlays o;
  AddressSpace space(image, system.paging, system.directory_table_base);
  if (system.kdbg_encoded && !system.kdbg_block.empty()) {
    o.add_virtual(space, system.kdbg_va, system.kdbg_block, "decoded KDBG", notes);
    if (system.kdbg_keys) {
      const std::byte zero{0};
      o.add_virtual(space, system.kdbg_keys->encoded_flag_va, std::span(&zero, 1),
                    "KdpDataBlockEncoded = 0", notes);
    }
    notes.push_back(fmt::format("the decoded KDBG is written over the encoded one at {:#x}",
                                system.kdbg_va));
  }
  keep_processor_pages(space, system, o);
  for (const auto& cpu : system.cpus) {
    const bool captured = cpu.context_source.rfind("captured", 0) == 0;
    const bool empty = context_is_empty(system.architecture, cpu.context);
    std::vector<std::byte> ctx;
    if (captured) {
      ctx = normalised(system.architecture, cpu.context);
    } else if (empty) {
      // Nothing usable anywhere: at least a record WinDbg accepts (flags and selectors).
      ctx = build_context_record(minimal_kernel_state(system.architecture));
      notes.push_back(fmt::format("cpu {}: no register state; a minimal kernel-mode CONTEXT is "
                                  "written", cpu.index));
    } else {
      auto fixed = normalised(system.architecture, cpu.context);
      if (fixed == cpu.context) continue;  // memory already holds a consistent record
      ctx = std::move(fixed);
    }
    const std::string what = fmt::format("cpu {} CONTEXT", cpu.index);
    if (cpu.context_va) o.add_virtual(space, cpu.context_va, ctx, what, notes);
    if (cpu.proc_state_context_va) {
      o.add_virtual(space, cpu.proc_state_context_va, ctx, what + " (ProcessorState)", notes);
    }
  }
  return o;
}

}  // namespace pagedump::writer
