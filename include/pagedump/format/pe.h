// Portable Executable structures as a module lies mapped in memory (RVA-addressed): the DOS
// stub header, the NT headers (PE32 and PE32+), section headers, and the export and debug
// directories with the CodeView "RSDS" record. Layouts from the public Microsoft PE/COFF
// specification (learn.microsoft.com/windows/win32/debug/pe-format) and winnt.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pagedump/format/common.h"

namespace pagedump::format {

inline constexpr std::uint16_t kDosSignature = 0x5A4D;     // "MZ"
inline constexpr std::uint32_t kNtSignature = 0x00004550;  // "PE\0\0"
inline constexpr std::uint16_t kPe32Magic = 0x10B;
inline constexpr std::uint16_t kPe32PlusMagic = 0x20B;
inline constexpr std::uint32_t kRsdsSignature = tag("RSDS");

namespace pe_machine {
inline constexpr std::uint16_t kI386 = 0x14C;
inline constexpr std::uint16_t kAmd64 = 0x8664;
inline constexpr std::uint16_t kArm64 = 0xAA64;
inline constexpr std::uint16_t kArmNt = 0x1C4;
}  // namespace pe_machine

namespace pe_dir {
inline constexpr std::uint32_t kExport = 0;
inline constexpr std::uint32_t kDebug = 6;
inline constexpr std::uint32_t kCount = 16;
}  // namespace pe_dir

inline constexpr std::uint32_t kDebugTypeCodeView = 2;

namespace section_flags {
inline constexpr std::uint32_t kCode = 0x20;
inline constexpr std::uint32_t kInitializedData = 0x40;
inline constexpr std::uint32_t kDiscardable = 0x02000000;
inline constexpr std::uint32_t kNotPaged = 0x08000000;
inline constexpr std::uint32_t kExecute = 0x20000000;
inline constexpr std::uint32_t kRead = 0x40000000;
inline constexpr std::uint32_t kWrite = 0x80000000;
}  // namespace section_flags

// IMAGE_DOS_HEADER: only the two fields a loader reads.
inline constexpr std::size_t kDosHeaderSize = 0x40;
inline constexpr std::size_t kDosLfanewOffset = 0x3C;

struct ImageFileHeader {
  std::uint16_t Machine;
  std::uint16_t NumberOfSections;
  std::uint32_t TimeDateStamp;
  std::uint32_t PointerToSymbolTable;
  std::uint32_t NumberOfSymbols;
  std::uint16_t SizeOfOptionalHeader;
  std::uint16_t Characteristics;
};
static_assert(sizeof(ImageFileHeader) == 0x14);
static_assert(offsetof(ImageFileHeader, TimeDateStamp) == 0x04);
static_assert(offsetof(ImageFileHeader, SizeOfOptionalHeader) == 0x10);

struct ImageDataDirectory {
  std::uint32_t VirtualAddress;
  std::uint32_t Size;
};
static_assert(sizeof(ImageDataDirectory) == 8);

// IMAGE_OPTIONAL_HEADER64 up to NumberOfRvaAndSizes; the data directories follow it.
struct ImageOptionalHeader64 {
  std::uint16_t Magic;
  std::uint8_t MajorLinkerVersion;
  std::uint8_t MinorLinkerVersion;
  std::uint32_t SizeOfCode;
  std::uint32_t SizeOfInitializedData;
  std::uint32_t SizeOfUninitializedData;
  std::uint32_t AddressOfEntryPoint;
  std::uint32_t BaseOfCode;
  std::uint64_t ImageBase;
  std::uint32_t SectionAlignment;
  std::uint32_t FileAlignment;
  std::uint16_t MajorOperatingSystemVersion;
  std::uint16_t MinorOperatingSystemVersion;
  std::uint16_t MajorImageVersion;
  std::uint16_t MinorImageVersion;
  std::uint16_t MajorSubsystemVersion;
  std::uint16_t MinorSubsystemVersion;
  std::uint32_t Win32VersionValue;
  std::uint32_t SizeOfImage;
  std::uint32_t SizeOfHeaders;
  std::uint32_t CheckSum;
  std::uint16_t Subsystem;
  std::uint16_t DllCharacteristics;
  std::uint64_t SizeOfStackReserve;
  std::uint64_t SizeOfStackCommit;
  std::uint64_t SizeOfHeapReserve;
  std::uint64_t SizeOfHeapCommit;
  std::uint32_t LoaderFlags;
  std::uint32_t NumberOfRvaAndSizes;
};
static_assert(sizeof(ImageOptionalHeader64) == 0x70);
static_assert(offsetof(ImageOptionalHeader64, AddressOfEntryPoint) == 0x10);
static_assert(offsetof(ImageOptionalHeader64, ImageBase) == 0x18);
static_assert(offsetof(ImageOptionalHeader64, SizeOfImage) == 0x38);
static_assert(offsetof(ImageOptionalHeader64, SizeOfHeaders) == 0x3C);
static_assert(offsetof(ImageOptionalHeader64, CheckSum) == 0x40);
static_assert(offsetof(ImageOptionalHeader64, NumberOfRvaAndSizes) == 0x6C);

// IMAGE_OPTIONAL_HEADER32 up to NumberOfRvaAndSizes.
struct ImageOptionalHeader32 {
  std::uint16_t Magic;
  std::uint8_t MajorLinkerVersion;
  std::uint8_t MinorLinkerVersion;
  std::uint32_t SizeOfCode;
  std::uint32_t SizeOfInitializedData;
  std::uint32_t SizeOfUninitializedData;
  std::uint32_t AddressOfEntryPoint;
  std::uint32_t BaseOfCode;
  std::uint32_t BaseOfData;
  std::uint32_t ImageBase;
  std::uint32_t SectionAlignment;
  std::uint32_t FileAlignment;
  std::uint16_t MajorOperatingSystemVersion;
  std::uint16_t MinorOperatingSystemVersion;
  std::uint16_t MajorImageVersion;
  std::uint16_t MinorImageVersion;
  std::uint16_t MajorSubsystemVersion;
  std::uint16_t MinorSubsystemVersion;
  std::uint32_t Win32VersionValue;
  std::uint32_t SizeOfImage;
  std::uint32_t SizeOfHeaders;
  std::uint32_t CheckSum;
  std::uint16_t Subsystem;
  std::uint16_t DllCharacteristics;
  std::uint32_t SizeOfStackReserve;
  std::uint32_t SizeOfStackCommit;
  std::uint32_t SizeOfHeapReserve;
  std::uint32_t SizeOfHeapCommit;
  std::uint32_t LoaderFlags;
  std::uint32_t NumberOfRvaAndSizes;
};
static_assert(sizeof(ImageOptionalHeader32) == 0x60);
static_assert(offsetof(ImageOptionalHeader32, ImageBase) == 0x1C);
static_assert(offsetof(ImageOptionalHeader32, SizeOfImage) == 0x38);
static_assert(offsetof(ImageOptionalHeader32, CheckSum) == 0x40);
static_assert(offsetof(ImageOptionalHeader32, NumberOfRvaAndSizes) == 0x5C);

struct ImageSectionHeader {
  char Name[8];  // not necessarily NUL-terminated
  std::uint32_t VirtualSize;
  std::uint32_t VirtualAddress;
  std::uint32_t SizeOfRawData;
  std::uint32_t PointerToRawData;
  std::uint32_t PointerToRelocations;
  std::uint32_t PointerToLinenumbers;
  std::uint16_t NumberOfRelocations;
  std::uint16_t NumberOfLinenumbers;
  std::uint32_t Characteristics;
};
static_assert(sizeof(ImageSectionHeader) == 0x28);
static_assert(offsetof(ImageSectionHeader, VirtualAddress) == 0x0C);
static_assert(offsetof(ImageSectionHeader, Characteristics) == 0x24);

// The loader caps the section count at 96 (PE/COFF specification, "NumberOfSections").
inline constexpr std::uint16_t kMaxSections = 96;

struct ImageExportDirectory {
  std::uint32_t Characteristics;
  std::uint32_t TimeDateStamp;
  std::uint16_t MajorVersion;
  std::uint16_t MinorVersion;
  std::uint32_t Name;  // RVA of the DLL name
  std::uint32_t Base;  // ordinal base
  std::uint32_t NumberOfFunctions;
  std::uint32_t NumberOfNames;
  std::uint32_t AddressOfFunctions;     // RVA of u32 RVAs
  std::uint32_t AddressOfNames;         // RVA of u32 name RVAs, sorted
  std::uint32_t AddressOfNameOrdinals;  // RVA of u16 indices into AddressOfFunctions
};
static_assert(sizeof(ImageExportDirectory) == 0x28);
static_assert(offsetof(ImageExportDirectory, Name) == 0x0C);
static_assert(offsetof(ImageExportDirectory, AddressOfNameOrdinals) == 0x24);

struct ImageDebugDirectory {
  std::uint32_t Characteristics;
  std::uint32_t TimeDateStamp;
  std::uint16_t MajorVersion;
  std::uint16_t MinorVersion;
  std::uint32_t Type;
  std::uint32_t SizeOfData;
  std::uint32_t AddressOfRawData;  // RVA of the data when mapped (0 if not mapped)
  std::uint32_t PointerToRawData;
};
static_assert(sizeof(ImageDebugDirectory) == 0x1C);
static_assert(offsetof(ImageDebugDirectory, Type) == 0x0C);
static_assert(offsetof(ImageDebugDirectory, AddressOfRawData) == 0x14);

// CV_INFO_PDB70 without its trailing NUL-terminated UTF-8 PDB path.
struct CvInfoPdb70 {
  std::uint32_t Signature;  // "RSDS"
  std::uint32_t GuidData1;
  std::uint16_t GuidData2;
  std::uint16_t GuidData3;
  std::uint8_t GuidData4[8];
  std::uint32_t Age;
};
static_assert(sizeof(CvInfoPdb70) == 0x18);
static_assert(offsetof(CvInfoPdb70, Age) == 0x14);

}  // namespace pagedump::format
