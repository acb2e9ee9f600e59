#include "pagedump/reader/dump_processors.h"

#include <algorithm>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/context_registers.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "pagedump/reader/virtual_view.h"

namespace pagedump {
namespace {

constexpr std::uint32_t kMaxProcessors = 2048;

DumpProcessors from_triage(const DumpFile& dump) {
  DumpProcessors out;
  auto triage = TriageDump::parse(dump.file(), dump.header().is64, dump.header_bytes());
  TriageView view(triage);
  auto cpu = triage.crashing_processor(view);
  DumpProcessor p;
  p.index = cpu.number;
  p.prcb = cpu.prcb_va;
  p.context_va = cpu.context_va;
  p.source = cpu.source == CrashingProcessor::Source::prcb_context_pointer
                 ? "KPRCB context pointer (data block)"
                 : "KPRCB.ProcessorState.ContextFrame (KPRCB copy)";
  p.context = std::move(cpu.context);
  out.cpus.push_back(std::move(p));
  return out;
}

DumpProcessors from_memory(const DumpFile& dump) {
  DumpProcessors out;
  const auto& h = dump.header();
  const auto arch = dump.context_arch();
  if (!h.kd_debugger_data_block || !arch) {
    out.notes.push_back("no KdDebuggerDataBlock or unknown machine: processors not shown");
    return out;
  }
  std::unique_ptr<VirtualMemory> vm;
  try {
    vm = open_virtual_view(dump);
  } catch (const Error& e) {
    out.notes.push_back(e.what());
    return out;
  }
  const std::uint64_t ptr_size = h.is64 ? 8 : 4;
  const std::uint64_t kdbg_va = *h.kd_debugger_data_block;
  std::vector<std::byte> block(sizeof(format::KdDebuggerData64));
  auto r = vm->read_virtual(kdbg_va, std::span(block).first(sizeof(format::DbgkdDebugDataHeader64)));
  if (!r) {
    out.notes.push_back(fmt::format("the KDBG at {:#x} is not readable: {}", kdbg_va,
                                    describe(r, "virtual")));
    return out;
  }
  auto head = format::load<format::DbgkdDebugDataHeader64>(block);
  if (head.OwnerTag != format::kKdbgOwnerTag || !format::plausible_kdbg_size(head.Size)) {
    out.notes.push_back(fmt::format("the block at KdDebuggerDataBlock {:#x} is not a decoded KDBG "
                                    "(tag {:#010x}): processors cannot be found",
                                    kdbg_va, head.OwnerTag));
    return out;
  }
  const std::size_t size = std::min<std::size_t>(head.Size, block.size());
  if (!vm->read_virtual(kdbg_va, std::span(block).first(size))) {
    out.notes.push_back(fmt::format("the KDBG at {:#x} is not readable over {:#x} bytes", kdbg_va,
                                    size));
    return out;
  }
  auto k = format::load_kdbg(std::span(block).first(size));
  const std::uint64_t mask = h.is64 ? ~0ull : 0xFFFFFFFFull;
  const std::size_t ctx_size = format::context_size(*arch);
  const std::uint32_t count =
      std::min<std::uint32_t>(h.number_processors.value_or(0), kMaxProcessors);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto prcb = vm->read_pointer((k.KiProcessorBlock & mask) + i * ptr_size, h.is64);
    if (!prcb || !*prcb) {
      out.notes.push_back(fmt::format("KiProcessorBlock[{}] is not readable or empty", i));
      break;
    }
    DumpProcessor p;
    p.index = i;
    p.prcb = *prcb;
    std::vector<std::byte> ctx(ctx_size);
    if (size > offsetof(format::KdDebuggerData64, OffsetPrcbContext) && k.OffsetPrcbContext) {
      if (auto c = vm->read_pointer(*prcb + k.OffsetPrcbContext, h.is64);
          c && *c && vm->read_virtual(*c, ctx)) {
        p.context_va = *c;
        p.source = "KPRCB context pointer";
        p.context = ctx;
      }
    }
    if (p.context.empty() && k.OffsetPrcbProcStateContext &&
        vm->read_virtual(*prcb + k.OffsetPrcbProcStateContext, ctx)) {
      p.context_va = *prcb + k.OffsetPrcbProcStateContext;
      p.source = "KPRCB.ProcessorState.ContextFrame";
      p.context = ctx;
    }
    if (p.context.empty()) {
      out.notes.push_back(fmt::format("cpu {}: no readable CONTEXT for KPRCB {:#x}", i, *prcb));
    }
    out.cpus.push_back(std::move(p));
  }
  return out;
}

}  // namespace

DumpProcessors dump_processors(const DumpFile& dump) {
  try {
    if (dump.header().dump_type == static_cast<std::uint32_t>(format::DumpType::triage)) {
      return from_triage(dump);
    }
    if (dump.layout() == MemoryLayout::none) return {};
    return from_memory(dump);
  } catch (const Error& e) {
    DumpProcessors out;
    out.notes.push_back(e.what());
    return out;
  }
}

}  // namespace pagedump
