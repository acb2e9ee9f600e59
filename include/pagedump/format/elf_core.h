// ELF core files as hypervisors write them for guest memory: the ELF headers (32- and 64-bit),
// note headers, the Linux elf_prstatus register layouts (x86-64 and i386) and QEMU's own
// per-CPU "QEMU" note. Layouts follow the System V ABI, Linux's <linux/elfcore.h> and QEMU's
// target/i386/arch_dump.c (QEMUCPUState, version 1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint8_t kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr std::uint8_t kElfClass32 = 1;
inline constexpr std::uint8_t kElfClass64 = 2;
inline constexpr std::uint8_t kElfData2Lsb = 1;
inline constexpr std::uint16_t kElfTypeCore = 4;
inline constexpr std::uint16_t kElfMachine386 = 3;
inline constexpr std::uint16_t kElfMachineX86_64 = 62;
inline constexpr std::uint16_t kElfMachineAarch64 = 183;
inline constexpr std::uint32_t kPtLoad = 1;
inline constexpr std::uint32_t kPtNote = 4;
inline constexpr std::uint32_t kNtPrstatus = 1;
inline constexpr std::uint32_t kNtQemuCpuState = 0;  // QEMU writes its "QEMU" note with type 0

struct Elf64Ehdr {
  std::uint8_t e_ident[16];
  std::uint16_t e_type;
  std::uint16_t e_machine;
  std::uint32_t e_version;
  std::uint64_t e_entry;
  std::uint64_t e_phoff;
  std::uint64_t e_shoff;
  std::uint32_t e_flags;
  std::uint16_t e_ehsize;
  std::uint16_t e_phentsize;
  std::uint16_t e_phnum;
  std::uint16_t e_shentsize;
  std::uint16_t e_shnum;
  std::uint16_t e_shstrndx;
};
static_assert(sizeof(Elf64Ehdr) == 64);
static_assert(offsetof(Elf64Ehdr, e_phoff) == 0x20);
static_assert(offsetof(Elf64Ehdr, e_phentsize) == 0x36);
static_assert(offsetof(Elf64Ehdr, e_phnum) == 0x38);

struct Elf32Ehdr {
  std::uint8_t e_ident[16];
  std::uint16_t e_type;
  std::uint16_t e_machine;
  std::uint32_t e_version;
  std::uint32_t e_entry;
  std::uint32_t e_phoff;
  std::uint32_t e_shoff;
  std::uint32_t e_flags;
  std::uint16_t e_ehsize;
  std::uint16_t e_phentsize;
  std::uint16_t e_phnum;
  std::uint16_t e_shentsize;
  std::uint16_t e_shnum;
  std::uint16_t e_shstrndx;
};
static_assert(sizeof(Elf32Ehdr) == 52);
static_assert(offsetof(Elf32Ehdr, e_phoff) == 0x1c);
static_assert(offsetof(Elf32Ehdr, e_phentsize) == 0x2a);
static_assert(offsetof(Elf32Ehdr, e_phnum) == 0x2c);

struct Elf64Phdr {
  std::uint32_t p_type;
  std::uint32_t p_flags;
  std::uint64_t p_offset;
  std::uint64_t p_vaddr;
  std::uint64_t p_paddr;
  std::uint64_t p_filesz;
  std::uint64_t p_memsz;
  std::uint64_t p_align;
};
static_assert(sizeof(Elf64Phdr) == 56);
static_assert(offsetof(Elf64Phdr, p_paddr) == 0x18);

struct Elf32Phdr {
  std::uint32_t p_type;
  std::uint32_t p_offset;
  std::uint32_t p_vaddr;
  std::uint32_t p_paddr;
  std::uint32_t p_filesz;
  std::uint32_t p_memsz;
  std::uint32_t p_flags;
  std::uint32_t p_align;
};
static_assert(sizeof(Elf32Phdr) == 32);
static_assert(offsetof(Elf32Phdr, p_paddr) == 0x0c);

// Same layout in ELF32 and ELF64 cores; name and descriptor are each padded to 4 bytes.
struct ElfNhdr {
  std::uint32_t n_namesz;
  std::uint32_t n_descsz;
  std::uint32_t n_type;
};
static_assert(sizeof(ElfNhdr) == 12);

// Linux elf_prstatus for x86-64 (336 bytes): pr_pid at 0x20, pr_reg (user_regs_struct,
// 27 eight-byte registers) at 0x70.
inline constexpr std::size_t kPrstatus64Size = 0x150;
inline constexpr std::size_t kPrstatus64PidOffset = 0x20;
inline constexpr std::size_t kPrstatus64RegOffset = 0x70;
enum Prstatus64Reg {
  kPr64R15, kPr64R14, kPr64R13, kPr64R12, kPr64Rbp, kPr64Rbx, kPr64R11, kPr64R10, kPr64R9,
  kPr64R8, kPr64Rax, kPr64Rcx, kPr64Rdx, kPr64Rsi, kPr64Rdi, kPr64OrigRax, kPr64Rip, kPr64Cs,
  kPr64Eflags, kPr64Rsp, kPr64Ss, kPr64FsBase, kPr64GsBase, kPr64Ds, kPr64Es, kPr64Fs, kPr64Gs,
  kPr64RegCount
};
static_assert(kPrstatus64RegOffset + kPr64RegCount * 8 + 4 <= kPrstatus64Size);

// Linux elf_prstatus for i386 (144 bytes): pr_pid at 0x18, pr_reg (17 four-byte registers)
// at 0x48. QEMU writes this layout for a guest not in long mode, even inside an ELF64 core.
inline constexpr std::size_t kPrstatus32Size = 0x90;
inline constexpr std::size_t kPrstatus32PidOffset = 0x18;
inline constexpr std::size_t kPrstatus32RegOffset = 0x48;
enum Prstatus32Reg {
  kPr32Ebx, kPr32Ecx, kPr32Edx, kPr32Esi, kPr32Edi, kPr32Ebp, kPr32Eax, kPr32Ds, kPr32Es,
  kPr32Fs, kPr32Gs, kPr32OrigEax, kPr32Eip, kPr32Cs, kPr32Eflags, kPr32Esp, kPr32Ss,
  kPr32RegCount
};
static_assert(kPrstatus32RegOffset + kPr32RegCount * 4 + 4 == kPrstatus32Size);

// QEMU's "QEMU" note (QEMUCPUState), written for every CPU after its NT_PRSTATUS, in the same
// layout for 32- and 64-bit guests. Fields are only ever appended: `size` tells which exist
// (kernel_gs_base arrived after the first release, without a version change).
struct QemuCpuSegment {
  std::uint32_t selector;
  std::uint32_t limit;
  std::uint32_t flags;
  std::uint32_t pad;
  std::uint64_t base;
};
static_assert(sizeof(QemuCpuSegment) == 24);

struct QemuCpuState {
  std::uint32_t version;  // 1
  std::uint32_t size;     // sizeof as written
  std::uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  std::uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  std::uint64_t rip, rflags;
  QemuCpuSegment cs, ds, es, fs, gs, ss;
  QemuCpuSegment ldt, tr, gdt, idt;
  std::uint64_t cr[5];
  std::uint64_t kernel_gs_base;
};
inline constexpr std::uint32_t kQemuCpuStateVersion = 1;
inline constexpr std::size_t kQemuCpuStateMinSize = 0x1b0;  // up to cr[4]
static_assert(sizeof(QemuCpuState) == 0x1b8);
static_assert(offsetof(QemuCpuState, rip) == 0x88);
static_assert(offsetof(QemuCpuState, cs) == 0x98);
static_assert(offsetof(QemuCpuState, gdt) == 0x158);
static_assert(offsetof(QemuCpuState, cr) == 0x188);
static_assert(offsetof(QemuCpuState, kernel_gs_base) == kQemuCpuStateMinSize);

}  // namespace pagedump::format

namespace pagedump::format {

// e_phnum == kPnXnum: the real count is sh_info of section header 0 (QEMU does this for
// guests with 65535 or more memory blocks).
inline constexpr std::uint16_t kPnXnum = 0xffff;
inline constexpr std::size_t kElf64ShdrInfoOffset = 0x2c;
inline constexpr std::size_t kElf32ShdrInfoOffset = 0x1c;

}  // namespace pagedump::format
