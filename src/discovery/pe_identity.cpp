// The PE facts discovery needs, through the library's PE reader.
#include <algorithm>
#include <cctype>

#include "discovery_context.h"
#include "pagedump/pe/pe_image.h"

namespace pagedump::discovery {
namespace {

constexpr std::uint32_t kScnMemExecute = 0x20000000;
constexpr std::uint32_t kScnCntCode = 0x00000020;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::optional<ImageIdentity> read_image_identity(const VirtualMemory& vm, std::uint64_t base,
                                                 std::string& why) {
  try {
    // A module whose image is not in the capture (paged out, or never read in) is the common
    // case, not an exceptional one: it is reported without throwing, which cost a sparse
    // conversion a tenth of a millisecond in unwinding for four absent drivers.
    auto read = pe::PeImage::read_if_present(vm, base, "image", why);
    if (!read) return std::nullopt;
    const pe::PeImage& pe = *read;
    ImageIdentity id;
    id.size_of_image = pe.size_of_image();
    id.timestamp = pe.time_date_stamp();
    id.checksum = pe.checksum();
    id.machine = pe.machine();
    for (const auto& s : pe.sections()) {
      const bool code = (s.characteristics & (kScnMemExecute | kScnCntCode)) != 0;
      (code ? id.code_sections : id.data_sections).emplace_back(s.rva, s.virtual_size);
    }
    // Exports and debug data may sit on paged-out pages: their absence is not fatal here.
    try {
      // The DLL name only: a candidate's name tables may be huge (hostile or aliased pages),
      // and every MZ page a scan meets is a candidate.
      if (auto name = pe.read_export_name()) id.export_name = *name;
    } catch (const Error& e) {
      why = e.what();
    }
    try {
      if (auto cv = pe.read_codeview()) {
        id.pdb = PdbIdentity{cv->pdb_file_name(), cv->guid_string(), cv->age};
      }
    } catch (const Error& e) {
      why = e.what();
    }
    return id;
  } catch (const Error& e) {
    why = e.what();
    return std::nullopt;
  }
}

bool is_kernel_image(const ImageIdentity& id) {
  if (lower(id.export_name) == "ntoskrnl.exe") return true;
  if (!id.pdb) return false;
  const std::string pdb = lower(id.pdb->name);
  return pdb == "ntkrnlmp.pdb" || pdb == "ntoskrnl.pdb" || pdb == "ntkrnlpa.pdb" ||
         pdb == "ntkrpamp.pdb";
}

}  // namespace pagedump::discovery
