// The triage (small memory) dump, DumpType 4: TRIAGE_DUMP64 at 0x2000 / TRIAGE_DUMP32 at
// 0x1000 and the sections it points to (reference §5). Every *Offset is an absolute file
// offset.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint32_t kTriageValid = tag("TRGD");  // the constant 'DGRT' as stored

// MiniDumpFields / TRIAGE_DUMP_* section flags.
namespace triage_fields {
inline constexpr std::uint32_t kContext = 0x1;
inline constexpr std::uint32_t kException = 0x2;
inline constexpr std::uint32_t kPrcb = 0x4;
inline constexpr std::uint32_t kProcess = 0x8;
inline constexpr std::uint32_t kThread = 0x10;
inline constexpr std::uint32_t kStack = 0x20;
inline constexpr std::uint32_t kDriverList = 0x40;
inline constexpr std::uint32_t kBrokenDriver = 0x80;
inline constexpr std::uint32_t kBasicInfo = 0xFF;
inline constexpr std::uint32_t kMmInfo = 0x100;
inline constexpr std::uint32_t kDataPage = 0x200;
inline constexpr std::uint32_t kDebuggerData = 0x400;
inline constexpr std::uint32_t kDataBlocks = 0x800;
inline constexpr std::uint32_t kWindows = 0xCFF;  // what Windows writes (observed)
}  // namespace triage_fields

inline constexpr std::uint32_t kTriageOptionOverflowed = 0x100;

struct TriageDump64 {
  std::uint32_t ServicePackBuild;
  std::uint32_t SizeOfDump;  // absolute end of the triage area
  std::uint32_t ValidOffset;  // = SizeOfDump - 4, holds "TRGD"
  std::uint32_t ContextOffset;
  std::uint32_t ExceptionOffset;
  std::uint32_t MmOffset;
  std::uint32_t UnloadedDriversOffset;
  std::uint32_t PrcbOffset;
  std::uint32_t ProcessOffset;
  std::uint32_t ThreadOffset;
  std::uint32_t CallStackOffset;
  std::uint32_t SizeOfCallStack;
  std::uint32_t DriverListOffset;
  std::uint32_t DriverCount;
  std::uint32_t StringPoolOffset;
  std::uint32_t StringPoolSize;
  std::uint32_t BrokenDriverOffset;
  std::uint32_t TriageOptions;
  std::uint64_t TopOfStack;  // lowest VA of the saved stack
  std::uint32_t BStoreOffset;
  std::uint32_t SizeOfBStore;
  std::uint64_t LimitOfBStore;
  std::uint64_t DataPageAddress;
  std::uint32_t DataPageOffset;
  std::uint32_t DataPageSize;
  std::uint32_t DebuggerDataOffset;
  std::uint32_t DebuggerDataSize;
  std::uint32_t DataBlocksOffset;
  std::uint32_t DataBlocksCount;
};
static_assert(sizeof(TriageDump64) == 0x80);
static_assert(offsetof(TriageDump64, SizeOfDump) == 0x04);
static_assert(offsetof(TriageDump64, ValidOffset) == 0x08);
static_assert(offsetof(TriageDump64, ContextOffset) == 0x0C);
static_assert(offsetof(TriageDump64, ExceptionOffset) == 0x10);
static_assert(offsetof(TriageDump64, MmOffset) == 0x14);
static_assert(offsetof(TriageDump64, UnloadedDriversOffset) == 0x18);
static_assert(offsetof(TriageDump64, PrcbOffset) == 0x1C);
static_assert(offsetof(TriageDump64, ProcessOffset) == 0x20);
static_assert(offsetof(TriageDump64, ThreadOffset) == 0x24);
static_assert(offsetof(TriageDump64, CallStackOffset) == 0x28);
static_assert(offsetof(TriageDump64, SizeOfCallStack) == 0x2C);
static_assert(offsetof(TriageDump64, DriverListOffset) == 0x30);
static_assert(offsetof(TriageDump64, DriverCount) == 0x34);
static_assert(offsetof(TriageDump64, StringPoolOffset) == 0x38);
static_assert(offsetof(TriageDump64, StringPoolSize) == 0x3C);
static_assert(offsetof(TriageDump64, BrokenDriverOffset) == 0x40);
static_assert(offsetof(TriageDump64, TriageOptions) == 0x44);
static_assert(offsetof(TriageDump64, TopOfStack) == 0x48);
static_assert(offsetof(TriageDump64, BStoreOffset) == 0x50);
static_assert(offsetof(TriageDump64, LimitOfBStore) == 0x58);
static_assert(offsetof(TriageDump64, DataPageAddress) == 0x60);
static_assert(offsetof(TriageDump64, DataPageOffset) == 0x68);
static_assert(offsetof(TriageDump64, DataPageSize) == 0x6C);
static_assert(offsetof(TriageDump64, DebuggerDataOffset) == 0x70);
static_assert(offsetof(TriageDump64, DebuggerDataSize) == 0x74);
static_assert(offsetof(TriageDump64, DataBlocksOffset) == 0x78);
static_assert(offsetof(TriageDump64, DataBlocksCount) == 0x7C);

// TRIAGE_DUMP32 at 0x1000. 0x4C..0x57 are disputed (DataPage* vs BStore*); both are zero in
// practice, so they are kept as opaque words.
struct TriageDump32 {
  std::uint32_t ServicePackBuild;
  std::uint32_t SizeOfDump;
  std::uint32_t ValidOffset;
  std::uint32_t ContextOffset;
  std::uint32_t ExceptionOffset;
  std::uint32_t MmOffset;
  std::uint32_t UnloadedDriversOffset;
  std::uint32_t PrcbOffset;
  std::uint32_t ProcessOffset;
  std::uint32_t ThreadOffset;
  std::uint32_t CallStackOffset;
  std::uint32_t SizeOfCallStack;
  std::uint32_t DriverListOffset;
  std::uint32_t DriverCount;
  std::uint32_t StringPoolOffset;
  std::uint32_t StringPoolSize;
  std::uint32_t BrokenDriverOffset;
  std::uint32_t TriageOptions;
  std::uint32_t TopOfStack;
  std::uint32_t Disputed[3];
  std::uint32_t DebuggerDataOffset;
  std::uint32_t DebuggerDataSize;
  std::uint32_t DataBlocksOffset;
  std::uint32_t DataBlocksCount;
};
static_assert(sizeof(TriageDump32) == 0x68);
static_assert(offsetof(TriageDump32, TriageOptions) == 0x44);
static_assert(offsetof(TriageDump32, TopOfStack) == 0x48);
static_assert(offsetof(TriageDump32, Disputed) == 0x4C);
static_assert(offsetof(TriageDump32, DebuggerDataOffset) == 0x58);
static_assert(offsetof(TriageDump32, DebuggerDataSize) == 0x5C);
static_assert(offsetof(TriageDump32, DataBlocksOffset) == 0x60);
static_assert(offsetof(TriageDump32, DataBlocksCount) == 0x64);

// DUMP_MM_STORAGE64 / 32 at MmOffset.
struct DumpMmStorage64 {
  std::uint32_t Version;  // 1
  std::uint32_t Size;     // 0x50
  std::uint32_t MmSpecialPoolTag;
  std::uint32_t MiTriageActionTaken;
  std::uint32_t MmVerifyDriverLevel;
  std::uint32_t KernelVerifier;
  std::uint64_t MmMaximumNonPagedPool;
  std::uint64_t MmAllocatedNonPagedPool;
  std::uint64_t PagedPoolMaximum;
  std::uint64_t PagedPoolAllocated;
  std::uint64_t CommittedPages;
  std::uint64_t CommittedPagesPeak;
  std::uint64_t CommitLimitMaximum;
};
static_assert(sizeof(DumpMmStorage64) == 0x50);
static_assert(offsetof(DumpMmStorage64, MmMaximumNonPagedPool) == 0x18);

struct DumpMmStorage32 {
  std::uint32_t Version;
  std::uint32_t Size;  // 0x34
  std::uint32_t MmSpecialPoolTag;
  std::uint32_t MiTriageActionTaken;
  std::uint32_t MmVerifyDriverLevel;
  std::uint32_t KernelVerifier;
  std::uint32_t MmMaximumNonPagedPool;
  std::uint32_t MmAllocatedNonPagedPool;
  std::uint32_t PagedPoolMaximum;
  std::uint32_t PagedPoolAllocated;
  std::uint32_t CommittedPages;
  std::uint32_t CommittedPagesPeak;
  std::uint32_t CommitLimitMaximum;
};
static_assert(sizeof(DumpMmStorage32) == 0x34);

// DUMP_UNLOADED_DRIVERS64 / 32, after a count (x64: u32 + 4 bytes pad; 32-bit: u32).
struct DumpUnloadedDriver64 {
  std::uint16_t NameLength;  // UNICODE_STRING, bytes
  std::uint16_t NameMaximumLength;
  std::uint32_t NamePad;
  std::uint64_t NameBuffer;  // 0
  char16_t DriverName[12];   // base name, truncated, zero padded
  std::uint64_t StartAddress;
  std::uint64_t EndAddress;
};
static_assert(sizeof(DumpUnloadedDriver64) == 0x38);
static_assert(offsetof(DumpUnloadedDriver64, DriverName) == 0x10);
static_assert(offsetof(DumpUnloadedDriver64, StartAddress) == 0x28);
static_assert(offsetof(DumpUnloadedDriver64, EndAddress) == 0x30);
inline constexpr std::size_t kUnloadedDriversHeader64 = 8;

struct DumpUnloadedDriver32 {
  std::uint16_t NameLength;
  std::uint16_t NameMaximumLength;
  std::uint32_t NameBuffer;
  char16_t DriverName[12];
  std::uint32_t StartAddress;
  std::uint32_t EndAddress;
};
static_assert(sizeof(DumpUnloadedDriver32) == 0x28);
static_assert(offsetof(DumpUnloadedDriver32, DriverName) == 0x08);
static_assert(offsetof(DumpUnloadedDriver32, StartAddress) == 0x20);
static_assert(offsetof(DumpUnloadedDriver32, EndAddress) == 0x24);
inline constexpr std::size_t kUnloadedDriversHeader32 = 4;

// DUMP_DRIVER_ENTRY64 / 32: a name offset, then a KLDR_DATA_TABLE_ENTRY copy that Windows
// zeroes except for the fields below. The stride is 0x90 (x64) / 0x4C (32-bit) on the builds
// seen; readers derive it from (StringPoolOffset - DriverListOffset) / DriverCount.
struct DumpDriverEntry64 {
  std::uint32_t DriverNameOffset;  // absolute offset of a DUMP_STRING (full path)
  std::uint32_t Pad;
  std::uint8_t LdrEntryHead[0x30];
  std::uint64_t DllBase;
  std::uint64_t EntryPoint;
  std::uint64_t SizeOfImage;
  std::uint8_t LdrEntryMiddle[0x30];
  std::uint32_t CheckSum;
  std::uint32_t Pad2;
  std::uint32_t TimeDateStamp;
  std::uint32_t Pad3;
};
static_assert(sizeof(DumpDriverEntry64) == 0x90);
static_assert(offsetof(DumpDriverEntry64, DllBase) == 0x38);
static_assert(offsetof(DumpDriverEntry64, SizeOfImage) == 0x48);
static_assert(offsetof(DumpDriverEntry64, CheckSum) == 0x80);
static_assert(offsetof(DumpDriverEntry64, TimeDateStamp) == 0x88);

struct DumpDriverEntry32 {
  std::uint32_t DriverNameOffset;
  std::uint8_t LdrEntryHead[0x18];
  std::uint32_t DllBase;
  std::uint32_t EntryPoint;
  std::uint32_t SizeOfImage;
  std::uint8_t LdrEntryMiddle[0x1C];
  std::uint32_t CheckSum;
  std::uint32_t TimeDateStamp;
};
static_assert(sizeof(DumpDriverEntry32) == 0x4C);
static_assert(offsetof(DumpDriverEntry32, DllBase) == 0x1C);
static_assert(offsetof(DumpDriverEntry32, SizeOfImage) == 0x24);
static_assert(offsetof(DumpDriverEntry32, CheckSum) == 0x44);
static_assert(offsetof(DumpDriverEntry32, TimeDateStamp) == 0x48);

// DUMP_STRING: u32 Length in UTF-16 characters, the characters, a UTF-16 NUL, padded to 8.
inline constexpr std::size_t dump_string_record_size(std::uint32_t chars) noexcept {
  return (4 + (std::size_t(chars) + 1) * 2 + 7) & ~std::size_t(7);
}

// TRIAGE_DATA_BLOCK: 16 bytes on 32-bit too (VA sign-extended).
struct TriageDataBlock {
  std::uint64_t Address;
  std::uint32_t Offset;  // absolute file offset
  std::uint32_t Size;
};
static_assert(sizeof(TriageDataBlock) == 16);
static_assert(offsetof(TriageDataBlock, Offset) == 0x08);
static_assert(offsetof(TriageDataBlock, Size) == 0x0C);

}  // namespace pagedump::format
