// Offsets of the Windows kernel structures the synthetic guest lays out, per target. Sources:
//  [VG] Vergilius Project type listings from Microsoft's public kernel symbols
//       (vergiliusproject.com/kernels/x64/windows-10/2004 and .../x86/windows-7/sp1);
//  [KD] the Offset*/Size* fields of the KDBG that Windows 10 19041 x64 itself wrote, read from
//       ../shared/samples/win10-19041-x64-triage.dmp at file offset 0x104A8 (reference §5.5);
//  [GC] Geoff Chappell's kernel studies (geoffchappell.com/studies/windows/km);
//  [TR] the triage driver-list layout of reference §5.4 (observed in the samples);
//  [DF] ../shared/docs/dump-format.md, the section named.
// Where a value comes from [KD] the symbol listing agrees; both are named.
#pragma once

#include <cstdint>

namespace pagedump::synth::layout {

struct KernelLayout {
  // KPCR (x64 [VG][KD]: Self 0x18, CurrentPrcb 0x20, IdtBase 0x38, Prcb 0x180; x86 Win7 [VG]:
  // SelfPcr 0x1C, Prcb 0x20, IDT 0x38, PrcbData 0x120).
  std::uint32_t pcr_self;
  std::uint32_t pcr_current_prcb;
  std::uint32_t pcr_idt;
  std::uint32_t pcr_prcb;
  std::uint32_t size_pcr;
  // KPRCB.
  std::uint32_t prcb_current_thread;
  std::uint32_t prcb_number;
  std::uint32_t prcb_proc_state_context;  // ProcessorState.ContextFrame
  std::uint32_t prcb_context;             // PCONTEXT Context
  std::uint32_t size_prcb;
  // KPROCESS / EPROCESS.
  std::uint32_t process_dtb;  // KPROCESS.DirectoryTableBase
  std::uint32_t eprocess_pid;
  std::uint32_t eprocess_links;
  std::uint32_t eprocess_peb;
  std::uint32_t eprocess_image_name;  // UCHAR[15]
  std::uint32_t size_eprocess;
  // KTHREAD / ETHREAD.
  std::uint32_t kthread_apc_process;  // ApcState.Process
  std::uint32_t kthread_process;
  std::uint32_t size_ethread;
  std::uint32_t kthread_initial_stack;
  std::uint32_t kthread_stack_limit;
  std::uint32_t kthread_kernel_stack;
  std::uint32_t kthread_stack_base;
  // KLDR_DATA_TABLE_ENTRY.
  std::uint32_t ldr_dll_base;
  std::uint32_t ldr_entry_point;
  std::uint32_t ldr_size_of_image;
  std::uint32_t ldr_full_name;
  std::uint32_t ldr_base_name;
  std::uint32_t ldr_flags;
  std::uint32_t ldr_checksum;
  std::uint32_t ldr_time_date_stamp;
  std::uint32_t size_ldr;
};

// Windows 10 2004 (build 19041) x64.
//  KPCR/KPRCB/EPROCESS/ETHREAD sizes and offsets: [KD] (SizePcr 0xb080, OffsetPcrSelfPcr 0x18,
//  OffsetPcrCurrentPrcb 0x20, OffsetPcrContainedPrcb 0x180, OffsetPrcbCurrentThread 0x8,
//  OffsetPrcbNumber 0x24, OffsetPrcbProcStateContext 0x1f0, OffsetPrcbContext 0x85c0,
//  SizePrcb 0xaf00, OffsetEprocessDirectoryTableBase 0x28, OffsetEprocessPeb 0x550,
//  SizeEProcess 0xa40, OffsetKThreadApcProcess 0xb8, SizeEThread 0x898) and [VG] _KPCR.IdtBase
//  0x38, _EPROCESS.UniqueProcessId 0x440, ActiveProcessLinks 0x448, ImageFileName 0x5a8,
//  _KTHREAD.Process 0x220; KTHREAD InitialStack 0x28, StackLimit 0x30, KernelStack 0x58,
//  StackBase 0x38 [KD].
//  _KLDR_DATA_TABLE_ENTRY [VG] 0xa0 bytes: DllBase 0x30, EntryPoint 0x38, SizeOfImage 0x40,
//  FullDllName 0x48, BaseDllName 0x58, Flags 0x68, CheckSum 0x78, TimeDateStamp 0x9c. (The
//  triage driver list [TR] copies the older LDR_DATA_TABLE_ENTRY form, where TimeDateStamp
//  is at 0x80: a different structure, not a contradiction.)
inline constexpr KernelLayout kWin10x64{
    0x18,  0x20,  0x38, 0x180, 0xb080, 0x8,  0x24, 0x1f0, 0x85c0, 0xaf00, 0x28, 0x440, 0x448, 0x550,
    0x5a8, 0xa40, 0xb8, 0x220, 0x898, 0x28, 0x30, 0x58, 0x38, 0x30, 0x38, 0x40,  0x48,   0x58,   0x68, 0x78,  0x9c,  0xa0};

// Windows 7 SP1 x86 (PAE kernel ntkrpamp).
//  [VG] _KPCR: SelfPcr 0x1c, Prcb 0x20, IDT 0x38, PrcbData 0x120; _KPRCB: CurrentThread 0x4,
//  ProcessorState 0x18 whose ContextFrame is at +0 ([GC] KPROCESSOR_STATE i386), Number 0x3cc,
//  size 0x3628; _KPRCB.Context 0x3618 (uncertain: our guest's choice; discovery reads it from
//  KDBG.OffsetPrcbContext). _KPROCESS.DirectoryTableBase 0x18; _EPROCESS: UniqueProcessId
//  0xb4, ActiveProcessLinks 0xb8, ImageFileName 0x16c, Peb 0x1a8, size 0x2c0; _KTHREAD:
//  ApcState 0x40 (+0x10 Process = 0x50), Process 0x150, InitialStack 0x28, StackLimit 0x2c,
//  KernelStack 0x30, StackBase 0x190; _ETHREAD size 0x2b8.
//  LDR_DATA_TABLE_ENTRY x86 [VG][TR]: DllBase 0x18, EntryPoint 0x1c, SizeOfImage 0x20,
//  FullDllName 0x24, BaseDllName 0x2c, Flags 0x34, CheckSum 0x40, TimeDateStamp 0x44.
inline constexpr KernelLayout kWin7x86{
    0x1c,  0x20,  0x38, 0x120, 0x3748, 0x4,  0x3cc, 0x18, 0x3618, 0x3628, 0x18, 0xb4, 0xb8, 0x1a8,
    0x16c, 0x2c0, 0x50, 0x150, 0x2b8, 0x28, 0x2c, 0x30, 0x190, 0x18, 0x1c,  0x20, 0x24,   0x2c,   0x34, 0x40, 0x44, 0x50};

// KUSER_SHARED_DATA ([VG] _KUSER_SHARED_DATA, the same on x86 and x64).
namespace kuser {
inline constexpr std::uint32_t kInterruptTime = 0x08;  // KSYSTEM_TIME
inline constexpr std::uint32_t kSystemTime = 0x14;     // KSYSTEM_TIME
inline constexpr std::uint32_t kNtBuildNumber = 0x260;
inline constexpr std::uint32_t kNtProductType = 0x264;
inline constexpr std::uint32_t kProductTypeIsValid = 0x268;
inline constexpr std::uint32_t kNtMajorVersion = 0x26c;
inline constexpr std::uint32_t kNtMinorVersion = 0x270;
inline constexpr std::uint32_t kSuiteMask = 0x2d0;
inline constexpr std::uint64_t kX64Va = 0xFFFFF78000000000ull;
inline constexpr std::uint32_t kX86Va = 0xFFDF0000u;
inline constexpr std::uint32_t kUserVa = 0x7FFE0000u;
}  // namespace kuser

// PROCESSOR_START_BLOCK, the x64 low stub ([DF] §6.6).
namespace low_stub {
inline constexpr std::uint32_t kLmTarget = 0x70;
inline constexpr std::uint32_t kCr3 =
    0xA0;  // ProcessorState (+0x90) . SpecialRegisters.Cr3 (+0x10)
inline constexpr std::uint64_t kPa = 0x13000;  // where a WinDbg transcript shows it ([DF] §6.6)
}  // namespace low_stub

// Dispatcher header type bytes ([VG] _KOBJECTS): ProcessObject 3, ThreadObject 6.
inline constexpr std::uint8_t kProcessObject = 3;
inline constexpr std::uint8_t kThreadObject = 6;

}  // namespace pagedump::synth::layout
