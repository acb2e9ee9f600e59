#include "pagedump/reader/virtual_view.h"

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "pagedump/translate/address_space.h"

namespace pagedump {
namespace {

// A triage dump answers at the VAs it carries; the view owns its parse of the sections.
class TriageVirtualView final : public VirtualMemory {
 public:
  explicit TriageVirtualView(const DumpFile& dump)
      : triage_(TriageDump::parse(dump.file(), dump.header().is64, dump.header_bytes())),
        view_(triage_) {}
  ReadResult read_virtual(std::uint64_t va, std::span<std::byte> out) const override {
    return view_.read_virtual(va, out);
  }

 private:
  TriageDump triage_;
  TriageView view_;
};

}  // namespace

std::optional<PagingMode> dump_paging_mode(const DumpFile& dump) {
  const auto& h = dump.header();
  switch (h.machine_image_type.value_or(0)) {
    case format::machine::kAmd64: return PagingMode::x64_4level;
    case format::machine::kArm64: return PagingMode::arm64_4k;
    case format::machine::kI386:
      return h.pae_enabled.value_or(false) ? PagingMode::x86_pae : PagingMode::x86_legacy;
    default: return std::nullopt;
  }
}

std::unique_ptr<VirtualMemory> open_virtual_view(const DumpFile& dump) {
  const auto& h = dump.header();
  if (dump.layout() == MemoryLayout::none) {
    if (h.dump_type == static_cast<std::uint32_t>(format::DumpType::triage)) {
      return std::make_unique<TriageVirtualView>(dump);
    }
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: a DumpType {} dump holds no memory to read", dump.path(),
                            h.dump_type));
  }
  const auto mode = dump_paging_mode(dump);
  if (!mode) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: virtual reads of {} dumps are not supported (MachineImageType "
                            "{:#x}); use --pa",
                            dump.path(), h.architecture(), h.machine_image_type.value_or(0)));
  }
  if (!h.directory_table_base) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: the header's DirectoryTableBase (offset {:#x}) still holds the "
                            "'PAGE' fill: no page tables to translate through",
                            dump.path(), h.is64 ? 0x10 : 0x10));
  }
  return std::make_unique<AddressSpace>(dump, *mode, *h.directory_table_base);
}

}  // namespace pagedump
