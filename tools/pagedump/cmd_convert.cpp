// pagedump header / attach / convert: KeInitializeCrashDumpHeader ahead of time, the capture
// step that appends memory to it, and both in one.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "convert_result.h"
#include "convert_small.h"
#include "image_options.h"
#include "pagedump/crashdump_header.h"
#include "pagedump/error.h"
#include "pagedump/io/input_file.h"
#include "pagedump/io/output_file.h"
#include "pagedump/sources/vmware_image.h"
#include "pagedump/writer/complete_dump.h"
#include "pagedump/writer/kernel_dump.h"

namespace pagedump::cli {
namespace {

struct WriteArgs {
  ImageArgs image;
  std::string output;
  std::string header;
  std::string type = "full";
  std::string bugcheck;
  std::uint64_t buffer_size = 0;
  std::optional<std::uint64_t> include_process;
  bool force = false;
  bool json = false;
  bool quiet = false;
  bool no_sync = false;
};

std::string status_name(PAGEDUMP_NTSTATUS s) {
  switch (s) {
    case PAGEDUMP_STATUS_SUCCESS: return "STATUS_SUCCESS";
    case PAGEDUMP_STATUS_INVALID_PARAMETER: return "STATUS_INVALID_PARAMETER";
    case PAGEDUMP_STATUS_BUFFER_TOO_SMALL: return "STATUS_BUFFER_TOO_SMALL";
    case PAGEDUMP_STATUS_NOT_SUPPORTED: return "STATUS_NOT_SUPPORTED";
    default: return "STATUS_UNSUCCESSFUL";
  }
}

CompleteDumpOptions dump_options(const WriteArgs& a, const OpenedImage& o) {
  CompleteDumpOptions opts;
  opts.output = a.output;
  opts.force = a.force;
  opts.quiet = a.quiet || a.json;
  opts.sync = !a.no_sync;
  opts.bugcheck = parse_bugcheck(a.bugcheck);
  opts.source_format = std::string(o.image->format_name());
  if (a.type == "bitmap") {
    opts.layout = CompleteDumpLayout::bitmap;
    opts.omit_zero_pages = true;
  }
  return opts;
}

KernelDumpOptions kernel_options(const WriteArgs& a, const OpenedImage& o) {
  KernelDumpOptions opts;
  opts.output = a.output;
  opts.force = a.force;
  opts.quiet = a.quiet || a.json;
  opts.sync = !a.no_sync;
  opts.bugcheck = parse_bugcheck(a.bugcheck);
  opts.source_format = std::string(o.image->format_name());
  opts.include_process = a.include_process;
  return opts;
}

// Refuses, before anything is read or written, an output that is one of the command's inputs
// (the image, its memory map or VMware companion files, the header).
void check_output_is_not_an_input(const WriteArgs& a) {
  std::vector<std::string> inputs = {a.image.path, a.image.memory_map, a.header};
  if (!a.image.path.empty()) {
    if (auto state = find_vmware_state_for(a.image.path)) inputs.push_back(*state);
    inputs.push_back(std::filesystem::path(a.image.path).replace_extension(".vmem").string());
  }
  refuse_output_over_input(a.output, inputs);
}

void add_output_options(CLI::App* cmd, WriteArgs& a) {
  cmd->add_option("-o,--output", a.output, "Dump file to write");
  cmd->add_flag("--force", a.force, "Replace an existing output file");
  cmd->add_flag("--json", a.json, "Print the result as JSON");
  cmd->add_flag("-q,--quiet", a.quiet, "No progress line");
  cmd->add_flag("--no-sync", a.no_sync,
                "Do not wait for the dump to reach the disk before naming it (as fast as cp; a "
                "power loss soon after may leave it partly written). Small dumps always sync");
  cmd->add_option("--bugcheck", a.bugcheck,
                  "Bugcheck CODE[,P1,P2,P3,P4] (default: the machine's own, else 0xE2)");
}

}  // namespace

void register_header(Registry& r) {
  auto a = std::make_shared<WriteArgs>();
  auto* cmd = r.app.add_subcommand(
      "header", "KeInitializeCrashDumpHeader: build a complete dump's header ahead of time");
  add_image_options(cmd, a->image);
  cmd->add_option("-o,--output", a->output, "Header file to write")->required();
  cmd->add_option("--buffer-size", a->buffer_size,
                  "BufferSize passed to the routine (default: the size it needs)");
  cmd->add_flag("--force", a->force, "Replace an existing output file");
  cmd->add_flag("--json", a->json, "Print status and size as JSON");
  r.add(cmd, [a] {
    check_output_is_not_an_input(*a);
    auto o = open_and_discover(a->image);
    const std::uint32_t size = crash_dump_header_size(o.system);
    const std::uint64_t requested = a->buffer_size ? a->buffer_size : size;
    std::vector<std::byte> buffer(std::min<std::uint64_t>(requested, 0x10000));
    std::uint32_t needed = 0;
    auto status = ke_initialize_crash_dump_header(
        o.system, PAGEDUMP_DUMP_TYPE_FULL, 0, buffer.data(),
        static_cast<std::uint32_t>(std::min<std::uint64_t>(requested, 0xFFFFFFFFull)), &needed);
    if (status == PAGEDUMP_STATUS_SUCCESS) {
      OutputFile out(a->output, a->force);
      out.write_at(0, std::span(buffer).first(needed));
      out.commit();
    }
    if (a->json) {
      print_json({{"status", static_cast<std::uint32_t>(status)},
                  {"status_name", status_name(status)},
                  {"buffer_needed", needed},
                  {"output", status == PAGEDUMP_STATUS_SUCCESS ? nlohmann::json(a->output)
                                                               : nlohmann::json(nullptr)}});
    } else {
      std::cout << fmt::format("{} ({:#010x}), BufferNeeded {:#x}\n", status_name(status),
                               static_cast<std::uint32_t>(status), needed);
      if (status == PAGEDUMP_STATUS_SUCCESS) std::cout << "wrote " << a->output << '\n';
    }
    return status == PAGEDUMP_STATUS_SUCCESS ? kSuccess : kBadInput;
  });
}

void register_attach(Registry& r) {
  auto a = std::make_shared<WriteArgs>();
  auto* cmd = r.app.add_subcommand(
      "attach", "Append a memory image to a header made earlier by `pagedump header`");
  add_image_options(cmd, a->image);
  cmd->add_option("--header", a->header, "Header file from `pagedump header`")->required();
  add_output_options(cmd, *a);
  r.add(cmd, [a] {
    if (a->output.empty()) throw Error(ErrorKind::usage, "--output is required");
    check_output_is_not_an_input(*a);
    auto o = open_and_discover(a->image);
    InputFile header_file(a->header);
    std::vector<std::byte> header(
        std::min<std::uint64_t>(header_file.size(), crash_dump_header_size(o.system)));
    header_file.read_exact(0, header, "the header");
    auto result = attach_complete_dump(*o.image, o.system, header, dump_options(*a, o));
    print_write_result(result, a->json);
    return kSuccess;
  });
}

void register_convert(Registry& r) {
  auto a = std::make_shared<WriteArgs>();
  auto small = std::make_shared<SmallArgs>();
  auto* cmd = r.app.add_subcommand("convert", "Write a crash dump of a memory image");
  add_image_options(cmd, a->image);
  add_output_options(cmd, *a);
  small->type_option =
      cmd->add_option("--type", a->type,
                      "full: complete dump (runs, or bitmap when they do not fit); bitmap: full "
                      "bitmap dump leaving out zero pages (not those of each processor's KPRCB, "
                      "thread, process and stack page); kernel: kernel memory dump (bitmap, "
                      "DumpType 6) without the processes' private memory; small: small memory "
                      "dump (triage)")
          ->check(CLI::IsMember({"full", "bitmap", "kernel", "small"}));
  cmd->add_option("--include-process", a->include_process,
                  "With --type kernel: add this process's user pages (an active kernel dump)");
  add_small_options(cmd, *small);
  r.add(cmd, [a, small]() -> int {
    if (a->include_process && a->type != "kernel") {
      throw Error(ErrorKind::usage, "--include-process needs --type kernel");
    }
    if (!a->output.empty()) check_output_is_not_an_input(*a);
    if (wants_small_dump(a->type, *small)) {
      auto o = open_and_discover(a->image);
      return run_convert_small(o, *small, a->output, a->force, a->json, a->quiet, a->bugcheck);
    }
    if (a->output.empty()) throw Error(ErrorKind::usage, "--output is required");
    auto o = open_and_discover(a->image);
    const DumpWriteResult result =
        a->type == "kernel" ? write_kernel_dump(*o.image, o.system, kernel_options(*a, o))
                            : write_complete_dump(*o.image, o.system, dump_options(*a, o));
    print_write_result(result, a->json);
    return kSuccess;
  });
}

}  // namespace pagedump::cli
