#include "info_triage.h"

#include <fmt/format.h>

namespace pagedump::cli {

nlohmann::json triage_json(const TriageDump& d) {
  const TriageFields& f = d.fields();
  nlohmann::json drivers = nlohmann::json::array();
  for (const auto& drv : d.drivers()) {
    drivers.push_back({{"name", drv.name},
                       {"path", drv.path},
                       {"base", drv.base},
                       {"size", drv.size},
                       {"checksum", drv.checksum},
                       {"timestamp", drv.timestamp}});
  }
  nlohmann::json unloaded = nlohmann::json::array();
  for (const auto& u : d.unloaded_drivers()) {
    unloaded.push_back({{"name", u.name}, {"start", u.start}, {"end", u.end}});
  }
  return {{"size_of_dump", f.size_of_dump},
          {"valid_offset", f.valid_offset},
          {"top_of_stack", f.top_of_stack},
          {"size_of_call_stack", f.size_of_call_stack},
          {"driver_count", d.drivers().size()},
          {"drivers", std::move(drivers)},
          {"unloaded_drivers", std::move(unloaded)},
          {"data_block_count", d.data_blocks().size()},
          {"debugger_data_size", f.debugger_data_size}};
}

namespace {

void section_line(std::ostream& out, const char* name, FileRange r, const std::string& extra = {}) {
  if (r.empty()) {
    out << fmt::format("  {:<22} (absent)\n", name);
    return;
  }
  out << fmt::format("  {:<22} {:#10x} .. {:#10x}  {:#9x} bytes{}\n", name, r.offset, r.end(), r.size, extra);
}

}  // namespace

void print_triage_text(std::ostream& out, const TriageDump& d) {
  const TriageFields& f = d.fields();
  out << fmt::format("Triage dump ({}-bit header at {:#x})\n", d.is64() ? 64 : 32, d.triage_header_offset());
  out << fmt::format("  SizeOfDump {:#x}, \"TRGD\" at {:#x}, TriageOptions {:#x}, ServicePackBuild {}\n",
                     f.size_of_dump, f.valid_offset, f.triage_options, f.service_pack_build);
  out << "Sections:\n";
  section_line(out, "context", d.context_range());
  section_line(out, "exception", d.exception_range());
  section_line(out, "mm storage", d.mm_storage() ? FileRange{d.mm_storage()->file_offset, d.mm_storage()->size}
                                                 : FileRange{});
  section_line(out, "unloaded drivers", d.unloaded_drivers_range(),
               fmt::format("  ({} entries)", d.unloaded_drivers().size()));
  section_line(out, "KPRCB copy", d.prcb_range());
  section_line(out, "EPROCESS copy", d.process_range());
  section_line(out, "ETHREAD copy", d.thread_range());
  section_line(out, "stack", d.stack_range(), fmt::format("  at VA {:#x}", f.top_of_stack));
  section_line(out, "KDBG copy", d.kdbg_range(), fmt::format("  at VA {:#x}", d.kd_debugger_data_block()));
  section_line(out, "driver list", d.driver_list_range(),
               fmt::format("  ({} entries, stride {:#x})", d.drivers().size(), d.driver_stride()));
  section_line(out, "string pool", d.string_pool_range());
  section_line(out, "data page", d.data_page_range(), fmt::format("  at VA {:#x}", f.data_page_address));
  section_line(out, "data-block table", d.data_blocks_table_range(),
               fmt::format("  ({} blocks)", d.data_blocks().size()));
  if (d.broken_driver_index()) {
    out << fmt::format("Broken driver: {}\n", d.drivers()[*d.broken_driver_index()].name);
  }
  if (!d.warnings().empty()) {
    out << "Warnings:\n";
    for (const auto& w : d.warnings()) out << "  " << w << '\n';
  }
  out << fmt::format("Drivers ({}):\n", d.drivers().size());
  out << fmt::format("  {:>4}  {:<18}  {:>10}  {:>10}  {:>10}  {}\n", "#", "base", "size", "timestamp", "checksum",
                     "name");
  for (std::size_t i = 0; i < d.drivers().size(); ++i) {
    const auto& drv = d.drivers()[i];
    out << fmt::format("  {:>4}  {:#018x}  {:#10x}  {:#010x}  {:#10x}  {}\n", i, drv.base, drv.size, drv.timestamp,
                       drv.checksum, drv.path);
  }
  out << fmt::format("Unloaded drivers ({}):\n", d.unloaded_drivers().size());
  for (const auto& u : d.unloaded_drivers()) {
    out << fmt::format("  {:#018x} .. {:#018x}  {}\n", u.start, u.end, u.name);
  }
}

}  // namespace pagedump::cli
