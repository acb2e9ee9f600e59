// pagedump info FILE [--json]: what a kernel dump says about itself. Each section (header,
// memory map, context, exception, triage sections, processors) is one text function and one
// JSON function.
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "pagedump/error.h"
#include "pagedump/format/bugcheck.h"
#include "pagedump/format/dump_header.h"
#include "info_triage.h"
#include "pagedump/format/context_registers.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/dump_processors.h"
#include "pagedump/reader/triage_dump.h"

namespace pagedump::cli {

namespace {

using nlohmann::json;

template <class T>
std::string hex_or_unset(const std::optional<T>& v) {
  return v ? fmt::format("{:#x}", *v) : std::string("(not set)");
}
template <class T>
std::string dec_or_unset(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : std::string("(not set)");
}
template <class T>
json num(const std::optional<T>& v) {
  return v ? json(static_cast<std::uint64_t>(*v)) : json(nullptr);
}

void line(const char* name, const std::string& value) {
  std::cout << fmt::format("  {:<24}{}\n", name, value);
}

// --- header ---------------------------------------------------------------------------------

void header_text(const DumpFile& d) {
  const auto& h = d.header();
  std::cout << "header\n";
  line("file", d.path());
  line("format", fmt::format("{} ({}-bit)", h.format(), h.is64 ? 64 : 32));
  line("dump type", fmt::format("{} ({})", h.dump_type, format::dump_type_name(h.dump_type)));
  line("architecture",
       fmt::format("{} (MachineImageType {})", h.architecture(), hex_or_unset(h.machine_image_type)));
  line("version", fmt::format("{}.{}", dec_or_unset(h.major_version), dec_or_unset(h.minor_version)));
  line("processors", dec_or_unset(h.number_processors));
  line("directory table base", hex_or_unset(h.directory_table_base));
  line("pfn database", hex_or_unset(h.pfn_database));
  line("PsLoadedModuleList", hex_or_unset(h.ps_loaded_module_list));
  line("PsActiveProcessHead", hex_or_unset(h.ps_active_process_head));
  line("KdDebuggerDataBlock", hex_or_unset(h.kd_debugger_data_block));
  if (h.bugcheck_code) {
    auto name = format::bugcheck_name(*h.bugcheck_code);
    line("bugcheck", fmt::format("{:#x}{}{}", *h.bugcheck_code, name.empty() ? "" : " ", name));
  } else {
    line("bugcheck", "(not set)");
  }
  for (int i = 0; i < 4; ++i) {
    line(fmt::format("  parameter {}", i + 1).c_str(), hex_or_unset(h.bugcheck_parameters[i]));
  }
  line("required dump space", hex_or_unset(h.required_dump_space));
  line("system time", hex_or_unset(h.system_time));
  line("system up time", hex_or_unset(h.system_up_time));
  line("product type", dec_or_unset(h.product_type));
  line("suite mask", hex_or_unset(h.suite_mask));
  line("attributes", h.attributes ? fmt::format("{:#x} {}", *h.attributes,
                                                format::attribute_names(*h.attributes))
                                  : std::string("(not set)"));
  line("comment", h.comment ? *h.comment : std::string("(not set)"));
  if (!h.is64) {
    line("PAE enabled", h.pae_enabled ? (*h.pae_enabled ? "yes" : "no") : "(not set)");
  }
}

void header_json(const DumpFile& d, json& j) {
  const auto& h = d.header();
  j["format"] = std::string(h.format());
  j["dump_type"] = h.dump_type;
  j["dump_type_name"] = std::string(format::dump_type_name(h.dump_type));
  j["machine_image_type"] = num(h.machine_image_type);
  j["architecture"] = std::string(h.architecture());
  j["major_version"] = num(h.major_version);
  j["minor_version"] = num(h.minor_version);
  j["directory_table_base"] = num(h.directory_table_base);
  j["pfn_database"] = num(h.pfn_database);
  j["ps_loaded_module_list"] = num(h.ps_loaded_module_list);
  j["ps_active_process_head"] = num(h.ps_active_process_head);
  j["kd_debugger_data_block"] = num(h.kd_debugger_data_block);
  j["number_processors"] = num(h.number_processors);
  json params = json::array();
  for (const auto& p : h.bugcheck_parameters) params.push_back(num(p));
  json name = nullptr;
  if (h.bugcheck_code && !format::bugcheck_name(*h.bugcheck_code).empty()) {
    name = std::string(format::bugcheck_name(*h.bugcheck_code));
  }
  j["bugcheck"] = {{"code", num(h.bugcheck_code)}, {"name", name}, {"parameters", params}};
  j["required_dump_space"] = num(h.required_dump_space);
  j["system_time"] = num(h.system_time);
  j["system_up_time"] = num(h.system_up_time);
  j["product_type"] = num(h.product_type);
  j["suite_mask"] = num(h.suite_mask);
  j["comment"] = h.comment ? json(*h.comment) : json(nullptr);
  j["attributes"] = num(h.attributes);
  if (!h.is64) j["pae_enabled"] = h.pae_enabled ? json(*h.pae_enabled) : json(nullptr);
}

// --- memory map -----------------------------------------------------------------------------

void memory_text(const DumpFile& d) {
  std::cout << "physical memory\n";
  switch (d.layout()) {
    case MemoryLayout::none:
      line("layout", fmt::format("none: a {} dump stores no physical pages",
                                 format::dump_type_name(d.header().dump_type)));
      break;
    case MemoryLayout::runs:
    case MemoryLayout::ranges: {
      if (d.layout() == MemoryLayout::runs) {
        line("runs", fmt::format("{} (NumberOfPages {:#x} = {})", *d.number_of_runs(),
                                 *d.number_of_pages(), *d.number_of_pages()));
      } else {
        const auto& r = *d.rdmp();
        line("RDMP ranges", fmt::format("{}, {:#x} pages, first page at file offset {:#x}",
                                        r.number_of_ranges, r.total_pages, r.first_page_offset));
      }
      std::size_t i = 0;
      for (const auto& run : d.runs()) {
        std::cout << fmt::format(
            "    [{:>2}] pages {:#x}-{:#x} ({:#x} pages, {:#x}-{:#x}), file offset {:#x}\n", i++,
            run.base_page, run.base_page + run.page_count - (run.page_count ? 1 : 0),
            run.page_count, run.base_page * kPageSize, (run.base_page + run.page_count) * kPageSize,
            run.file_offset);
      }
      break;
    }
    case MemoryLayout::bitmap: {
      const auto& b = *d.bitmap();
      line("bitmap", fmt::format("'{}' {}", std::string(reinterpret_cast<const char*>(&b.signature), 4),
                                 b.legacy_summary ? "(legacy summary dump)" : ""));
      line("bitmap bits", fmt::format("{:#x} (PFNs 0-{:#x})", b.bitmap_bits,
                                      b.bitmap_bits ? b.bitmap_bits - 1 : 0));
      line("present pages", fmt::format("{:#x} ({})", b.present_pages, b.present_pages));
      line("first page", fmt::format("file offset {:#x}", b.first_page_offset));
      break;
    }
  }
  if (const auto& t = d.truncated()) {
    line("TRUNCATED",
         fmt::format("the file is {:#x} bytes but its pages need {:#x}: {:#x} pages are in the "
                     "file; the first missing page is PFN {:#x} (file offset {:#x})",
                     t->file_size, t->expected_size, t->pages_in_file, t->first_missing_page,
                     t->first_missing_offset));
  }
}

void memory_json(const DumpFile& d, json& j) {
  if (d.layout() == MemoryLayout::runs) {
    json runs = json::array();
    for (const auto& r : d.runs()) {
      runs.push_back({{"base_page", r.base_page}, {"page_count", r.page_count}});
    }
    j["physical_memory"] = {{"number_of_runs", *d.number_of_runs()},
                            {"number_of_pages", *d.number_of_pages()},
                            {"runs", runs}};
  }
  if (const auto& b = d.bitmap()) {
    j["bitmap"] = {{"signature", std::string(reinterpret_cast<const char*>(&b->signature), 4)},
                   {"first_page_offset", b->first_page_offset},
                   {"present_pages", b->present_pages},
                   {"bitmap_bits", b->bitmap_bits},
                   {"legacy_summary", b->legacy_summary}};
  }
  if (const auto& r = d.rdmp()) {
    json ranges = json::array();
    for (const auto& run : d.runs()) {
      ranges.push_back({{"base_page", run.base_page}, {"page_count", run.page_count}});
    }
    j["rdmp"] = {{"metadata_size", r->metadata_size},
                 {"first_page_offset", r->first_page_offset},
                 {"number_of_ranges", r->number_of_ranges},
                 {"total_pages", r->total_pages},
                 {"ranges", ranges}};
  }
  if (const auto& t = d.truncated()) {
    j["truncated"] = {{"file_size", t->file_size},
                      {"expected_size", t->expected_size},
                      {"pages_in_file", t->pages_in_file},
                      {"first_missing_page", t->first_missing_page},
                      {"first_missing_offset", t->first_missing_offset}};
  } else {
    j["truncated"] = nullptr;
  }
}

// --- context --------------------------------------------------------------------------------

void context_section_text(const DumpFile& d) {
  std::cout << "context (header)\n";
  auto regs = d.context_registers();
  if (regs.empty()) {
    line("registers", "(unknown architecture: not decoded)");
    return;
  }
  for (const auto& [name, value] : regs) {
    if (name == "context_flags") line("context flags", fmt::format("{:#x}", value));
  }
  const int width = d.header().is64 ? 16 : 8;
  std::string row;
  int n = 0;
  for (const auto& [name, value] : regs) {
    if (name == "context_flags") continue;  // printed above the grid
    row += fmt::format(" {:>6}={:0{}x}", name, value, width);
    if (++n % 4 == 0) {
      std::cout << "  " << row << '\n';
      row.clear();
    }
  }
  if (!row.empty()) std::cout << "  " << row << '\n';
}

void context_section_json(const DumpFile& d, json& j) {
  auto regs = d.context_registers();
  if (regs.empty()) {
    j["context"] = nullptr;
    return;
  }
  json c = json::object();
  for (const auto& [name, value] : regs) c[name] = value;
  j["context"] = c;
}

// --- exception ------------------------------------------------------------------------------

void exception_text(const DumpFile& d) {
  const auto& e = d.exception();
  std::cout << "exception (header)\n";
  line("code", hex_or_unset(e.code));
  line("flags", hex_or_unset(e.flags));
  line("address", hex_or_unset(e.address));
  std::string params;
  for (auto p : e.parameters) params += fmt::format("{}{:#x}", params.empty() ? "" : " ", p);
  line("parameters", params.empty() ? std::string("(none)") : params);
}

void exception_json(const DumpFile& d, json& j) {
  const auto& e = d.exception();
  j["exception"] = {{"code", num(e.code)},
                    {"flags", num(e.flags)},
                    {"address", num(e.address)},
                    {"parameters", e.parameters}};
}

// --- triage sections -----------------------------------------------------------------------

bool is_triage(const DumpFile& d) {
  return d.header().dump_type == static_cast<std::uint32_t>(format::DumpType::triage);
}

// A malformed triage body does not hide the header: the section reports its error and the
// command exits 1 once everything else is shown.
std::string g_section_error;

void triage_text(const DumpFile& d) {
  if (!is_triage(d)) return;
  try {
    auto t = TriageDump::parse(d.file(), d.header().is64, d.header_bytes());
    print_triage_text(std::cout, t);
  } catch (const Error& e) {
    std::cout << "triage sections\n";
    line("error", e.what());
    g_section_error = e.what();
  }
}

void triage_json_section(const DumpFile& d, json& j) {
  if (!is_triage(d)) return;
  try {
    auto t = TriageDump::parse(d.file(), d.header().is64, d.header_bytes());
    j["triage"] = triage_json(t);
  } catch (const Error& e) {
    j["triage"] = {{"error", e.what()}};
    g_section_error = e.what();
  }
}

// --- processors (as WinDbg shows them) -------------------------------------------------------

json registers_json(const DumpFile& d, std::span<const std::byte> ctx) {
  auto arch = d.context_arch();
  if (!arch || ctx.size() < format::context_size(*arch)) return nullptr;
  json c = json::object();
  for (const auto& [name, value] : format::context_registers(*arch, ctx)) c[name] = value;
  return c;
}

void cpus_text(const DumpFile& d) {
  auto p = dump_processors(d);
  std::cout << "processors (through KiProcessorBlock, as a debugger shows them)\n";
  for (const auto& c : p.cpus) {
    std::string regs;
    if (auto arch = d.context_arch(); arch && !c.context.empty()) {
      for (const auto& [name, value] : format::context_registers(*arch, c.context)) {
        if (name == "rip" || name == "rsp" || name == "eip" || name == "esp" || name == "pc" ||
            name == "sp") {
          regs += fmt::format(" {} {:#x}", name, value);
        }
      }
    }
    line(fmt::format("cpu {}", c.index).c_str(),
         fmt::format("KPRCB {:#x}{} ({})", c.prcb, regs, c.source.empty() ? "no context" : c.source));
  }
  for (const auto& n : p.notes) line("note", n);
}

void cpus_json(const DumpFile& d, json& j) {
  auto p = dump_processors(d);
  json cpus = json::array();
  for (const auto& c : p.cpus) {
    cpus.push_back(json{{"index", c.index},
                        {"prcb", c.prcb},
                        {"context_address", c.context_va},
                        {"context_source", c.source},
                        {"context", registers_json(d, c.context)}});
  }
  j["cpus"] = cpus;
  j["cpus_notes"] = p.notes;
}

struct Section {
  void (*text)(const DumpFile&);
  void (*to_json)(const DumpFile&, json&);
};
constexpr Section kSections[] = {
    {header_text, header_json},
    {memory_text, memory_json},
    {context_section_text, context_section_json},
    {exception_text, exception_json},
    {triage_text, triage_json_section},
    {cpus_text, cpus_json},
};

}  // namespace

void register_info(Registry& r) {
  struct Options {
    std::string file;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = r.app.add_subcommand("info", "Show what a kernel dump's header and memory map say");
  cmd->add_option("FILE", opts->file, "Kernel dump file (PAGEDU64 / PAGEDUMP)")->required();
  cmd->add_flag("--json", opts->json, "Print JSON (integers as numbers, unset fields null)");
  r.add(cmd, [opts] {
    auto dump = DumpFile::open(opts->file);
    if (opts->json) {
      json j = json::object();
      for (const auto& s : kSections) s.to_json(*dump, j);
      print_json(j);
    } else {
      bool first = true;
      for (const auto& s : kSections) {
        if (!first) std::cout << '\n';
        first = false;
        s.text(*dump);
      }
    }
    if (!g_section_error.empty()) {
      std::cerr << "pagedump: error: " << g_section_error << '\n';
      return kBadInput;
    }
    return kSuccess;
  });
}

}  // namespace pagedump::cli
