// Named registers from the raw bytes of a CONTEXT record (reference §7.1), for printing and
// JSON. The bytes come from a file, so the span is checked against the layout's size first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pagedump::format {

enum class ContextArch { amd64, i386, arm64, arm };

// The CONTEXT layout a MachineImageType uses, or nullopt for a machine pagedump does not know.
std::optional<ContextArch> context_arch_for_machine(std::uint32_t machine_image_type) noexcept;

// Bytes the layout occupies (0x4D0, 0x2CC, 0x390, 0x1A0).
std::size_t context_size(ContextArch arch) noexcept;

using NamedRegisters = std::vector<std::pair<std::string, std::uint64_t>>;

// Lower-case register name -> value, in a stable order:
//  amd64: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 rip rflags cs ds es fs gs ss mxcsr
//         dr0 dr1 dr2 dr3 dr6 dr7 context_flags
//  i386:  eax ecx edx ebx esp ebp esi edi eip eflags cs ds es fs gs ss dr0..dr3 dr6 dr7
//         context_flags
//  arm64: x0..x28 fp lr sp pc cpsr fpcr fpsr context_flags
//  arm:   r0..r12 sp lr pc cpsr fpscr context_flags
// Throws Error(truncated) when `bytes` is shorter than context_size(arch).
NamedRegisters context_registers(ContextArch arch, std::span<const std::byte> bytes);

}  // namespace pagedump::format
