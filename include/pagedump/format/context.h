// Processor CONTEXT records for AMD64, i386, ARM64 and ARM (reference §7.1). The dump
// header holds one (at 0x348 / 0x320); each KPRCB points to another.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pagedump::format {

// ContextFlags: architecture bit | parts (reference §7.1, QEMU-defs).
namespace context_flags {
inline constexpr std::uint32_t kAmd64 = 0x100000;
inline constexpr std::uint32_t kI386 = 0x10000;
inline constexpr std::uint32_t kArm64 = 0x400000;
inline constexpr std::uint32_t kArm = 0x200000;
inline constexpr std::uint32_t kControl = 0x1;
inline constexpr std::uint32_t kInteger = 0x2;
inline constexpr std::uint32_t kSegments = 0x4;
inline constexpr std::uint32_t kFloatingPoint = 0x8;
inline constexpr std::uint32_t kDebugRegisters = 0x10;
inline constexpr std::uint32_t kExtendedRegisters = 0x20;  // i386 only
inline constexpr std::uint32_t kAmd64Full = kAmd64 | kControl | kInteger | kFloatingPoint;  // 0x10000B
inline constexpr std::uint32_t kAmd64All =
    kAmd64Full | kSegments | kDebugRegisters;  // 0x10001F
inline constexpr std::uint32_t kI386Full = kI386 | kControl | kInteger | kSegments;  // 0x10007
static_assert(kAmd64Full == 0x10000B && kAmd64All == 0x10001F && kI386Full == 0x10007);
}  // namespace context_flags

struct M128A {
  std::uint64_t Low;
  std::int64_t High;
};

// XMM_SAVE_AREA32: the FXSAVE legacy area.
struct XmmSaveArea32 {
  std::uint16_t ControlWord;
  std::uint16_t StatusWord;
  std::uint8_t TagWord;
  std::uint8_t Reserved1;
  std::uint16_t ErrorOpcode;
  std::uint32_t ErrorOffset;
  std::uint16_t ErrorSelector;
  std::uint16_t Reserved2;
  std::uint32_t DataOffset;
  std::uint16_t DataSelector;
  std::uint16_t Reserved3;
  std::uint32_t MxCsr;
  std::uint32_t MxCsr_Mask;
  M128A FloatRegisters[8];
  M128A XmmRegisters[16];
  std::uint8_t Reserved4[96];
};
static_assert(sizeof(XmmSaveArea32) == 512);
static_assert(offsetof(XmmSaveArea32, MxCsr) == 0x18);
static_assert(offsetof(XmmSaveArea32, XmmRegisters) == 0xA0);

struct ContextAmd64 {
  std::uint64_t P1Home, P2Home, P3Home, P4Home, P5Home, P6Home;
  std::uint32_t ContextFlags;
  std::uint32_t MxCsr;
  std::uint16_t SegCs, SegDs, SegEs, SegFs, SegGs, SegSs;
  std::uint32_t EFlags;
  std::uint64_t Dr0, Dr1, Dr2, Dr3, Dr6, Dr7;
  std::uint64_t Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi;
  std::uint64_t R8, R9, R10, R11, R12, R13, R14, R15;
  std::uint64_t Rip;
  XmmSaveArea32 FltSave;
  M128A VectorRegister[26];
  std::uint64_t VectorControl;
  std::uint64_t DebugControl;
  std::uint64_t LastBranchToRip;
  std::uint64_t LastBranchFromRip;
  std::uint64_t LastExceptionToRip;
  std::uint64_t LastExceptionFromRip;
};
static_assert(sizeof(ContextAmd64) == 0x4D0);
static_assert(offsetof(ContextAmd64, ContextFlags) == 0x30);
static_assert(offsetof(ContextAmd64, MxCsr) == 0x34);
static_assert(offsetof(ContextAmd64, SegCs) == 0x38);
static_assert(offsetof(ContextAmd64, SegSs) == 0x42);
static_assert(offsetof(ContextAmd64, EFlags) == 0x44);
static_assert(offsetof(ContextAmd64, Dr0) == 0x48);
static_assert(offsetof(ContextAmd64, Dr7) == 0x70);
static_assert(offsetof(ContextAmd64, Rax) == 0x78);
static_assert(offsetof(ContextAmd64, Rcx) == 0x80);
static_assert(offsetof(ContextAmd64, Rdx) == 0x88);
static_assert(offsetof(ContextAmd64, Rbx) == 0x90);
static_assert(offsetof(ContextAmd64, Rsp) == 0x98);
static_assert(offsetof(ContextAmd64, Rbp) == 0xA0);
static_assert(offsetof(ContextAmd64, Rsi) == 0xA8);
static_assert(offsetof(ContextAmd64, Rdi) == 0xB0);
static_assert(offsetof(ContextAmd64, R8) == 0xB8);
static_assert(offsetof(ContextAmd64, R15) == 0xF0);
static_assert(offsetof(ContextAmd64, Rip) == 0xF8);
static_assert(offsetof(ContextAmd64, FltSave) == 0x100);
static_assert(offsetof(ContextAmd64, FltSave) + offsetof(XmmSaveArea32, MxCsr) == 0x118);
static_assert(offsetof(ContextAmd64, FltSave) + offsetof(XmmSaveArea32, XmmRegisters) == 0x1A0);
static_assert(offsetof(ContextAmd64, VectorRegister) == 0x300);
static_assert(offsetof(ContextAmd64, VectorControl) == 0x4A0);
static_assert(offsetof(ContextAmd64, DebugControl) == 0x4A8);
static_assert(offsetof(ContextAmd64, LastBranchToRip) == 0x4B0);

// FLOATING_SAVE_AREA of the i386 CONTEXT.
struct FloatingSaveArea {
  std::uint32_t ControlWord, StatusWord, TagWord, ErrorOffset, ErrorSelector, DataOffset,
      DataSelector;
  std::uint8_t RegisterArea[80];
  std::uint32_t Cr0NpxState;
};
static_assert(sizeof(FloatingSaveArea) == 112);

struct ContextI386 {
  std::uint32_t ContextFlags;
  std::uint32_t Dr0, Dr1, Dr2, Dr3, Dr6, Dr7;
  FloatingSaveArea FloatSave;
  std::uint32_t SegGs, SegFs, SegEs, SegDs;
  std::uint32_t Edi, Esi, Ebx, Edx, Ecx, Eax;
  std::uint32_t Ebp, Eip, SegCs, EFlags, Esp, SegSs;
  std::uint8_t ExtendedRegisters[512];  // FXSAVE layout: MXCSR at +0x18
};
static_assert(sizeof(ContextI386) == 0x2CC);
static_assert(offsetof(ContextI386, Dr0) == 0x04);
static_assert(offsetof(ContextI386, FloatSave) == 0x1C);
static_assert(offsetof(ContextI386, SegGs) == 0x8C);
static_assert(offsetof(ContextI386, SegFs) == 0x90);
static_assert(offsetof(ContextI386, SegEs) == 0x94);
static_assert(offsetof(ContextI386, SegDs) == 0x98);
static_assert(offsetof(ContextI386, Edi) == 0x9C);
static_assert(offsetof(ContextI386, Esi) == 0xA0);
static_assert(offsetof(ContextI386, Ebx) == 0xA4);
static_assert(offsetof(ContextI386, Edx) == 0xA8);
static_assert(offsetof(ContextI386, Ecx) == 0xAC);
static_assert(offsetof(ContextI386, Eax) == 0xB0);
static_assert(offsetof(ContextI386, Ebp) == 0xB4);
static_assert(offsetof(ContextI386, Eip) == 0xB8);
static_assert(offsetof(ContextI386, SegCs) == 0xBC);
static_assert(offsetof(ContextI386, EFlags) == 0xC0);
static_assert(offsetof(ContextI386, Esp) == 0xC4);
static_assert(offsetof(ContextI386, SegSs) == 0xC8);
static_assert(offsetof(ContextI386, ExtendedRegisters) == 0xCC);
inline constexpr std::size_t kI386ExtendedMxCsr = 0x18;

struct Neon128 {
  std::uint64_t Low;
  std::int64_t High;
};

// ARM64_NT_CONTEXT (winnt.h layout).
struct ContextArm64 {
  std::uint32_t ContextFlags;
  std::uint32_t Cpsr;
  std::uint64_t X[31];  // X0..X28, Fp (X29), Lr (X30)
  std::uint64_t Sp;
  std::uint64_t Pc;
  Neon128 V[32];
  std::uint32_t Fpcr;
  std::uint32_t Fpsr;
  std::uint32_t Bcr[8];
  std::uint64_t Bvr[8];
  std::uint32_t Wcr[2];
  std::uint64_t Wvr[2];
};
static_assert(sizeof(ContextArm64) == 0x390);
static_assert(offsetof(ContextArm64, Cpsr) == 0x04);
static_assert(offsetof(ContextArm64, X) == 0x08);
static_assert(offsetof(ContextArm64, Sp) == 0x100);
static_assert(offsetof(ContextArm64, Pc) == 0x108);
static_assert(offsetof(ContextArm64, V) == 0x110);
static_assert(offsetof(ContextArm64, Fpcr) == 0x310);
static_assert(offsetof(ContextArm64, Bvr) == 0x338);
static_assert(offsetof(ContextArm64, Wvr) == 0x380);

// ARM (Thumb-2, "ARMNT") CONTEXT, for 32-bit ARM dumps.
struct ContextArm {
  std::uint32_t ContextFlags;
  std::uint32_t R[13];  // R0..R12
  std::uint32_t Sp;
  std::uint32_t Lr;
  std::uint32_t Pc;
  std::uint32_t Cpsr;
  std::uint32_t Fpscr;
  std::uint32_t Padding;
  std::uint64_t D[32];
  std::uint32_t Bvr[8];
  std::uint32_t Bcr[8];
  std::uint32_t Wvr[1];
  std::uint32_t Wcr[1];
  std::uint32_t Padding2[2];
};
static_assert(sizeof(ContextArm) == 0x1A0);
static_assert(offsetof(ContextArm, Sp) == 0x38);
static_assert(offsetof(ContextArm, Pc) == 0x40);
static_assert(offsetof(ContextArm, Cpsr) == 0x44);
static_assert(offsetof(ContextArm, D) == 0x50);

// x64 kernel-mode selectors Windows uses (reference §7.1, observed).
namespace kernel_selectors_x64 {
inline constexpr std::uint16_t kCs = 0x10, kDs = 0x2B, kEs = 0x2B, kFs = 0x53, kGs = 0x2B, kSs = 0x18;
}
namespace kernel_selectors_x86 {
inline constexpr std::uint16_t kCs = 0x08, kDs = 0x23, kEs = 0x23, kFs = 0x30, kGs = 0x00, kSs = 0x10;
}

}  // namespace pagedump::format
