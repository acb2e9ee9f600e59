// Processors: KiProcessorBlock -> each KPRCB -> its CONTEXT (the pointer at
// KPRCB + OffsetPrcbContext, else ProcessorState.ContextFrame). Registers captured with the
// image take precedence; where both exist they are compared and differences noted.
#include "discovery_context.h"
#include "pagedump/context_record.h"
#include "pagedump/format/context.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint32_t kMaxProcessors = 2048;
// The KPRCB is embedded in the KPCR: at +0x180 on x64, +0x120 on x86.
constexpr std::uint64_t kPrcbInPcrX64 = 0x180;
constexpr std::uint64_t kPrcbInPcrX86 = 0x120;

const CpuState* captured_for(const Context& ctx, std::uint32_t index, std::uint64_t prcb) {
  const auto cpus = ctx.memory.cpus();
  const std::uint64_t pcr = prcb - (ctx.is64() ? kPrcbInPcrX64 : kPrcbInPcrX86);
  for (const auto& c : cpus) {
    const std::uint64_t base =
        ctx.is64() ? c.seg[CpuState::gs].base : c.seg[CpuState::fs].base;
    if (base == pcr || (c.kernel_gs_base && *c.kernel_gs_base == pcr) ||
        (c.gs_base && *c.gs_base == pcr)) {
      return &c;
    }
  }
  for (const auto& c : cpus) {
    if (c.index == index) return &c;
  }
  return nullptr;
}

}  // namespace

void find_processors(Context& ctx) {
  const auto& k = ctx.sys.kdbg;
  const std::uint64_t block = ctx.kva(k.KiProcessorBlock);
  const std::size_t ctx_size =
      ctx.is64() ? sizeof(format::ContextAmd64) : sizeof(format::ContextI386);
  const CpuArch arch = ctx.is64() ? CpuArch::x64 : CpuArch::x86;
  const bool has_context_offset = ctx.sys.kdbg.Header.Size >= format::kdbg_size::kWin7;
  for (std::uint32_t i = 0; i < kMaxProcessors; ++i) {
    auto prcb = ctx.read_ptr(block + i * ctx.ptr_size());
    if (!prcb || *prcb == 0 || !ctx.is_kernel_va(*prcb)) break;
    DiscoveredCpu cpu;
    cpu.index = i;
    cpu.prcb = *prcb;
    if (k.OffsetPrcbProcStateContext) {
      cpu.proc_state_context_va = *prcb + k.OffsetPrcbProcStateContext;
    }
    std::vector<std::byte> memory_context(ctx_size);
    bool have_memory = false;
    std::string memory_source;
    if (has_context_offset && k.OffsetPrcbContext) {
      if (auto p = ctx.read_ptr(*prcb + k.OffsetPrcbContext); p && ctx.is_kernel_va(*p)) {
        cpu.context_va = *p;
        have_memory = ctx.read(*p, memory_context);
        memory_source = "memory (KPRCB context pointer)";
      }
    }
    if (!have_memory && cpu.proc_state_context_va) {
      have_memory = ctx.read(cpu.proc_state_context_va, memory_context);
      memory_source = "memory (KPRCB.ProcessorState.ContextFrame)";
    }
    if (const CpuState* cap = captured_for(ctx, i, *prcb)) {
      cpu.context = build_context_record(*cap);
      cpu.context_source = fmt::format("captured registers (cpu {})", cap->index);
      if (have_memory) {
        const auto mip = context_instruction_pointer(arch, memory_context);
        const auto msp = context_stack_pointer(arch, memory_context);
        if (mip != cap->rip || msp != cap->gpr[CpuState::rsp]) {
          cpu.notes.push_back(fmt::format(
              "captured ip/sp {:#x}/{:#x} differ from the {} {:#x}/{:#x}", cap->rip,
              cap->gpr[CpuState::rsp], memory_source, mip, msp));
        }
      }
    } else if (have_memory) {
      cpu.context = std::move(memory_context);
      cpu.context_source = memory_source;
    } else {
      cpu.context_source = "none";
      cpu.notes.push_back("no captured registers and no readable CONTEXT in memory");
    }
    ctx.sys.cpus.push_back(std::move(cpu));
  }
  ctx.log("processors: {} from KiProcessorBlock at {:#x}", ctx.sys.cpus.size(), block);
}

}  // namespace pagedump::discovery
