// DUMP_HEADER64 ("PAGEDU64", 0x2000 bytes) and DUMP_HEADER32 ("PAGEDUMP", 0x1000 bytes),
// the physical memory descriptor that lives inside them, and the DumpType and
// DUMP_FILE_ATTRIBUTES values (reference §1, §2, §3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pagedump/format/common.h"
#include "pagedump/format/exception_record.h"

namespace pagedump::format {

inline constexpr std::uint32_t kSignaturePage = tag("PAGE");
inline constexpr std::uint32_t kValidDump64 = tag("DU64");
inline constexpr std::uint32_t kValidDump32 = tag("DUMP");
inline constexpr std::uint32_t kUserMinidumpSignature = tag("MDMP");
inline constexpr std::uint32_t kValidUserDump64 = tag("US64");  // "USERDU64" second half
inline constexpr std::uint32_t kSignatureUser = tag("USER");

inline constexpr std::size_t kHeaderSize64 = 0x2000;
inline constexpr std::size_t kHeaderSize32 = 0x1000;

// DumpType values at 0xF98 (64-bit) / 0xF88 (32-bit). Not the registry's CrashDumpEnabled.
enum class DumpType : std::uint32_t {
  full = 1,
  summary = 2,  // legacy kernel summary (bitmap at 0x1000/0x2000)
  header = 3,
  triage = 4,
  bitmap_full = 5,
  bitmap_kernel = 6,
  automatic = 7,  // a configuration choice; not seen in files
  rdmp_kernel = 8,
  rdmp_kernel_active = 9,
  rdmp_full = 0xA,
};
std::string_view dump_type_name(std::uint32_t type) noexcept;

// PE machine values used in MachineImageType.
namespace machine {
inline constexpr std::uint32_t kI386 = 0x014C;
inline constexpr std::uint32_t kArmNt = 0x01C4;
inline constexpr std::uint32_t kAmd64 = 0x8664;
inline constexpr std::uint32_t kArm64 = 0xAA64;
}  // namespace machine
std::string_view architecture_name(std::uint32_t machine_image_type) noexcept;  // "x64", ...

// DUMP_FILE_ATTRIBUTES bits (reference §2.4).
namespace attributes {
inline constexpr std::uint32_t kHiberCrash = 1u << 0;
inline constexpr std::uint32_t kDumpDevicePowerOff = 1u << 1;
inline constexpr std::uint32_t kInsufficientDumpfileSize = 1u << 2;
inline constexpr std::uint32_t kKernelGeneratedTriageDump = 1u << 3;
inline constexpr std::uint32_t kLiveDumpGeneratedDump = 1u << 4;
inline constexpr std::uint32_t kDumpIsGeneratedOffline = 1u << 5;
inline constexpr std::uint32_t kFilterDumpFile = 1u << 6;
inline constexpr std::uint32_t kEarlyBootCrash = 1u << 7;
inline constexpr std::uint32_t kEncryptedDumpData = 1u << 8;
inline constexpr std::uint32_t kDecryptedDump = 1u << 9;
}  // namespace attributes
// Names of the set, documented bits ("LiveDumpGeneratedDump|DumpIsGeneratedOffline").
std::string attribute_names(std::uint32_t attributes);

// PHYSICAL_MEMORY_DESCRIPTOR64 / 32 and their runs (reference §3).
struct PhysicalMemoryRun64 {
  std::uint64_t BasePage;
  std::uint64_t PageCount;
};
struct PhysicalMemoryDescriptor64Head {
  std::uint32_t NumberOfRuns;
  std::uint32_t Pad;  // left as fill by Windows
  std::uint64_t NumberOfPages;
  // PhysicalMemoryRun64 Run[NumberOfRuns] follows
};
static_assert(sizeof(PhysicalMemoryRun64) == 16);
static_assert(sizeof(PhysicalMemoryDescriptor64Head) == 0x10);
static_assert(offsetof(PhysicalMemoryDescriptor64Head, NumberOfPages) == 0x08);

struct PhysicalMemoryRun32 {
  std::uint32_t BasePage;
  std::uint32_t PageCount;
};
struct PhysicalMemoryDescriptor32Head {
  std::uint32_t NumberOfRuns;
  std::uint32_t NumberOfPages;
  // PhysicalMemoryRun32 Run[NumberOfRuns] follows
};
static_assert(sizeof(PhysicalMemoryRun32) == 8);
static_assert(sizeof(PhysicalMemoryDescriptor32Head) == 0x08);

inline constexpr std::size_t kPhysicalMemoryBlockBytes = 700;
inline constexpr std::size_t kMaxRuns64 =
    (kPhysicalMemoryBlockBytes - sizeof(PhysicalMemoryDescriptor64Head)) / 16;  // 42
inline constexpr std::size_t kMaxRuns32 =
    (kPhysicalMemoryBlockBytes - sizeof(PhysicalMemoryDescriptor32Head)) / 8;  // 86
static_assert(kMaxRuns64 == 42 && kMaxRuns32 == 86);

struct DumpHeader64 {
  std::uint32_t Signature;  // "PAGE"
  std::uint32_t ValidDump;  // "DU64"
  std::uint32_t MajorVersion;
  std::uint32_t MinorVersion;  // build number
  std::uint64_t DirectoryTableBase;
  std::uint64_t PfnDataBase;
  std::uint64_t PsLoadedModuleList;
  std::uint64_t PsActiveProcessHead;
  std::uint32_t MachineImageType;
  std::uint32_t NumberProcessors;
  std::uint32_t BugCheckCode;
  std::uint32_t BugCheckCodePad;
  std::uint64_t BugCheckParameter[4];
  std::uint8_t VersionUser[32];
  std::uint64_t KdDebuggerDataBlock;
  std::uint8_t PhysicalMemoryBlock[kPhysicalMemoryBlockBytes + 4];  // union with Buffer, padded
  std::uint8_t ContextRecord[3000];
  ExceptionRecord64 Exception;
  std::uint32_t DumpType;
  std::uint32_t DumpTypePad;
  std::uint64_t RequiredDumpSpace;
  std::uint64_t SystemTime;
  char Comment[128];
  std::uint64_t SystemUpTime;
  std::uint32_t MiniDumpFields;
  std::uint32_t SecondaryDataState;
  std::uint32_t ProductType;
  std::uint32_t SuiteMask;
  std::uint32_t WriterStatus;
  std::uint8_t Unused1;
  std::uint8_t KdSecondaryVersion;
  std::uint8_t Unused[2];
  std::uint32_t Attributes;
  std::uint32_t BootId;
  std::uint8_t Reserved0[4008];
};
static_assert(sizeof(DumpHeader64) == kHeaderSize64);
static_assert(offsetof(DumpHeader64, ValidDump) == 0x004);
static_assert(offsetof(DumpHeader64, MajorVersion) == 0x008);
static_assert(offsetof(DumpHeader64, MinorVersion) == 0x00C);
static_assert(offsetof(DumpHeader64, DirectoryTableBase) == 0x010);
static_assert(offsetof(DumpHeader64, PfnDataBase) == 0x018);
static_assert(offsetof(DumpHeader64, PsLoadedModuleList) == 0x020);
static_assert(offsetof(DumpHeader64, PsActiveProcessHead) == 0x028);
static_assert(offsetof(DumpHeader64, MachineImageType) == 0x030);
static_assert(offsetof(DumpHeader64, NumberProcessors) == 0x034);
static_assert(offsetof(DumpHeader64, BugCheckCode) == 0x038);
static_assert(offsetof(DumpHeader64, BugCheckParameter) == 0x040);
static_assert(offsetof(DumpHeader64, VersionUser) == 0x060);
static_assert(offsetof(DumpHeader64, KdDebuggerDataBlock) == 0x080);
static_assert(offsetof(DumpHeader64, PhysicalMemoryBlock) == 0x088);
static_assert(offsetof(DumpHeader64, ContextRecord) == 0x348);
static_assert(offsetof(DumpHeader64, Exception) == 0xF00);
static_assert(offsetof(DumpHeader64, DumpType) == 0xF98);
static_assert(offsetof(DumpHeader64, DumpTypePad) == 0xF9C);
static_assert(offsetof(DumpHeader64, RequiredDumpSpace) == 0xFA0);
static_assert(offsetof(DumpHeader64, SystemTime) == 0xFA8);
static_assert(offsetof(DumpHeader64, Comment) == 0xFB0);
static_assert(offsetof(DumpHeader64, SystemUpTime) == 0x1030);
static_assert(offsetof(DumpHeader64, MiniDumpFields) == 0x1038);
static_assert(offsetof(DumpHeader64, SecondaryDataState) == 0x103C);
static_assert(offsetof(DumpHeader64, ProductType) == 0x1040);
static_assert(offsetof(DumpHeader64, SuiteMask) == 0x1044);
static_assert(offsetof(DumpHeader64, WriterStatus) == 0x1048);
static_assert(offsetof(DumpHeader64, Unused1) == 0x104C);
static_assert(offsetof(DumpHeader64, KdSecondaryVersion) == 0x104D);
static_assert(offsetof(DumpHeader64, Attributes) == 0x1050);
static_assert(offsetof(DumpHeader64, BootId) == 0x1054);
static_assert(offsetof(DumpHeader64, Reserved0) == 0x1058);

struct DumpHeader32 {
  std::uint32_t Signature;  // "PAGE"
  std::uint32_t ValidDump;  // "DUMP"
  std::uint32_t MajorVersion;
  std::uint32_t MinorVersion;
  std::uint32_t DirectoryTableBase;  // PDPT address under PAE
  std::uint32_t PfnDataBase;
  std::uint32_t PsLoadedModuleList;
  std::uint32_t PsActiveProcessHead;
  std::uint32_t MachineImageType;
  std::uint32_t NumberProcessors;
  std::uint32_t BugCheckCode;
  std::uint32_t BugCheckParameter[4];
  std::uint8_t VersionUser[32];
  std::uint8_t PaeEnabled;
  std::uint8_t KdSecondaryVersion;
  std::uint8_t Spare3[2];
  std::uint32_t KdDebuggerDataBlock;
  std::uint8_t PhysicalMemoryBlock[kPhysicalMemoryBlockBytes];
  std::uint8_t ContextRecord[1200];
  ExceptionRecord32 Exception;
  char Comment[128];
  std::uint32_t Attributes;
  std::uint32_t BootId;
  std::uint8_t Reserved0[1760];
  std::uint32_t DumpType;
  std::uint32_t MiniDumpFields;
  std::uint32_t SecondaryDataState;
  std::uint32_t ProductType;
  std::uint32_t SuiteMask;
  std::uint32_t WriterStatus;
  std::uint64_t RequiredDumpSpace;
  std::uint8_t Reserved2[16];
  std::uint64_t SystemUpTime;
  std::uint64_t SystemTime;
  std::uint8_t Reserved3[56];
};
static_assert(sizeof(DumpHeader32) == kHeaderSize32);
static_assert(offsetof(DumpHeader32, DirectoryTableBase) == 0x010);
static_assert(offsetof(DumpHeader32, PfnDataBase) == 0x014);
static_assert(offsetof(DumpHeader32, PsLoadedModuleList) == 0x018);
static_assert(offsetof(DumpHeader32, PsActiveProcessHead) == 0x01C);
static_assert(offsetof(DumpHeader32, MachineImageType) == 0x020);
static_assert(offsetof(DumpHeader32, NumberProcessors) == 0x024);
static_assert(offsetof(DumpHeader32, BugCheckCode) == 0x028);
static_assert(offsetof(DumpHeader32, BugCheckParameter) == 0x02C);
static_assert(offsetof(DumpHeader32, VersionUser) == 0x03C);
static_assert(offsetof(DumpHeader32, PaeEnabled) == 0x05C);
static_assert(offsetof(DumpHeader32, KdSecondaryVersion) == 0x05D);
static_assert(offsetof(DumpHeader32, KdDebuggerDataBlock) == 0x060);
static_assert(offsetof(DumpHeader32, PhysicalMemoryBlock) == 0x064);
static_assert(offsetof(DumpHeader32, ContextRecord) == 0x320);
static_assert(offsetof(DumpHeader32, Exception) == 0x7D0);
static_assert(offsetof(DumpHeader32, Comment) == 0x820);
static_assert(offsetof(DumpHeader32, Attributes) == 0x8A0);
static_assert(offsetof(DumpHeader32, BootId) == 0x8A4);
static_assert(offsetof(DumpHeader32, Reserved0) == 0x8A8);
static_assert(offsetof(DumpHeader32, DumpType) == 0xF88);
static_assert(offsetof(DumpHeader32, MiniDumpFields) == 0xF8C);
static_assert(offsetof(DumpHeader32, SecondaryDataState) == 0xF90);
static_assert(offsetof(DumpHeader32, ProductType) == 0xF94);
static_assert(offsetof(DumpHeader32, SuiteMask) == 0xF98);
static_assert(offsetof(DumpHeader32, WriterStatus) == 0xF9C);
static_assert(offsetof(DumpHeader32, RequiredDumpSpace) == 0xFA0);
static_assert(offsetof(DumpHeader32, SystemUpTime) == 0xFB8);
static_assert(offsetof(DumpHeader32, SystemTime) == 0xFC0);
static_assert(offsetof(DumpHeader32, Reserved3) == 0xFC8);

// Absolute file offsets of fields a reader reports by location in its messages.
inline constexpr std::size_t kHeader64DumpTypeOffset = offsetof(DumpHeader64, DumpType);
inline constexpr std::size_t kHeader32DumpTypeOffset = offsetof(DumpHeader32, DumpType);

}  // namespace pagedump::format
