#include "pagedump/context_record.h"

#include <cstring>

#include "pagedump/format/context.h"

namespace pagedump {

using namespace format;

std::vector<std::byte> build_context_record(const CpuState& cpu) {
  if (cpu.arch == CpuArch::x64) {
    ContextAmd64 c{};
    c.ContextFlags = context_flags::kAmd64All;
    c.MxCsr = cpu.mxcsr.value_or(0x1F80);
    c.FltSave.MxCsr = c.MxCsr;
    c.FltSave.MxCsr_Mask = 0xFFFF;
    c.FltSave.ControlWord = cpu.fcw.value_or(0x27F);
    c.FltSave.StatusWord = cpu.fsw.value_or(0);
    c.FltSave.TagWord = static_cast<std::uint8_t>(cpu.ftw.value_or(0));
    c.SegCs = cpu.seg[CpuState::cs].selector;
    c.SegDs = cpu.seg[CpuState::ds].selector;
    c.SegEs = cpu.seg[CpuState::es].selector;
    c.SegFs = cpu.seg[CpuState::fs].selector;
    c.SegGs = cpu.seg[CpuState::gs].selector;
    c.SegSs = cpu.seg[CpuState::ss].selector;
    c.EFlags = static_cast<std::uint32_t>(cpu.rflags);
    const auto& g = cpu.gpr;
    c.Rax = g[CpuState::rax]; c.Rcx = g[CpuState::rcx]; c.Rdx = g[CpuState::rdx];
    c.Rbx = g[CpuState::rbx]; c.Rsp = g[CpuState::rsp]; c.Rbp = g[CpuState::rbp];
    c.Rsi = g[CpuState::rsi]; c.Rdi = g[CpuState::rdi];
    c.R8 = g[CpuState::r8]; c.R9 = g[CpuState::r9]; c.R10 = g[CpuState::r10];
    c.R11 = g[CpuState::r11]; c.R12 = g[CpuState::r12]; c.R13 = g[CpuState::r13];
    c.R14 = g[CpuState::r14]; c.R15 = g[CpuState::r15];
    c.Rip = cpu.rip;
    std::vector<std::byte> out(sizeof c);
    std::memcpy(out.data(), &c, sizeof c);
    return out;
  }
  ContextI386 c{};
  c.ContextFlags = context_flags::kI386Full | context_flags::kFloatingPoint |
                   context_flags::kDebugRegisters | context_flags::kExtendedRegisters;
  c.FloatSave.ControlWord = cpu.fcw.value_or(0x27F);
  c.FloatSave.StatusWord = cpu.fsw.value_or(0);
  c.FloatSave.TagWord = cpu.ftw.value_or(0xFFFF);
  c.SegGs = cpu.seg[CpuState::gs].selector;
  c.SegFs = cpu.seg[CpuState::fs].selector;
  c.SegEs = cpu.seg[CpuState::es].selector;
  c.SegDs = cpu.seg[CpuState::ds].selector;
  c.SegCs = cpu.seg[CpuState::cs].selector;
  c.SegSs = cpu.seg[CpuState::ss].selector;
  const auto& g = cpu.gpr;
  c.Eax = static_cast<std::uint32_t>(g[CpuState::rax]);
  c.Ecx = static_cast<std::uint32_t>(g[CpuState::rcx]);
  c.Edx = static_cast<std::uint32_t>(g[CpuState::rdx]);
  c.Ebx = static_cast<std::uint32_t>(g[CpuState::rbx]);
  c.Esp = static_cast<std::uint32_t>(g[CpuState::rsp]);
  c.Ebp = static_cast<std::uint32_t>(g[CpuState::rbp]);
  c.Esi = static_cast<std::uint32_t>(g[CpuState::rsi]);
  c.Edi = static_cast<std::uint32_t>(g[CpuState::rdi]);
  c.Eip = static_cast<std::uint32_t>(cpu.rip);
  c.EFlags = static_cast<std::uint32_t>(cpu.rflags);
  const std::uint32_t mxcsr = cpu.mxcsr.value_or(0x1F80);
  std::memcpy(c.ExtendedRegisters + kI386ExtendedMxCsr, &mxcsr, 4);
  std::vector<std::byte> out(sizeof c);
  std::memcpy(out.data(), &c, sizeof c);
  return out;
}

template <class T>
static std::uint64_t field_at(std::span<const std::byte> ctx, std::size_t off) {
  if (ctx.size() < off + sizeof(T)) return 0;
  T v;
  std::memcpy(&v, ctx.data() + off, sizeof v);
  return v;
}

std::uint64_t context_instruction_pointer(CpuArch arch, std::span<const std::byte> ctx) {
  return arch == CpuArch::x64 ? field_at<std::uint64_t>(ctx, offsetof(ContextAmd64, Rip))
                              : field_at<std::uint32_t>(ctx, offsetof(ContextI386, Eip));
}

std::uint64_t context_stack_pointer(CpuArch arch, std::span<const std::byte> ctx) {
  return arch == CpuArch::x64 ? field_at<std::uint64_t>(ctx, offsetof(ContextAmd64, Rsp))
                              : field_at<std::uint32_t>(ctx, offsetof(ContextI386, Esp));
}

}  // namespace pagedump
