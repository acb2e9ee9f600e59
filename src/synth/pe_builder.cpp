#include "pagedump/synth/pe_builder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "pagedump/format/pe.h"

namespace pagedump::synth {

using namespace pagedump::format;

namespace {

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span(&v, 1));
}

std::span<const std::byte> bytes_of_string(const std::string& s) {
  return std::as_bytes(std::span(s.c_str(), s.size() + 1));  // with its NUL
}

std::vector<PeExportSpec> sorted_exports(const PeSpec& spec) {
  auto v = spec.exports;
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return v;
}

}  // namespace

std::uint32_t export_directory_size(const PeSpec& spec) {
  std::uint32_t n = static_cast<std::uint32_t>(spec.exports.size());
  std::uint32_t size = sizeof(ImageExportDirectory) + n * 4 + n * 4 + n * 2;
  size += static_cast<std::uint32_t>(spec.dll_name.size() + 1);
  for (const auto& e : spec.exports) size += static_cast<std::uint32_t>(e.name.size() + 1);
  return size;
}

void write_pe(const PeSpec& spec, const ImageWriter& write) {
  if (spec.sections.size() > 0xFFFF) throw std::invalid_argument("too many sections");
  std::vector<std::byte> dos(kDosHeaderSize);
  store<std::uint16_t>(dos, 0, kDosSignature);
  store<std::uint32_t>(dos, kDosLfanewOffset, spec.e_lfanew);
  write(0, dos);

  std::uint32_t at = spec.e_lfanew;
  write(at, bytes_of(kNtSignature));
  at += 4;

  ImageFileHeader fh{};
  fh.Machine = spec.machine;
  fh.NumberOfSections = static_cast<std::uint16_t>(spec.sections.size());
  fh.TimeDateStamp = spec.time_date_stamp;
  fh.SizeOfOptionalHeader = static_cast<std::uint16_t>(
      (spec.pe32_plus ? sizeof(ImageOptionalHeader64) : sizeof(ImageOptionalHeader32)) +
      pe_dir::kCount * sizeof(ImageDataDirectory));
  fh.Characteristics = spec.pe32_plus ? 0x22 : 0x122;  // executable, large-address / 32-bit
  write(at, bytes_of(fh));
  at += sizeof(fh);

  std::vector<ImageDataDirectory> dirs(pe_dir::kCount);
  if (spec.export_rva) dirs[pe_dir::kExport] = {spec.export_rva, export_directory_size(spec)};
  if (spec.debug_rva && spec.codeview) {
    dirs[pe_dir::kDebug] = {spec.debug_rva, sizeof(ImageDebugDirectory)};
  }
  if (spec.pe32_plus) {
    ImageOptionalHeader64 oh{};
    oh.Magic = kPe32PlusMagic;
    oh.MajorLinkerVersion = 14;
    oh.AddressOfEntryPoint = spec.entry_point_rva;
    oh.BaseOfCode = 0x1000;
    oh.ImageBase = spec.image_base;
    oh.SectionAlignment = 0x1000;
    oh.FileAlignment = 0x200;
    oh.MajorOperatingSystemVersion = 10;
    oh.MajorSubsystemVersion = 10;
    oh.SizeOfImage = spec.size_of_image;
    oh.SizeOfHeaders = spec.size_of_headers;
    oh.CheckSum = spec.checksum;
    oh.Subsystem = 1;  // native
    oh.NumberOfRvaAndSizes = pe_dir::kCount;
    write(at, bytes_of(oh));
    at += sizeof(oh);
  } else {
    ImageOptionalHeader32 oh{};
    oh.Magic = kPe32Magic;
    oh.MajorLinkerVersion = 9;
    oh.AddressOfEntryPoint = spec.entry_point_rva;
    oh.BaseOfCode = 0x1000;
    oh.ImageBase = static_cast<std::uint32_t>(spec.image_base);
    oh.SectionAlignment = 0x1000;
    oh.FileAlignment = 0x200;
    oh.MajorOperatingSystemVersion = 6;
    oh.MinorOperatingSystemVersion = 1;
    oh.MajorSubsystemVersion = 6;
    oh.MinorSubsystemVersion = 1;
    oh.SizeOfImage = spec.size_of_image;
    oh.SizeOfHeaders = spec.size_of_headers;
    oh.CheckSum = spec.checksum;
    oh.Subsystem = 1;
    oh.NumberOfRvaAndSizes = pe_dir::kCount;
    write(at, bytes_of(oh));
    at += sizeof(oh);
  }
  write(at, std::as_bytes(std::span(dirs)));
  at += static_cast<std::uint32_t>(dirs.size() * sizeof(ImageDataDirectory));

  for (const auto& s : spec.sections) {
    ImageSectionHeader sh{};
    std::memcpy(sh.Name, s.name.data(), std::min<std::size_t>(s.name.size(), 8));
    sh.VirtualSize = s.virtual_size;
    sh.VirtualAddress = s.rva;
    sh.SizeOfRawData = (s.virtual_size + 0x1FF) & ~0x1FFu;
    sh.PointerToRawData = s.rva;  // any file layout will do: only the mapped view is built
    sh.Characteristics = s.characteristics;
    write(at, bytes_of(sh));
    at += sizeof(sh);
  }

  if (spec.export_rva) {
    auto exports = sorted_exports(spec);
    std::uint32_t n = static_cast<std::uint32_t>(exports.size());
    std::uint32_t functions = spec.export_rva + sizeof(ImageExportDirectory);
    std::uint32_t names = functions + 4 * n;
    std::uint32_t ordinals = names + 4 * n;
    std::uint32_t strings = ordinals + 2 * n;
    ImageExportDirectory ed{};
    ed.TimeDateStamp = spec.time_date_stamp;
    ed.Name = strings;
    ed.Base = 1;
    ed.NumberOfFunctions = n;
    ed.NumberOfNames = n;
    ed.AddressOfFunctions = functions;
    ed.AddressOfNames = names;
    ed.AddressOfNameOrdinals = ordinals;
    write(spec.export_rva, bytes_of(ed));
    write(strings, bytes_of_string(spec.dll_name));
    strings += static_cast<std::uint32_t>(spec.dll_name.size() + 1);
    for (std::uint32_t i = 0; i < n; ++i) {
      write(functions + 4 * i, bytes_of(exports[i].rva));
      write(names + 4 * i, bytes_of(strings));
      auto ord = static_cast<std::uint16_t>(i);
      write(ordinals + 2 * i, bytes_of(ord));
      write(strings, bytes_of_string(exports[i].name));
      strings += static_cast<std::uint32_t>(exports[i].name.size() + 1);
    }
  }

  if (spec.debug_rva && spec.codeview) {
    const auto& cv = *spec.codeview;
    std::uint32_t record = spec.debug_rva + sizeof(ImageDebugDirectory);
    CvInfoPdb70 rsds{};
    rsds.Signature = kRsdsSignature;
    rsds.GuidData1 = cv.guid_data1;
    rsds.GuidData2 = cv.guid_data2;
    rsds.GuidData3 = cv.guid_data3;
    std::memcpy(rsds.GuidData4, cv.guid_data4.data(), 8);
    rsds.Age = cv.age;
    ImageDebugDirectory dd{};
    dd.TimeDateStamp = spec.time_date_stamp;
    dd.Type = kDebugTypeCodeView;
    dd.SizeOfData = static_cast<std::uint32_t>(sizeof(rsds) + cv.pdb_name.size() + 1);
    dd.AddressOfRawData = record;
    dd.PointerToRawData = record;
    write(spec.debug_rva, bytes_of(dd));
    write(record, bytes_of(rsds));
    write(record + sizeof(rsds), bytes_of_string(cv.pdb_name));
  }
}

std::vector<std::byte> build_pe(const PeSpec& spec) {
  std::vector<std::byte> image(spec.size_of_image);
  write_pe(spec, [&](std::uint32_t rva, std::span<const std::byte> b) {
    if (std::uint64_t(rva) + b.size() > image.size()) {
      throw std::out_of_range("PE spec writes beyond its SizeOfImage");
    }
    std::memcpy(image.data() + rva, b.data(), b.size());
  });
  return image;
}

}  // namespace pagedump::synth
