// A PE image as it lies mapped in memory (addressed by RVA), typically the Windows kernel or a
// driver found in a memory image. Every read goes through a callback that may fail (pages can
// be absent from the image or unmapped), and every field read is checked before it is used:
// a malformed or partial image gives a pagedump::Error naming the image base, the field and
// what was expected. Memory use is bounded by the image's own size limits, never by a count
// read from it alone.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pagedump/physical_memory.h"
#include "pagedump/virtual_memory.h"

namespace pagedump::pe {

// Reads out.size() bytes at `rva` of the image. A failed result names the first address that
// could not be read (in whatever space the callback reads: virtual, physical, file).
using RvaReader = std::function<ReadResult(std::uint32_t rva, std::span<std::byte> out)>;

struct Section {
  std::string name;  // up to 8 characters, NULs stripped
  std::uint32_t rva = 0;
  std::uint32_t virtual_size = 0;
  std::uint32_t characteristics = 0;
  bool contains(std::uint32_t r) const noexcept { return r >= rva && r - rva < virtual_size; }
};

struct Export {
  std::string name;
  std::uint32_t rva = 0;
  std::uint16_t ordinal = 0;  // biased by the directory's Base
  bool forwarder = false;     // rva points at a "DLL.Name" string inside the export directory
};

struct ExportDirectory {
  std::string dll_name;         // e.g. "ntoskrnl.exe"
  std::vector<Export> exports;  // named exports, in the image's (sorted) name order
  // The RVA of a named export, if present.
  std::optional<std::uint32_t> find(std::string_view name) const;
};

// The CodeView PDB 7.0 ("RSDS") record: the identity of the module's symbols.
struct CodeViewPdb {
  std::string pdb_name;  // as recorded, e.g. "ntkrnlmp.pdb" (may be a full path)
  std::uint32_t guid_data1 = 0;
  std::uint16_t guid_data2 = 0;
  std::uint16_t guid_data3 = 0;
  std::array<std::uint8_t, 8> guid_data4{};
  std::uint32_t age = 0;

  // Upper-case hex, no braces or dashes, in symbol-store order: Data1 %08X, Data2 %04X,
  // Data3 %04X, then the 8 bytes of Data4 %02X each.
  std::string guid_string() const;
  // The symbol-store key of the PDB: guid_string() followed by the age as %X.
  std::string symbol_key() const;
  // The PDB file name without any directory (what a symbol store files it under).
  std::string pdb_file_name() const;
  // "ntkrnlmp.pdb/<symbol_key()>/ntkrnlmp.pdb"
  std::string symbol_path() const;
};

class PeImage {
 public:
  // Reads and checks the DOS and NT headers and the section table. `base` is the address the
  // image is mapped at (used in messages and for absolute addresses), `what` names it
  // ("PE image", "kernel image"...), `space` names the reader's address space in messages
  // ("image", "virtual", "physical"). Throws pagedump::Error.
  static PeImage read(RvaReader reader, std::uint64_t base, std::string what = "PE image",
                      std::string space = "image");
  // The same over virtual memory: the image mapped at VA `base`.
  static PeImage read(const VirtualMemory& vm, std::uint64_t base, std::string what = "PE image");
  // The same, for callers to whom an absent image is the usual case (the modules of a capture,
  // paged out or never read in): when its DOS header cannot be read, nullopt with the message
  // read() would throw in `why`, and no exception. Throws as read() does otherwise.
  static std::optional<PeImage> read_if_present(const VirtualMemory& vm, std::uint64_t base,
                                                std::string what, std::string& why);

  std::uint64_t base() const noexcept { return base_; }
  std::uint16_t machine() const noexcept { return machine_; }
  bool pe32_plus() const noexcept { return pe32_plus_; }
  std::uint32_t size_of_image() const noexcept { return size_of_image_; }
  std::uint32_t size_of_headers() const noexcept { return size_of_headers_; }
  std::uint32_t time_date_stamp() const noexcept { return time_date_stamp_; }
  std::uint32_t checksum() const noexcept { return checksum_; }
  std::uint32_t entry_point_rva() const noexcept { return entry_point_; }
  std::uint64_t preferred_image_base() const noexcept { return image_base_; }
  std::uint32_t e_lfanew() const noexcept { return e_lfanew_; }
  const std::vector<Section>& sections() const noexcept { return sections_; }
  const Section* find_section(std::string_view name) const noexcept;

  // The image's own symbol-store key: TimeDateStamp as %08X then SizeOfImage as %X.
  std::string image_key() const;

  // The export directory; nullopt when the image has none. Throws pagedump::Error when it is
  // malformed or cannot be read.
  std::optional<ExportDirectory> read_exports() const;
  // Only the export directory's DLL name (what identifies a module): reads no name tables, so
  // its cost does not depend on NumberOfNames. nullopt when the image has no export directory.
  std::optional<std::string> read_export_name() const;
  // The first CodeView RSDS record of the debug directory; nullopt when there is none.
  // Throws pagedump::Error when the directory or the record is malformed or unreadable.
  std::optional<CodeViewPdb> read_codeview() const;

  // Limits applied while reading (the loader's or far beyond any real module's).
  static constexpr std::uint32_t kMaxLfanew = 0x1000 - 0x18;  // NT headers in the first page
  static constexpr std::uint32_t kMaxNames = 0x10000;         // name ordinals are 16-bit
  static constexpr std::size_t kMaxNameLength = 512;
  static constexpr std::uint32_t kMaxDebugEntries = 64;

 private:
  PeImage() = default;
  // `absent` set: an unreadable DOS header is reported there and gives nullopt.
  static std::optional<PeImage> read_image(RvaReader reader, std::uint64_t base, std::string what,
                                           std::string space, std::string* absent);
  std::string unreadable(std::uint32_t rva, std::size_t size, std::string_view field,
                         const ReadResult& r) const;
  void read_bytes(std::uint32_t rva, std::span<std::byte> out, std::string_view field) const;
  std::string read_string(std::uint32_t rva, std::string_view field) const;
  [[noreturn]] void fail(std::string_view message) const;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> directory(std::uint32_t index) const;

  RvaReader reader_;
  std::string what_;
  std::string space_;
  std::uint64_t base_ = 0;
  std::uint32_t e_lfanew_ = 0;
  std::uint16_t machine_ = 0;
  bool pe32_plus_ = false;
  std::uint32_t size_of_image_ = 0;
  std::uint32_t size_of_headers_ = 0;
  std::uint32_t time_date_stamp_ = 0;
  std::uint32_t checksum_ = 0;
  std::uint32_t entry_point_ = 0;
  std::uint64_t image_base_ = 0;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> directories_;  // (rva, size)
  std::vector<Section> sections_;
};

}  // namespace pagedump::pe
