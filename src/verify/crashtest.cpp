#include "pagedump/verify/crashtest.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/io/output_file.h"
#include "pagedump/writer/kernel_dump.h"
#include "pagedump/writer/small_dump.h"

namespace pagedump::verify {
namespace {

constexpr std::uint64_t kPage = 0x1000;

DumpWriteResult write_complete(const PhysicalMemory& image, const DiscoveredSystem& system,
                               const CrashtestWriteRequest& request) {
  CompleteDumpOptions o;
  o.output = request.output;
  o.force = true;
  o.quiet = request.quiet;
  o.bugcheck = request.bugcheck;
  o.source_format = request.source_format;
  return write_complete_dump(image, system, o);
}

DumpWriteResult write_kernel(const PhysicalMemory& image, const DiscoveredSystem& system,
                             const CrashtestWriteRequest& request) {
  KernelDumpOptions o;
  o.output = request.output;
  o.force = true;
  o.quiet = request.quiet;
  o.bugcheck = request.bugcheck;
  o.source_format = request.source_format;
  return write_kernel_dump(image, system, o);
}

DumpWriteResult write_small(const PhysicalMemory& image, const DiscoveredSystem& system,
                            const CrashtestWriteRequest& request) {
  SmallDumpOptions o;
  o.output = request.output;
  o.force = true;
  o.quiet = request.quiet;
  o.bugcheck = request.bugcheck;
  o.source_format = request.source_format;
  return write_small_dump(image, system, o);
}

}  // namespace

std::string_view to_string(CrashtestResult r) noexcept {
  switch (r) {
    case CrashtestResult::pass: return "pass";
    case CrashtestResult::fail: return "fail";
    case CrashtestResult::not_available: return "not available";
  }
  return "?";
}

CrashtestWriters default_crashtest_writers() {
  CrashtestWriters w;
  w.complete = write_complete;
  w.kernel = write_kernel;
  w.small = write_small;
  return w;
}

std::optional<std::string> complete_dump_space_problem(const DiscoveredSystem& system, const std::string& output) {
  std::uint64_t pages = 0;
  for (const auto& [base, count] : system.physical_memory_runs) pages += count;
  const std::uint64_t header = system.architecture == Architecture::x64 ? format::kHeaderSize64 : format::kHeaderSize32;
  const std::uint64_t needed = pages * kPage + header;
  const std::uint64_t free = OutputFile::free_space(output);
  if (free >= needed) return std::nullopt;
  return fmt::format(
      "the dump file location cannot hold a complete memory dump: it needs the size of physical memory plus the "
      "header, {} bytes ({} + {}), and has {} bytes free",
      needed, pages * kPage, header, free);
}

std::vector<CrashtestRow> run_crashtest(const PhysicalMemory& image, const DiscoveredSystem& system,
                                        const CrashtestOptions& options, const CrashtestWriters& writers) {
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    throw Error(ErrorKind::io, fmt::format("{}: cannot create the output folder: {}", options.out_dir, ec.message()));
  }
  std::vector<CrashtestRow> rows;
  const std::pair<const char*, const CrashtestWriter*> types[] = {
      {"complete", &writers.complete}, {"kernel", &writers.kernel}, {"small", &writers.small}};
  for (const auto& [type, writer] : types) {
    CrashtestRow row;
    row.type = type;
    row.file = (std::filesystem::path(options.out_dir) / fmt::format("{}-{}.dmp", options.base_name, type)).string();
    if (!*writer) {
      row.result = CrashtestResult::not_available;
      row.first_failure = fmt::format("the {} dump writer is not available yet", type);
      rows.push_back(std::move(row));
      continue;
    }
    if (row.type == "complete") {
      if (auto problem = complete_dump_space_problem(system, row.file)) {
        row.first_failure = "space: " + *problem;
        rows.push_back(std::move(row));
        continue;
      }
    }
    try {
      CrashtestWriteRequest req;
      req.output = row.file;
      req.bugcheck.code = kCrashtestBugcheck;
      req.source_format = options.source_format;
      (*writer)(image, system, req);
    } catch (const Error& e) {
      row.first_failure = fmt::format("write: {}", e.what());
      rows.push_back(std::move(row));
      continue;
    }
    row.size = std::filesystem::file_size(row.file, ec);
    VerifyOptions vo;
    vo.expect_bugcheck = kCrashtestBugcheck;
    vo.symbols = options.symbols;
    row.report = verify_dump(row.file, vo);
    if (const Check* f = row.report->first_failure()) {
      row.first_failure = f->id + ": " + f->message;
    } else {
      row.result = CrashtestResult::pass;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace pagedump::verify
