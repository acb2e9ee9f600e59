// KDDEBUGGER_DATA64, the kernel debugger data block ("KDBG", reference §6), and its Windows 8+
// x64 encoding. Every field is 64 bits wide even on 32-bit targets, where pointers are
// sign-extended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kKdbgOwnerTag = tag("KDBG");

struct DbgkdDebugDataHeader64 {
  std::uint64_t ListFlink;
  std::uint64_t ListBlink;
  std::uint32_t OwnerTag;  // "KDBG"
  std::uint32_t Size;      // whole block, header included
};
static_assert(sizeof(DbgkdDebugDataHeader64) == 0x18);
static_assert(offsetof(DbgkdDebugDataHeader64, OwnerTag) == 0x10);
static_assert(offsetof(DbgkdDebugDataHeader64, Size) == 0x14);

struct KdDebuggerData64 {
  DbgkdDebugDataHeader64 Header;
  std::uint64_t KernBase;
  std::uint64_t BreakpointWithStatus;
  std::uint64_t SavedContext;
  std::uint16_t ThCallbackStack;
  std::uint16_t NextCallback;
  std::uint16_t FramePointer;
  std::uint16_t Flags;  // PaeEnabled:1, KiBugCheckRecoveryActive:1, PagingLevels:4
  std::uint64_t KiCallUserMode;
  std::uint64_t KeUserCallbackDispatcher;
  std::uint64_t PsLoadedModuleList;
  std::uint64_t PsActiveProcessHead;
  std::uint64_t PspCidTable;
  std::uint64_t ExpSystemResourcesList;
  std::uint64_t ExpPagedPoolDescriptor;
  std::uint64_t ExpNumberOfPagedPools;
  std::uint64_t KeTimeIncrement;
  std::uint64_t KeBugCheckCallbackListHead;
  std::uint64_t KiBugcheckData;
  std::uint64_t IopErrorLogListHead;
  std::uint64_t ObpRootDirectoryObject;
  std::uint64_t ObpTypeObjectType;
  std::uint64_t MmSystemCacheStart;
  std::uint64_t MmSystemCacheEnd;
  std::uint64_t MmSystemCacheWs;
  std::uint64_t MmPfnDatabase;
  std::uint64_t MmSystemPtesStart;
  std::uint64_t MmSystemPtesEnd;
  std::uint64_t MmSubsectionBase;
  std::uint64_t MmNumberOfPagingFiles;
  std::uint64_t MmLowestPhysicalPage;
  std::uint64_t MmHighestPhysicalPage;
  std::uint64_t MmNumberOfPhysicalPages;
  std::uint64_t MmMaximumNonPagedPoolInBytes;
  std::uint64_t MmNonPagedSystemStart;
  std::uint64_t MmNonPagedPoolStart;
  std::uint64_t MmNonPagedPoolEnd;
  std::uint64_t MmPagedPoolStart;
  std::uint64_t MmPagedPoolEnd;
  std::uint64_t MmPagedPoolInformation;
  std::uint64_t MmPageSize;
  std::uint64_t MmSizeOfPagedPoolInBytes;
  std::uint64_t MmTotalCommitLimit;
  std::uint64_t MmTotalCommittedPages;
  std::uint64_t MmSharedCommit;
  std::uint64_t MmDriverCommit;
  std::uint64_t MmProcessCommit;
  std::uint64_t MmPagedPoolCommit;
  std::uint64_t MmExtendedCommit;
  std::uint64_t MmZeroedPageListHead;
  std::uint64_t MmFreePageListHead;
  std::uint64_t MmStandbyPageListHead;
  std::uint64_t MmModifiedPageListHead;
  std::uint64_t MmModifiedNoWritePageListHead;
  std::uint64_t MmAvailablePages;
  std::uint64_t MmResidentAvailablePages;
  std::uint64_t PoolTrackTable;
  std::uint64_t NonPagedPoolDescriptor;
  std::uint64_t MmHighestUserAddress;
  std::uint64_t MmSystemRangeStart;
  std::uint64_t MmUserProbeAddress;
  std::uint64_t KdPrintCircularBuffer;
  std::uint64_t KdPrintCircularBufferEnd;
  std::uint64_t KdPrintWritePointer;
  std::uint64_t KdPrintRolloverCount;
  std::uint64_t MmLoadedUserImageList;
  std::uint64_t NtBuildLab;
  std::uint64_t KiNormalSystemCall;
  std::uint64_t KiProcessorBlock;
  std::uint64_t MmUnloadedDrivers;
  std::uint64_t MmLastUnloadedDriver;
  std::uint64_t MmTriageActionTaken;
  std::uint64_t MmSpecialPoolTag;
  std::uint64_t KernelVerifier;
  std::uint64_t MmVerifierData;
  std::uint64_t MmAllocatedNonPagedPool;
  std::uint64_t MmPeakCommitment;
  std::uint64_t MmTotalCommitLimitMaximum;
  std::uint64_t CmNtCSDVersion;
  std::uint64_t MmPhysicalMemoryBlock;
  std::uint64_t MmSessionBase;
  std::uint64_t MmSessionSize;
  std::uint64_t MmSystemParentTablePage;
  std::uint64_t MmVirtualTranslationBase;
  std::uint16_t OffsetKThreadNextProcessor;
  std::uint16_t OffsetKThreadTeb;
  std::uint16_t OffsetKThreadKernelStack;
  std::uint16_t OffsetKThreadInitialStack;
  std::uint16_t OffsetKThreadApcProcess;
  std::uint16_t OffsetKThreadState;
  std::uint16_t OffsetKThreadBStore;
  std::uint16_t OffsetKThreadBStoreLimit;
  std::uint16_t SizeEProcess;
  std::uint16_t OffsetEprocessPeb;
  std::uint16_t OffsetEprocessParentCID;
  std::uint16_t OffsetEprocessDirectoryTableBase;
  std::uint16_t SizePrcb;
  std::uint16_t OffsetPrcbDpcRoutine;
  std::uint16_t OffsetPrcbCurrentThread;
  std::uint16_t OffsetPrcbMhz;
  std::uint16_t OffsetPrcbCpuType;
  std::uint16_t OffsetPrcbVendorString;
  std::uint16_t OffsetPrcbProcStateContext;
  std::uint16_t OffsetPrcbNumber;
  std::uint16_t SizeEThread;
  std::uint8_t L1tfHighPhysicalBitIndex;
  std::uint8_t L1tfSwizzleBitIndex;
  std::uint32_t Padding0;
  std::uint64_t KdPrintCircularBufferPtr;
  std::uint64_t KdPrintBufferSize;
  std::uint64_t KeLoaderBlock;
  std::uint16_t SizePcr;
  std::uint16_t OffsetPcrSelfPcr;
  std::uint16_t OffsetPcrCurrentPrcb;
  std::uint16_t OffsetPcrContainedPrcb;
  std::uint16_t OffsetPcrInitialBStore;
  std::uint16_t OffsetPcrBStoreLimit;
  std::uint16_t OffsetPcrInitialStack;
  std::uint16_t OffsetPcrStackLimit;
  std::uint16_t OffsetPrcbPcrPage;
  std::uint16_t OffsetPrcbProcStateSpecialReg;
  std::uint16_t GdtR0Code;
  std::uint16_t GdtR0Data;
  std::uint16_t GdtR0Pcr;
  std::uint16_t GdtR3Code;
  std::uint16_t GdtR3Data;
  std::uint16_t GdtR3Teb;
  std::uint16_t GdtLdt;
  std::uint16_t GdtTss;
  std::uint16_t Gdt64R3CmCode;
  std::uint16_t Gdt64R3CmTeb;
  std::uint64_t IopNumTriageDumpDataBlocks;
  std::uint64_t IopTriageDumpDataBlocks;
  std::uint64_t VfCrashDataBlock;
  std::uint64_t MmBadPagesDetected;
  std::uint64_t MmZeroedPageSingleBitErrorsDetected;
  std::uint64_t EtwpDebuggerData;
  std::uint16_t OffsetPrcbContext;
  std::uint16_t OffsetPrcbMaxBreakpoints;
  std::uint16_t OffsetPrcbMaxWatchpoints;
  std::uint32_t OffsetKThreadStackLimit;
  std::uint32_t OffsetKThreadStackBase;
  std::uint32_t OffsetKThreadQueueListEntry;
  std::uint32_t OffsetEThreadIrpList;
  std::uint16_t OffsetPrcbIdleThread;
  std::uint16_t OffsetPrcbNormalDpcState;
  std::uint16_t OffsetPrcbDpcStack;
  std::uint16_t OffsetPrcbIsrStack;
  std::uint16_t SizeKDPC_STACK_FRAME;
  std::uint16_t OffsetKPriQueueThreadListHead;
  std::uint16_t OffsetKThreadWaitReason;
  std::uint16_t Padding1;
  std::uint64_t PteBase;
  std::uint64_t RetpolineStubFunctionTable;
  std::uint32_t RetpolineStubFunctionTableSize;
  std::uint32_t RetpolineStubOffset;
  std::uint32_t RetpolineStubSize;
  std::uint16_t OffsetEProcessMmHotPatchContext;
  std::uint16_t Padding2;
  std::uint32_t OffsetKThreadShadowStackLimit;
  std::uint32_t OffsetKThreadShadowStackBase;
  std::uint64_t ShadowStackEnabled;
  std::uint64_t PointerAuthMask;
  std::uint16_t OffsetPrcbExceptionStack;
  std::uint16_t Padding3[3];
};
static_assert(offsetof(KdDebuggerData64, KernBase) == 0x18);
static_assert(offsetof(KdDebuggerData64, BreakpointWithStatus) == 0x20);
static_assert(offsetof(KdDebuggerData64, SavedContext) == 0x28);
static_assert(offsetof(KdDebuggerData64, ThCallbackStack) == 0x30);
static_assert(offsetof(KdDebuggerData64, Flags) == 0x36);
static_assert(offsetof(KdDebuggerData64, KiCallUserMode) == 0x38);
static_assert(offsetof(KdDebuggerData64, KeUserCallbackDispatcher) == 0x40);
static_assert(offsetof(KdDebuggerData64, PsLoadedModuleList) == 0x48);
static_assert(offsetof(KdDebuggerData64, PsActiveProcessHead) == 0x50);
static_assert(offsetof(KdDebuggerData64, PspCidTable) == 0x58);
static_assert(offsetof(KdDebuggerData64, KeBugCheckCallbackListHead) == 0x80);
static_assert(offsetof(KdDebuggerData64, KiBugcheckData) == 0x88);
static_assert(offsetof(KdDebuggerData64, ObpRootDirectoryObject) == 0x98);
static_assert(offsetof(KdDebuggerData64, MmPfnDatabase) == 0xC0);
static_assert(offsetof(KdDebuggerData64, MmLowestPhysicalPage) == 0xE8);
static_assert(offsetof(KdDebuggerData64, MmHighestPhysicalPage) == 0xF0);
static_assert(offsetof(KdDebuggerData64, MmNumberOfPhysicalPages) == 0xF8);
static_assert(offsetof(KdDebuggerData64, MmPageSize) == 0x138);
static_assert(offsetof(KdDebuggerData64, MmHighestUserAddress) == 0x1C8);
static_assert(offsetof(KdDebuggerData64, MmSystemRangeStart) == 0x1D0);
static_assert(offsetof(KdDebuggerData64, MmUserProbeAddress) == 0x1D8);
static_assert(offsetof(KdDebuggerData64, NtBuildLab) == 0x208);
static_assert(offsetof(KdDebuggerData64, KiNormalSystemCall) == 0x210);
static_assert(offsetof(KdDebuggerData64, KiProcessorBlock) == 0x218);
static_assert(offsetof(KdDebuggerData64, MmUnloadedDrivers) == 0x220);
static_assert(offsetof(KdDebuggerData64, MmLastUnloadedDriver) == 0x228);
static_assert(offsetof(KdDebuggerData64, CmNtCSDVersion) == 0x268);
static_assert(offsetof(KdDebuggerData64, MmPhysicalMemoryBlock) == 0x270);
static_assert(offsetof(KdDebuggerData64, MmVirtualTranslationBase) == 0x290);
static_assert(offsetof(KdDebuggerData64, OffsetKThreadNextProcessor) == 0x298);
static_assert(offsetof(KdDebuggerData64, SizeEProcess) == 0x2A8);
static_assert(offsetof(KdDebuggerData64, OffsetEprocessDirectoryTableBase) == 0x2AE);
static_assert(offsetof(KdDebuggerData64, SizePrcb) == 0x2B0);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbCurrentThread) == 0x2B4);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbProcStateContext) == 0x2BC);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbNumber) == 0x2BE);
static_assert(offsetof(KdDebuggerData64, SizeEThread) == 0x2C0);
static_assert(offsetof(KdDebuggerData64, L1tfHighPhysicalBitIndex) == 0x2C2);
static_assert(offsetof(KdDebuggerData64, L1tfSwizzleBitIndex) == 0x2C3);
static_assert(offsetof(KdDebuggerData64, KdPrintCircularBufferPtr) == 0x2C8);
static_assert(offsetof(KdDebuggerData64, KeLoaderBlock) == 0x2D8);
static_assert(offsetof(KdDebuggerData64, SizePcr) == 0x2E0);
static_assert(offsetof(KdDebuggerData64, GdtR0Code) == 0x2F4);
static_assert(offsetof(KdDebuggerData64, Gdt64R3CmTeb) == 0x306);
static_assert(offsetof(KdDebuggerData64, IopNumTriageDumpDataBlocks) == 0x308);
static_assert(offsetof(KdDebuggerData64, IopTriageDumpDataBlocks) == 0x310);
static_assert(offsetof(KdDebuggerData64, VfCrashDataBlock) == 0x318);
static_assert(offsetof(KdDebuggerData64, MmBadPagesDetected) == 0x320);
static_assert(offsetof(KdDebuggerData64, MmZeroedPageSingleBitErrorsDetected) == 0x328);
static_assert(offsetof(KdDebuggerData64, EtwpDebuggerData) == 0x330);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbContext) == 0x338);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbMaxBreakpoints) == 0x33A);
static_assert(offsetof(KdDebuggerData64, OffsetKThreadStackLimit) == 0x340);
static_assert(offsetof(KdDebuggerData64, OffsetKThreadWaitReason) == 0x35C);
static_assert(offsetof(KdDebuggerData64, PteBase) == 0x360);
static_assert(offsetof(KdDebuggerData64, RetpolineStubFunctionTable) == 0x368);
static_assert(offsetof(KdDebuggerData64, OffsetEProcessMmHotPatchContext) == 0x37C);
static_assert(offsetof(KdDebuggerData64, OffsetKThreadShadowStackLimit) == 0x380);
static_assert(offsetof(KdDebuggerData64, PointerAuthMask) == 0x390);
static_assert(offsetof(KdDebuggerData64, OffsetPrcbExceptionStack) == 0x398);
static_assert(sizeof(KdDebuggerData64) == 0x3A0);

// Header.Size by Windows version (reference §6.2).
namespace kdbg_size {
inline constexpr std::uint32_t kXp = 0x290, k2003 = 0x318, kVista = 0x328, kVistaSp1 = 0x330,
                               kWin7 = 0x340, kWin8 = 0x360, kWin10_1607 = 0x368,
                               kWin10_1809 = 0x380, kMax = 0x3A0;
}
// The block sizes pagedump accepts: the header, a multiple of 8, at most 0x800 (MemProcFS).
constexpr bool plausible_kdbg_size(std::uint32_t size) noexcept {
  return size >= sizeof(DbgkdDebugDataHeader64) && size <= 0x800 && size % 8 == 0;
}

// Loads what the block holds into the full structure; fields beyond `bytes` read as zero.
KdDebuggerData64 load_kdbg(std::span<const std::byte> bytes) noexcept;

// Windows 8+ x64 KDBG encoding (reference §6.3). wait_never / wait_always are the *values*
// of nt!KiWaitNever / nt!KiWaitAlways; encoded_flag_va is the *address* of
// nt!KdpDataBlockEncoded.
struct KdbgKeys {
  std::uint64_t wait_never = 0;
  std::uint64_t wait_always = 0;
  std::uint64_t encoded_flag_va = 0;
};
std::uint64_t kdbg_decode_word(std::uint64_t word, const KdbgKeys& keys) noexcept;
std::uint64_t kdbg_encode_word(std::uint64_t plain, const KdbgKeys& keys) noexcept;
// In place over whole 8-byte words; a trailing partial word is left alone.
void kdbg_decode(std::span<std::byte> block, const KdbgKeys& keys) noexcept;
void kdbg_encode(std::span<std::byte> block, const KdbgKeys& keys) noexcept;

}  // namespace pagedump::format
