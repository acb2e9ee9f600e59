#include "pagedump/pe/pe_image.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/pe.h"

namespace pagedump::pe {

using namespace pagedump::format;

namespace {

template <class T>
T from_bytes(std::span<const std::byte> b, std::size_t off = 0) {
  return load<T>(b, off);
}

ErrorKind kind_of(ReadStatus s) {
  switch (s) {
    case ReadStatus::truncated: return ErrorKind::truncated;
    case ReadStatus::io_error: return ErrorKind::io;
    default: return ErrorKind::not_present;
  }
}

}  // namespace

void PeImage::fail(std::string_view message) const {
  throw Error(ErrorKind::inconsistent, fmt::format("{} at {:#x}: {}", what_, base_, message));
}

std::string PeImage::unreadable(std::uint32_t rva, std::size_t size, std::string_view field,
                                const ReadResult& r) const {
  return fmt::format("{} at {:#x}: cannot read {} (rva {:#x}, {:#x} bytes): {}", what_, base_,
                     field, rva, size, describe(r, space_));
}

void PeImage::read_bytes(std::uint32_t rva, std::span<std::byte> out,
                         std::string_view field) const {
  ReadResult r = reader_(rva, out);
  if (!r) throw Error(kind_of(r.status), unreadable(rva, out.size(), field, r));
}

// NUL-terminated ASCII string at rva, at most kMaxNameLength characters and inside the image.
std::string PeImage::read_string(std::uint32_t rva, std::string_view field) const {
  if (rva >= size_of_image_) {
    fail(fmt::format("{} rva {:#x} lies outside the image (SizeOfImage {:#x})", field, rva,
                     size_of_image_));
  }
  std::string s;
  std::array<std::byte, 64> chunk{};
  std::uint32_t at = rva;
  while (s.size() <= kMaxNameLength) {
    // Stay within the image and do not cross into the next page needlessly.
    std::uint32_t n = static_cast<std::uint32_t>(chunk.size());
    n = std::min<std::uint32_t>(n, size_of_image_ - at);
    n = std::min<std::uint32_t>(n, static_cast<std::uint32_t>(kPageSize - (at % kPageSize)));
    if (n == 0) break;
    read_bytes(at, std::span(chunk.data(), n), field);
    for (std::uint32_t i = 0; i < n; ++i) {
      char c = static_cast<char>(chunk[i]);
      if (c == '\0') return s;
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {  // UTF-8 bytes >= 0x80 pass
        fail(fmt::format("{} at rva {:#x} holds a control byte {:#04x} at rva {:#x}", field, rva,
                         static_cast<unsigned>(static_cast<unsigned char>(c)), at + i));
      }
      s.push_back(c);
    }
    at += n;
  }
  if (s.size() > kMaxNameLength) {
    fail(fmt::format("{} at rva {:#x} is longer than {} characters", field, rva, kMaxNameLength));
  }
  fail(fmt::format("{} at rva {:#x} runs past the end of the image (SizeOfImage {:#x})", field, rva,
                   size_of_image_));
}

PeImage PeImage::read(const VirtualMemory& vm, std::uint64_t base, std::string what) {
  return read([&vm, base](std::uint32_t rva,
                          std::span<std::byte> out) { return vm.read_virtual(base + rva, out); },
              base, std::move(what), "virtual");
}

std::optional<PeImage> PeImage::read_if_present(const VirtualMemory& vm, std::uint64_t base,
                                                std::string what, std::string& why) {
  return read_image(
      [&vm, base](std::uint32_t rva, std::span<std::byte> out) {
        return vm.read_virtual(base + rva, out);
      },
      base, std::move(what), "virtual", &why);
}

PeImage PeImage::read(RvaReader reader, std::uint64_t base, std::string what, std::string space) {
  return *read_image(std::move(reader), base, std::move(what), std::move(space), nullptr);
}

std::optional<PeImage> PeImage::read_image(RvaReader reader, std::uint64_t base, std::string what,
                                           std::string space, std::string* absent) {
  PeImage img;
  img.space_ = std::move(space);
  img.reader_ = std::move(reader);
  img.what_ = std::move(what);
  img.base_ = base;

  std::array<std::byte, kDosHeaderSize> dos{};
  if (absent) {
    if (const ReadResult r = img.reader_(0, dos); !r) {
      *absent = img.unreadable(0, dos.size(), "DOS header", r);
      return std::nullopt;
    }
  } else {
    img.read_bytes(0, dos, "DOS header");
  }
  if (from_bytes<std::uint16_t>(dos) != kDosSignature) {
    img.fail(fmt::format("no \"MZ\" signature (found {:#06x})", from_bytes<std::uint16_t>(dos)));
  }
  std::uint32_t lfanew = from_bytes<std::uint32_t>(dos, kDosLfanewOffset);
  if (lfanew < 4 || lfanew > kMaxLfanew || lfanew % 4 != 0) {
    img.fail(
        fmt::format("e_lfanew {:#x} (DOS header +0x3c) is not a 4-aligned offset in "
                    "[0x4, {:#x}]",
                    lfanew, kMaxLfanew));
  }
  img.e_lfanew_ = lfanew;

  // Signature + file header + the larger optional header's fixed part.
  constexpr std::size_t kFixed = 4 + sizeof(ImageFileHeader);
  std::array<std::byte, kFixed + sizeof(ImageOptionalHeader64)> nt{};
  img.read_bytes(lfanew, std::span(nt.data(), kFixed + 2), "NT headers");
  auto sig = from_bytes<std::uint32_t>(nt);
  if (sig != kNtSignature) {
    img.fail(
        fmt::format("no \"PE\\0\\0\" signature at e_lfanew {:#x} (found {:#010x})", lfanew, sig));
  }
  auto fh = from_bytes<ImageFileHeader>(nt, 4);
  std::uint16_t magic = from_bytes<std::uint16_t>(nt, kFixed);
  std::size_t opt_fixed = 0;
  if (magic == kPe32PlusMagic) {
    opt_fixed = sizeof(ImageOptionalHeader64);
  } else if (magic == kPe32Magic) {
    opt_fixed = sizeof(ImageOptionalHeader32);
  } else {
    img.fail(
        fmt::format("optional header magic {:#x} at {:#x} is neither PE32 (0x10b) nor "
                    "PE32+ (0x20b)",
                    magic, lfanew + kFixed));
  }
  if (fh.SizeOfOptionalHeader < opt_fixed) {
    img.fail(fmt::format(
        "SizeOfOptionalHeader {:#x} is smaller than the {} optional header "
        "({:#x} bytes)",
        fh.SizeOfOptionalHeader, magic == kPe32PlusMagic ? "PE32+" : "PE32", opt_fixed));
  }
  img.read_bytes(lfanew + kFixed, std::span(nt.data() + kFixed, opt_fixed), "optional header");
  img.machine_ = fh.Machine;
  img.pe32_plus_ = magic == kPe32PlusMagic;
  img.time_date_stamp_ = fh.TimeDateStamp;
  std::uint32_t n_dirs = 0;
  if (img.pe32_plus_) {
    auto oh = from_bytes<ImageOptionalHeader64>(nt, kFixed);
    img.size_of_image_ = oh.SizeOfImage;
    img.size_of_headers_ = oh.SizeOfHeaders;
    img.checksum_ = oh.CheckSum;
    img.entry_point_ = oh.AddressOfEntryPoint;
    img.image_base_ = oh.ImageBase;
    n_dirs = oh.NumberOfRvaAndSizes;
  } else {
    auto oh = from_bytes<ImageOptionalHeader32>(nt, kFixed);
    img.size_of_image_ = oh.SizeOfImage;
    img.size_of_headers_ = oh.SizeOfHeaders;
    img.checksum_ = oh.CheckSum;
    img.entry_point_ = oh.AddressOfEntryPoint;
    img.image_base_ = oh.ImageBase;
    n_dirs = oh.NumberOfRvaAndSizes;
  }

  std::uint32_t opt_size = fh.SizeOfOptionalHeader;
  std::uint64_t headers_end = std::uint64_t(lfanew) + kFixed + opt_size +
                              std::uint64_t(fh.NumberOfSections) * sizeof(ImageSectionHeader);
  if (img.size_of_image_ < kPageSize) {
    img.fail(fmt::format("SizeOfImage {:#x} is smaller than one page", img.size_of_image_));
  }
  if (img.size_of_headers_ > img.size_of_image_) {
    img.fail(fmt::format("SizeOfHeaders {:#x} exceeds SizeOfImage {:#x}", img.size_of_headers_,
                         img.size_of_image_));
  }
  if (fh.NumberOfSections == 0 || fh.NumberOfSections > kMaxSections) {
    img.fail(
        fmt::format("NumberOfSections {} is not in [1, {}]", fh.NumberOfSections, kMaxSections));
  }
  if (headers_end > img.size_of_image_) {
    img.fail(fmt::format("the section table ends at rva {:#x}, beyond SizeOfImage {:#x}",
                         headers_end, img.size_of_image_));
  }

  // Data directories: as many as both the count and SizeOfOptionalHeader allow.
  std::uint32_t room =
      static_cast<std::uint32_t>((opt_size - opt_fixed) / sizeof(ImageDataDirectory));
  n_dirs = std::min({n_dirs, room, pe_dir::kCount});
  if (n_dirs > 0) {
    std::array<ImageDataDirectory, pe_dir::kCount> dirs{};
    img.read_bytes(static_cast<std::uint32_t>(lfanew + kFixed + opt_fixed),
                   std::as_writable_bytes(std::span(dirs.data(), n_dirs)), "data directories");
    for (std::uint32_t i = 0; i < n_dirs; ++i) {
      img.directories_.emplace_back(dirs[i].VirtualAddress, dirs[i].Size);
    }
  }

  std::vector<std::byte> table(std::size_t(fh.NumberOfSections) * sizeof(ImageSectionHeader));
  img.read_bytes(static_cast<std::uint32_t>(lfanew + kFixed + opt_size), table, "section table");
  for (std::uint16_t i = 0; i < fh.NumberOfSections; ++i) {
    auto sh = from_bytes<ImageSectionHeader>(table, std::size_t(i) * sizeof(ImageSectionHeader));
    Section s;
    s.name.assign(sh.Name, strnlen(sh.Name, sizeof(sh.Name)));
    s.rva = sh.VirtualAddress;
    s.virtual_size = sh.VirtualSize ? sh.VirtualSize : sh.SizeOfRawData;
    s.characteristics = sh.Characteristics;
    if (std::uint64_t(s.rva) + s.virtual_size > img.size_of_image_) {
      img.fail(
          fmt::format("section {} \"{}\" [rva {:#x}, +{:#x}) extends beyond SizeOfImage "
                      "{:#x}",
                      i, s.name, s.rva, s.virtual_size, img.size_of_image_));
    }
    img.sections_.push_back(std::move(s));
  }
  return img;
}

const Section* PeImage::find_section(std::string_view name) const noexcept {
  for (const auto& s : sections_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string PeImage::image_key() const {
  return fmt::format("{:08X}{:X}", time_date_stamp_, size_of_image_);
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> PeImage::directory(
    std::uint32_t index) const {
  if (index >= directories_.size()) return std::nullopt;
  auto [rva, size] = directories_[index];
  if (rva == 0 && size == 0) return std::nullopt;
  return directories_[index];
}

std::optional<std::uint32_t> ExportDirectory::find(std::string_view name) const {
  for (const auto& e : exports) {
    if (e.name == name) return e.rva;
  }
  return std::nullopt;
}

std::optional<std::string> PeImage::read_export_name() const {
  auto dir = directory(pe_dir::kExport);
  if (!dir) return std::nullopt;
  auto [dir_rva, dir_size] = *dir;
  if (dir_size < sizeof(ImageExportDirectory) ||
      std::uint64_t(dir_rva) + dir_size > size_of_image_) {
    fail(
        fmt::format("export directory [rva {:#x}, +{:#x}) is not inside the image "
                    "(SizeOfImage {:#x}) or smaller than {:#x} bytes",
                    dir_rva, dir_size, size_of_image_, sizeof(ImageExportDirectory)));
  }
  ImageExportDirectory ed{};
  read_bytes(dir_rva, std::as_writable_bytes(std::span(&ed, 1)), "export directory");
  return read_string(ed.Name, "export DLL name");
}

std::optional<ExportDirectory> PeImage::read_exports() const {
  auto dir = directory(pe_dir::kExport);
  if (!dir) return std::nullopt;
  auto [dir_rva, dir_size] = *dir;
  if (dir_size < sizeof(ImageExportDirectory) ||
      std::uint64_t(dir_rva) + dir_size > size_of_image_) {
    fail(
        fmt::format("export directory [rva {:#x}, +{:#x}) is not inside the image "
                    "(SizeOfImage {:#x}) or smaller than {:#x} bytes",
                    dir_rva, dir_size, size_of_image_, sizeof(ImageExportDirectory)));
  }
  ImageExportDirectory ed{};
  read_bytes(dir_rva, std::as_writable_bytes(std::span(&ed, 1)), "export directory");

  // Each table must lie inside the image; the counts are bounded by what the image can hold.
  auto check_table = [&](std::uint32_t rva, std::uint64_t count, std::uint32_t entry,
                         const char* field) {
    if (count == 0) return;
    if (rva == 0 || std::uint64_t(rva) + count * entry > size_of_image_) {
      fail(
          fmt::format("export directory {} (rva {:#x}, {} entries of {} bytes) lies outside "
                      "the image (SizeOfImage {:#x})",
                      field, rva, count, entry, size_of_image_));
    }
  };
  if (ed.NumberOfNames > kMaxNames) {
    fail(fmt::format("export directory NumberOfNames {} exceeds {}", ed.NumberOfNames, kMaxNames));
  }
  if (ed.NumberOfNames > ed.NumberOfFunctions) {
    fail(fmt::format("export directory NumberOfNames {} exceeds NumberOfFunctions {}",
                     ed.NumberOfNames, ed.NumberOfFunctions));
  }
  check_table(ed.AddressOfFunctions, ed.NumberOfFunctions, 4, "AddressOfFunctions");
  check_table(ed.AddressOfNames, ed.NumberOfNames, 4, "AddressOfNames");
  check_table(ed.AddressOfNameOrdinals, ed.NumberOfNames, 2, "AddressOfNameOrdinals");

  ExportDirectory out;
  out.dll_name = read_string(ed.Name, "export DLL name");
  out.exports.reserve(ed.NumberOfNames);

  // Read the tables in bounded chunks: memory does not grow with the counts beyond the result.
  constexpr std::uint32_t kChunk = 256;
  std::array<std::uint32_t, kChunk> names{};
  std::array<std::uint16_t, kChunk> ordinals{};
  for (std::uint32_t first = 0; first < ed.NumberOfNames; first += kChunk) {
    std::uint32_t n = std::min(kChunk, ed.NumberOfNames - first);
    read_bytes(ed.AddressOfNames + first * 4, std::as_writable_bytes(std::span(names.data(), n)),
               "export name table");
    read_bytes(ed.AddressOfNameOrdinals + first * 2,
               std::as_writable_bytes(std::span(ordinals.data(), n)), "export ordinal table");
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint16_t index = ordinals[i];
      if (index >= ed.NumberOfFunctions) {
        fail(fmt::format("export name {} has ordinal index {} beyond NumberOfFunctions {}",
                         first + i, index, ed.NumberOfFunctions));
      }
      std::uint32_t fn = 0;
      read_bytes(ed.AddressOfFunctions + std::uint32_t(index) * 4,
                 std::as_writable_bytes(std::span(&fn, 1)), "export address table");
      Export e;
      e.name = read_string(names[i], "export name");
      e.rva = fn;
      e.ordinal = static_cast<std::uint16_t>(ed.Base + index);
      e.forwarder = fn >= dir_rva && fn - dir_rva < dir_size;
      if (!e.forwarder && fn >= size_of_image_) {
        fail(fmt::format("export \"{}\" has rva {:#x} outside the image (SizeOfImage {:#x})",
                         e.name, fn, size_of_image_));
      }
      out.exports.push_back(std::move(e));
    }
  }
  return out;
}

std::string CodeViewPdb::guid_string() const {
  std::string s = fmt::format("{:08X}{:04X}{:04X}", guid_data1, guid_data2, guid_data3);
  for (auto b : guid_data4) s += fmt::format("{:02X}", b);
  return s;
}

std::string CodeViewPdb::symbol_key() const {
  return guid_string() + fmt::format("{:X}", age);
}

std::string CodeViewPdb::pdb_file_name() const {
  auto slash = pdb_name.find_last_of("\\/");
  return slash == std::string::npos ? pdb_name : pdb_name.substr(slash + 1);
}

std::string CodeViewPdb::symbol_path() const {
  std::string name = pdb_file_name();
  return name + "/" + symbol_key() + "/" + name;
}

std::optional<CodeViewPdb> PeImage::read_codeview() const {
  auto dir = directory(pe_dir::kDebug);
  if (!dir) return std::nullopt;
  auto [dir_rva, dir_size] = *dir;
  if (std::uint64_t(dir_rva) + dir_size > size_of_image_ ||
      dir_size % sizeof(ImageDebugDirectory)) {
    fail(
        fmt::format("debug directory [rva {:#x}, +{:#x}) is not inside the image (SizeOfImage "
                    "{:#x}) or not a whole number of {:#x}-byte entries",
                    dir_rva, dir_size, size_of_image_, sizeof(ImageDebugDirectory)));
  }
  std::uint32_t count = dir_size / sizeof(ImageDebugDirectory);
  if (count > kMaxDebugEntries) {
    fail(fmt::format("debug directory holds {} entries, more than {}", count, kMaxDebugEntries));
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    ImageDebugDirectory dd{};
    read_bytes(dir_rva + i * std::uint32_t(sizeof(dd)), std::as_writable_bytes(std::span(&dd, 1)),
               "debug directory entry");
    if (dd.Type != kDebugTypeCodeView) continue;
    if (dd.AddressOfRawData == 0) continue;  // not mapped with the image
    if (dd.SizeOfData < sizeof(CvInfoPdb70) + 1 ||
        std::uint64_t(dd.AddressOfRawData) + dd.SizeOfData > size_of_image_) {
      fail(
          fmt::format("CodeView record [rva {:#x}, +{:#x}) is not inside the image "
                      "(SizeOfImage {:#x}) or too small for an RSDS record",
                      dd.AddressOfRawData, dd.SizeOfData, size_of_image_));
    }
    CvInfoPdb70 cv{};
    read_bytes(dd.AddressOfRawData, std::as_writable_bytes(std::span(&cv, 1)), "CodeView record");
    if (cv.Signature != kRsdsSignature) continue;  // NB10 or other: no PDB 7.0 identity
    CodeViewPdb pdb;
    pdb.guid_data1 = cv.GuidData1;
    pdb.guid_data2 = cv.GuidData2;
    pdb.guid_data3 = cv.GuidData3;
    std::memcpy(pdb.guid_data4.data(), cv.GuidData4, 8);
    pdb.age = cv.Age;
    pdb.pdb_name = read_string(dd.AddressOfRawData + std::uint32_t(sizeof(cv)), "PDB name");
    if (pdb.pdb_name.size() + 1 > dd.SizeOfData - sizeof(cv)) {
      fail(fmt::format("PDB name \"{}\" runs past the CodeView record's SizeOfData {:#x}",
                       pdb.pdb_name, dd.SizeOfData));
    }
    if (pdb.pdb_name.empty()) fail("the CodeView RSDS record has an empty PDB name");
    return pdb;
  }
  return std::nullopt;
}

}  // namespace pagedump::pe
