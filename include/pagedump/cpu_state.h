// Processor state captured along with a memory image (QEMU/VirtualBox notes, VMware
// checkpoints) or recovered from a dump. Fields the capture did not carry stay unset.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pagedump {

enum class CpuArch { x64, x86 };

struct SegmentState {
  std::uint16_t selector = 0;
  std::uint64_t base = 0;
  std::uint32_t limit = 0;
  std::uint32_t attributes = 0;
};

struct TableRegister {
  std::uint64_t base = 0;
  std::uint32_t limit = 0;
};

struct CpuState {
  // Index into the general registers, in the x86 encoding order.
  enum Gpr { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 };
  enum Seg { es, cs, ss, ds, fs, gs };

  std::uint32_t index = 0;
  CpuArch arch = CpuArch::x64;
  std::array<std::uint64_t, 16> gpr{};  // x86: only the first 8, zero-extended
  std::uint64_t rip = 0;
  std::uint64_t rflags = 0;
  std::array<SegmentState, 6> seg{};
  std::uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0;
  std::optional<std::uint64_t> efer;
  std::optional<std::uint64_t> gs_base;         // IA32_GS_BASE (same as seg[gs].base when known)
  std::optional<std::uint64_t> kernel_gs_base;  // IA32_KERNEL_GS_BASE
  TableRegister gdtr{}, idtr{};
  std::optional<std::uint16_t> fcw, fsw, ftw;
  std::optional<std::uint32_t> mxcsr;

  // Kernel mode: CPL 0 (the low two bits of CS).
  bool kernel_mode() const noexcept { return (seg[cs].selector & 3) == 0; }

  // Lower-case register name -> value, in a stable order, for printing and JSON.
  std::vector<std::pair<std::string, std::uint64_t>> named_registers() const;
};

}  // namespace pagedump
