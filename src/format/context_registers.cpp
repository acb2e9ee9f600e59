#include "pagedump/format/context_registers.h"

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/common.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"

namespace pagedump::format {

std::optional<ContextArch> context_arch_for_machine(std::uint32_t machine_image_type) noexcept {
  switch (machine_image_type) {
    case machine::kAmd64: return ContextArch::amd64;
    case machine::kI386: return ContextArch::i386;
    case machine::kArm64: return ContextArch::arm64;
    case machine::kArmNt: return ContextArch::arm;
    default: return std::nullopt;
  }
}

std::size_t context_size(ContextArch arch) noexcept {
  switch (arch) {
    case ContextArch::amd64: return sizeof(ContextAmd64);
    case ContextArch::i386: return sizeof(ContextI386);
    case ContextArch::arm64: return sizeof(ContextArm64);
    case ContextArch::arm: return sizeof(ContextArm);
  }
  return 0;
}

namespace {

NamedRegisters amd64_registers(const ContextAmd64& c) {
  return {{"rax", c.Rax},       {"rcx", c.Rcx},      {"rdx", c.Rdx},     {"rbx", c.Rbx},
          {"rsp", c.Rsp},       {"rbp", c.Rbp},      {"rsi", c.Rsi},     {"rdi", c.Rdi},
          {"r8", c.R8},         {"r9", c.R9},        {"r10", c.R10},     {"r11", c.R11},
          {"r12", c.R12},       {"r13", c.R13},      {"r14", c.R14},     {"r15", c.R15},
          {"rip", c.Rip},       {"rflags", c.EFlags}, {"cs", c.SegCs},   {"ds", c.SegDs},
          {"es", c.SegEs},      {"fs", c.SegFs},     {"gs", c.SegGs},    {"ss", c.SegSs},
          {"mxcsr", c.MxCsr},   {"dr0", c.Dr0},      {"dr1", c.Dr1},     {"dr2", c.Dr2},
          {"dr3", c.Dr3},       {"dr6", c.Dr6},      {"dr7", c.Dr7},
          {"context_flags", c.ContextFlags}};
}

NamedRegisters i386_registers(const ContextI386& c) {
  return {{"eax", c.Eax},    {"ecx", c.Ecx},       {"edx", c.Edx},   {"ebx", c.Ebx},
          {"esp", c.Esp},    {"ebp", c.Ebp},       {"esi", c.Esi},   {"edi", c.Edi},
          {"eip", c.Eip},    {"eflags", c.EFlags}, {"cs", c.SegCs},  {"ds", c.SegDs},
          {"es", c.SegEs},   {"fs", c.SegFs},      {"gs", c.SegGs},  {"ss", c.SegSs},
          {"dr0", c.Dr0},    {"dr1", c.Dr1},       {"dr2", c.Dr2},   {"dr3", c.Dr3},
          {"dr6", c.Dr6},    {"dr7", c.Dr7},       {"context_flags", c.ContextFlags}};
}

NamedRegisters arm64_registers(const ContextArm64& c) {
  NamedRegisters out;
  out.reserve(37);
  for (int i = 0; i <= 28; ++i) out.emplace_back(fmt::format("x{}", i), c.X[i]);
  out.emplace_back("fp", c.X[29]);
  out.emplace_back("lr", c.X[30]);
  out.emplace_back("sp", c.Sp);
  out.emplace_back("pc", c.Pc);
  out.emplace_back("cpsr", c.Cpsr);
  out.emplace_back("fpcr", c.Fpcr);
  out.emplace_back("fpsr", c.Fpsr);
  out.emplace_back("context_flags", c.ContextFlags);
  return out;
}

NamedRegisters arm_registers(const ContextArm& c) {
  NamedRegisters out;
  out.reserve(19);
  for (int i = 0; i <= 12; ++i) out.emplace_back(fmt::format("r{}", i), c.R[i]);
  out.emplace_back("sp", c.Sp);
  out.emplace_back("lr", c.Lr);
  out.emplace_back("pc", c.Pc);
  out.emplace_back("cpsr", c.Cpsr);
  out.emplace_back("fpscr", c.Fpscr);
  out.emplace_back("context_flags", c.ContextFlags);
  return out;
}

const char* arch_name(ContextArch arch) {
  switch (arch) {
    case ContextArch::amd64: return "AMD64";
    case ContextArch::i386: return "i386";
    case ContextArch::arm64: return "ARM64";
    case ContextArch::arm: return "ARM";
  }
  return "?";
}

}  // namespace

NamedRegisters context_registers(ContextArch arch, std::span<const std::byte> bytes) {
  std::size_t need = context_size(arch);
  if (bytes.size() < need) {
    throw Error(ErrorKind::truncated,
                fmt::format("{} CONTEXT needs {:#x} bytes, only {:#x} available", arch_name(arch),
                            need, bytes.size()));
  }
  switch (arch) {
    case ContextArch::amd64: return amd64_registers(load<ContextAmd64>(bytes));
    case ContextArch::i386: return i386_registers(load<ContextI386>(bytes));
    case ContextArch::arm64: return arm64_registers(load<ContextArm64>(bytes));
    case ContextArch::arm: return arm_registers(load<ContextArm>(bytes));
  }
  return {};
}

}  // namespace pagedump::format
