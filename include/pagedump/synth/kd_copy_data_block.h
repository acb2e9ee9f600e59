// A KdCopyDataBlock-shaped x64 routine (reference §6.4): the code a PDB-less discovery
// disassembles to find &KdpDataBlockEncoded, &KdDebuggerDataBlock, &KiWaitNever and
// &KiWaitAlways. Hand-assembled machine code whose instruction order matches the pattern
// discovery relies on: first `cmp byte ptr [rip+x], 0` (the flag), first `lea r64, [rip+x]`
// (the block), next `mov r64, [rip+x]` (KiWaitNever), next `xor r64, [rip+x]` (KiWaitAlways),
// a BSWAP, a ROL and the constant Size / 8 as the loop count, all before the first RET.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pagedump::synth {

struct KdCopyDataBlockLayout {
  std::uint32_t code_rva = 0;          // where the routine is placed
  std::uint32_t encoded_flag_rva = 0;  // nt!KdpDataBlockEncoded (a byte)
  std::uint32_t kdbg_rva = 0;          // nt!KdDebuggerDataBlock
  std::uint32_t wait_never_rva = 0;    // nt!KiWaitNever (u64)
  std::uint32_t wait_always_rva = 0;   // nt!KiWaitAlways (u64)
  std::uint32_t kdbg_size = 0x380;     // KDBG Header.Size; the loop runs Size / 8 times
};

// The routine's bytes, to be written at layout.code_rva.
std::vector<std::byte> assemble_kd_copy_data_block(const KdCopyDataBlockLayout& layout);

// Offsets (from the routine's start) of the instructions a discovery keys on, for tests.
namespace kd_copy_offsets {
inline constexpr std::uint32_t kCmpFlag = 0;         // cmp byte ptr [rip+flag], 0
inline constexpr std::uint32_t kLeaKdbg = 12;        // lea rdx, [rip+KdDebuggerDataBlock]
inline constexpr std::uint32_t kMovWaitNever = 19;   // mov r8, [rip+KiWaitNever]
inline constexpr std::uint32_t kLeaFlag = 26;        // lea r11, [rip+KdpDataBlockEncoded]
inline constexpr std::uint32_t kMovCount = 33;       // mov r9d, Size / 8
inline constexpr std::uint32_t kBswap = 54;          // bswap rax
inline constexpr std::uint32_t kXorWaitAlways = 57;  // xor rax, [rip+KiWaitAlways]
inline constexpr std::uint32_t kFirstRet = 80;       // ret
inline constexpr std::uint32_t kSize = 114;
}  // namespace kd_copy_offsets

}  // namespace pagedump::synth
