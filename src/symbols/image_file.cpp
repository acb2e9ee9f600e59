#include "pagedump/symbols/image_file.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/pe.h"
#include "pagedump/io/input_file.h"

namespace pagedump::symbols {
namespace {

constexpr std::uint16_t kMaxSections = 96;  // the loader's limit

struct FileView {
  InputFile file;
  std::uint32_t size_of_headers = 0;
  std::vector<format::ImageSectionHeader> sections;
  explicit FileView(const std::string& path) : file(path) {}

  // Bytes at `rva` of the image as the loader would map it: zeros past a section's raw data.
  ReadResult read(std::uint32_t rva, std::span<std::byte> out) const {
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t r = std::uint64_t{rva} + done;
      std::uint64_t file_off = 0, avail = 0, zeros = 0;
      const format::ImageSectionHeader* s = nullptr;
      for (const auto& sec : sections) {
        const std::uint64_t span = std::max(sec.VirtualSize, sec.SizeOfRawData);
        if (r >= sec.VirtualAddress && r - sec.VirtualAddress < span) s = &sec;
      }
      if (s) {
        const std::uint64_t in = r - s->VirtualAddress;
        if (in < s->SizeOfRawData) {
          file_off = s->PointerToRawData + in;
          avail = s->SizeOfRawData - in;
        } else {
          zeros = std::max(s->VirtualSize, s->SizeOfRawData) - in;
        }
      } else if (r < size_of_headers) {
        file_off = r;
        avail = size_of_headers - r;
      } else {
        return {ReadStatus::not_present, r, 0};
      }
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, avail ? avail : zeros));
      if (avail) {
        if (file.read_at(file_off, out.subspan(done, n)) != n) return {ReadStatus::truncated, r, file_off};
      } else {
        std::memset(out.data() + done, 0, n);
      }
      done += n;
    }
    return {};
  }
};

}  // namespace

pe::PeImage read_pe_file(const std::string& path) {
  auto view = std::make_shared<FileView>(path);
  const auto& f = view->file;
  std::uint32_t lfanew = 0;
  f.read_exact(format::kDosLfanewOffset, std::as_writable_bytes(std::span(&lfanew, 1)), "e_lfanew");
  if (lfanew > 0x1000 || std::uint64_t{lfanew} + 0x18 > f.size()) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: e_lfanew {:#x} is outside the file", path, lfanew));
  }
  const auto fh = f.read_struct<format::ImageFileHeader>(lfanew + 4, "IMAGE_FILE_HEADER");
  if (fh.NumberOfSections > kMaxSections) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: NumberOfSections {} is more than {}", path, fh.NumberOfSections, kMaxSections));
  }
  const std::uint64_t opt = lfanew + 4 + sizeof fh;
  std::uint32_t soh = 0;  // SizeOfHeaders sits at 0x3C in both optional header layouts
  f.read_exact(opt + 0x3C, std::as_writable_bytes(std::span(&soh, 1)), "SizeOfHeaders");
  view->size_of_headers = static_cast<std::uint32_t>(std::min<std::uint64_t>(soh, f.size()));
  const std::uint64_t table = opt + fh.SizeOfOptionalHeader;
  view->sections.resize(fh.NumberOfSections);
  f.read_exact(table, std::as_writable_bytes(std::span(view->sections)), "section table");
  return pe::PeImage::read([view](std::uint32_t rva, std::span<std::byte> out) { return view->read(rva, out); }, 0,
                           path, "file");
}

}  // namespace pagedump::symbols
