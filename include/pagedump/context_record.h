// Builds the CONTEXT record Windows debuggers read (AMD64 or i386) from captured processor
// state, and reads the basic registers back out of one.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pagedump/cpu_state.h"

namespace pagedump {

// ContextFlags ALL (0x10001F) for x64, FULL|FLOATING|DEBUG|EXTENDED for x86; MxCsr written in
// both the CONTEXT and its FltSave copy (kdmp-parser rejects a mismatch).
std::vector<std::byte> build_context_record(const CpuState& cpu);

// The instruction and stack pointers of a CONTEXT of the given architecture (0 if too short).
std::uint64_t context_instruction_pointer(CpuArch arch, std::span<const std::byte> context);
std::uint64_t context_stack_pointer(CpuArch arch, std::span<const std::byte> context);

}  // namespace pagedump
