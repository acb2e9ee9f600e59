// pagedump inspect: what kernel discovery finds in a memory image, and how.
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "image_options.h"
#include "pagedump/context_record.h"
#include "pagedump/format/bugcheck.h"

namespace pagedump::cli {
namespace {

struct InspectArgs {
  ImageArgs image;
  bool json = false;
  bool verbose = false;
};

std::string arch_name(Architecture a) { return a == Architecture::x64 ? "x64" : "x86"; }

nlohmann::json to_json(const OpenedImage& o) {
  const auto& s = o.system;
  nlohmann::json j;
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto& r : o.image->ranges()) ranges.push_back({{"base", r.base}, {"size", r.size}});
  j["source"] = {{"format", std::string(o.image->format_name())}, {"ranges", ranges}};
  j["architecture"] = arch_name(s.architecture);
  j["paging"] = std::string(to_string(s.paging));
  j["directory_table_base"] = s.directory_table_base;
  j["dtb_method"] = s.dtb_method;
  j["kernel_base"] = s.kernel_base;
  j["kernel_base_method"] = s.kernel_base_method;
  j["kernel_size"] = s.kernel_size;
  j["kernel_pdb"] = {{"name", s.kernel_pdb.name}, {"guid", s.kernel_pdb.guid},
                     {"age", s.kernel_pdb.age}};
  j["kdbg"] = {{"address", s.kdbg_va}, {"encoded", s.kdbg_encoded}, {"method", s.kdbg_method},
               {"size", s.kdbg.Header.Size}};
  j["build"] = s.build;
  j["major_version"] = s.major_version;
  j["version_method"] = s.version_method;
  j["machine_image_type"] = s.machine_image_type;
  j["number_processors"] = s.number_processors();
  j["ps_loaded_module_list"] = s.kdbg.PsLoadedModuleList;
  j["ps_active_process_head"] = s.kdbg.PsActiveProcessHead;
  j["mm_pfn_database"] = s.kdbg.MmPfnDatabase;
  j["product_type"] = s.product_type;
  j["suite_mask"] = s.suite_mask;
  j["system_time"] = s.system_time;
  j["interrupt_time"] = s.interrupt_time;
  if (s.architecture == Architecture::x86) j["pae_enabled"] = s.pae_enabled;
  nlohmann::json runs = nlohmann::json::array();
  for (auto [base, count] : s.physical_memory_runs) {
    runs.push_back({{"base_page", base}, {"page_count", count}});
  }
  j["physical_memory_runs"] = runs;
  j["physical_memory_notes"] = s.physical_memory_notes;
  nlohmann::json cpus = nlohmann::json::array();
  for (const auto& c : s.cpus) {
    cpus.push_back({{"index", c.index},
                    {"prcb", c.prcb},
                    {"context_source", c.context_source},
                    {"context", context_json(s, c.context)},
                    {"notes", c.notes}});
  }
  j["cpus"] = cpus;
  if (s.bugcheck) {
    j["bugcheck"] = {{"code", s.bugcheck->code},
                     {"name", std::string(format::bugcheck_name(s.bugcheck->code))},
                     {"parameters", s.bugcheck->parameters}};
  } else {
    j["bugcheck"] = nullptr;
  }
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& m : s.modules) {
    modules.push_back({{"name", m.name}, {"path", m.path}, {"base", m.base}, {"size", m.size},
                       {"checksum", m.checksum}, {"timestamp", m.timestamp}});
  }
  j["modules"] = modules;
  nlohmann::json processes = nlohmann::json::array();
  for (const auto& p : s.processes) {
    processes.push_back({{"pid", p.pid}, {"name", p.name},
                         {"directory_table_base", p.directory_table_base},
                         {"eprocess", p.eprocess}});
  }
  j["processes"] = processes;
  nlohmann::json unloaded = nlohmann::json::array();
  for (const auto& u : s.unloaded_drivers) {
    unloaded.push_back({{"name", u.name}, {"start", u.start}, {"end", u.end}});
  }
  j["unloaded_drivers"] = unloaded;
  j["bytes_read"] = s.bytes_read;
  return j;
}

void print_text(const OpenedImage& o, bool verbose) {
  const auto& s = o.system;
  auto& out = std::cout;
  out << fmt::format("source            {} ({} ranges, {} bytes)\n", o.image->format_name(),
                     o.image->ranges().size(), o.image->total_bytes());
  out << fmt::format("architecture      {} ({})\n", arch_name(s.architecture), to_string(s.paging));
  out << fmt::format("directory table   {:#x}  by {}\n", s.directory_table_base, s.dtb_method);
  out << fmt::format("kernel base       {:#x}  by {}\n", s.kernel_base, s.kernel_base_method);
  out << fmt::format("kernel symbols    {}/{}{:X}/{}\n", s.kernel_pdb.name, s.kernel_pdb.guid,
                     s.kernel_pdb.age, s.kernel_pdb.name);
  out << fmt::format("KDBG              {:#x}{}  by {}\n", s.kdbg_va,
                     s.kdbg_encoded ? " (encoded in memory)" : "", s.kdbg_method);
  out << fmt::format("version           build {}, {} ({})\n", s.build,
                     s.major_version == 0xC ? "checked" : "free", s.version_method);
  out << fmt::format("product / suite   {} / {:#x}\n", s.product_type, s.suite_mask);
  out << fmt::format("lists             PsLoadedModuleList {:#x}, PsActiveProcessHead {:#x}\n",
                     s.kdbg.PsLoadedModuleList, s.kdbg.PsActiveProcessHead);
  out << fmt::format("physical memory   {} runs from MmPhysicalMemoryBlock\n",
                     s.physical_memory_runs.size());
  for (const auto& n : s.physical_memory_notes) out << "  note: " << n << '\n';
  const CpuArch arch = s.architecture == Architecture::x64 ? CpuArch::x64 : CpuArch::x86;
  for (const auto& c : s.cpus) {
    out << fmt::format("cpu {:<3}           KPRCB {:#x}  ip {:#x}  sp {:#x}  ({})\n", c.index,
                       c.prcb, context_instruction_pointer(arch, c.context),
                       context_stack_pointer(arch, c.context), c.context_source);
    for (const auto& n : c.notes) out << "  note: " << n << '\n';
  }
  if (s.bugcheck) {
    out << fmt::format("bugcheck          {:#x} {} ({:#x}, {:#x}, {:#x}, {:#x})\n", s.bugcheck->code,
                       format::bugcheck_name(s.bugcheck->code), s.bugcheck->parameters[0],
                       s.bugcheck->parameters[1], s.bugcheck->parameters[2],
                       s.bugcheck->parameters[3]);
  } else {
    out << "bugcheck          none (the machine had not crashed)\n";
  }
  out << fmt::format("modules           {}\n", s.modules.size());
  for (const auto& m : s.modules) {
    out << fmt::format("  {:#018x} {:#010x} {}\n", m.base, m.size, m.path.empty() ? m.name : m.path);
  }
  out << fmt::format("processes         {}\n", s.processes.size());
  for (const auto& p : s.processes) {
    out << fmt::format("  {:>6} {:<16} DTB {:#x}  EPROCESS {:#x}\n", p.pid, p.name,
                       p.directory_table_base, p.eprocess);
  }
  if (verbose) {
    out << "how it was found:\n";
    for (const auto& line : s.log) out << "  " << line << '\n';
    out << fmt::format("bytes read from the image: {}\n", s.bytes_read);
  }
}

}  // namespace

void register_inspect(Registry& r) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = r.app.add_subcommand("inspect", "Find the Windows kernel in a memory image and "
                                              "show what was found and how");
  add_image_options(cmd, args->image);
  cmd->add_flag("--json", args->json, "One JSON object on stdout");
  cmd->add_flag("-v,--verbose", args->verbose,
                "Show every strategy tried and the bytes read from the image");
  r.add(cmd, [args] {
    auto opened = open_and_discover(args->image);
    if (args->json) {
      auto j = to_json(opened);
      if (args->verbose) j["log"] = opened.system.log;
      print_json(j);
    } else {
      print_text(opened, args->verbose);
    }
    return kSuccess;
  });
}

}  // namespace pagedump::cli
