// VirtualBox "VBoxManage debugvm dumpvmcore" notes: an ELF64 core whose PT_LOAD p_paddr are
// guest-physical addresses, with one "VBCORE" note (DBGFCOREDESCRIPTOR) and one "VBCPU" note
// (DBGFCORECPU) per virtual CPU. Layout from VirtualBox's include/VBox/vmm/dbgfcorefmt.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kNtVBoxCore = 0xb00;
inline constexpr std::uint32_t kNtVBoxCpu = 0xb01;
inline constexpr std::uint32_t kVBoxCoreMagic = 0xc01ac0de;
// Format versions: 0x00010005 lacks msrTscAux (everything after msrApicBase moves up by 8);
// 0x00010006 is the current one.
inline constexpr std::uint32_t kVBoxCoreFmtV5 = 0x00010005;
inline constexpr std::uint32_t kVBoxCoreFmtV6 = 0x00010006;

struct VBoxCoreDescriptor {
  std::uint32_t u32Magic;
  std::uint32_t u32FmtVersion;
  std::uint32_t cbSelf;
  std::uint32_t u32VBoxVersion;
  std::uint32_t u32VBoxRevision;
  std::uint32_t cCpus;
};
static_assert(sizeof(VBoxCoreDescriptor) == 24);

struct VBoxCoreSel {
  std::uint64_t uBase;
  std::uint32_t uLimit;
  std::uint32_t uAttr;
  std::uint16_t uSel;
  std::uint16_t uReserved0;
  std::uint32_t uReserved1;
};
static_assert(sizeof(VBoxCoreSel) == 24);

struct VBoxCoreXdtr {
  std::uint64_t uAddr;
  std::uint32_t cb;
  std::uint32_t uReserved0;
};
static_assert(sizeof(VBoxCoreXdtr) == 16);

// DBGFCORECPU up to the FXSAVE/XSAVE area (version 6 layout).
struct VBoxCoreCpu {
  std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
  std::uint64_t rip, rsp, rbp, rflags;
  VBoxCoreSel cs, ds, es, fs, gs, ss;
  std::uint64_t cr0, cr2, cr3, cr4;
  std::uint64_t dr[8];
  VBoxCoreXdtr gdtr, idtr;
  VBoxCoreSel ldtr, tr;
  std::uint64_t sysenter_cs, sysenter_eip, sysenter_esp;
  std::uint64_t msrEFER, msrSTAR, msrPAT, msrLSTAR, msrCSTAR, msrSFMASK, msrKernelGSBase,
      msrApicBase, msrTscAux;
  std::uint64_t aXcr[2];
  std::uint32_t cbExt;
  std::uint32_t uPadding0;
  // X86XSAVEAREA ext follows: its legacy FXSAVE part starts with FCW (+0), FSW (+2),
  // abridged FTW (+4) and MXCSR (+0x18).
};
static_assert(offsetof(VBoxCoreCpu, rip) == 0x70);
static_assert(offsetof(VBoxCoreCpu, cs) == 0x90);
static_assert(offsetof(VBoxCoreCpu, cr0) == 0x120);
static_assert(offsetof(VBoxCoreCpu, gdtr) == 0x180);
static_assert(offsetof(VBoxCoreCpu, msrEFER) == 0x1e8);
static_assert(offsetof(VBoxCoreCpu, msrKernelGSBase) == 0x218);
static_assert(offsetof(VBoxCoreCpu, msrTscAux) == 0x228);
static_assert(sizeof(VBoxCoreCpu) == 0x248);
inline constexpr std::size_t kVBoxCoreCpuExtOffsetV6 = 0x248;
inline constexpr std::size_t kVBoxCoreCpuExtOffsetV5 = 0x238;  // no msrTscAux, no cbExt
inline constexpr std::size_t kVBoxCoreCpuMinSize = 0x228;      // through msrApicBase

}  // namespace pagedump::format
