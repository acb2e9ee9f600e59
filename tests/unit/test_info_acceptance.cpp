// The foundation's acceptance values through the command line: `info --json` on the real
// triage dump (header, contexts, crashing processor, triage sections) and `read --va` on it
// and on a complete dump pagedump wrote, whose page tables the reader walks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pagedump/synth/guest.h"
#include "pagedump/discovery/system.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/dump_processors.h"
#include "pagedump/reader/virtual_view.h"
#include "pagedump/writer/complete_dump.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using pagedump::test::cli_path;
using pagedump::test::run_command;
using pagedump::test::TempDir;

namespace {

nlohmann::json info_json(const std::filesystem::path& p) {
  auto r = run_command(std::string(cli_path()) + " info --json '" + p.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST(InfoAcceptance, RealTriageDump) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto j = info_json(path);
  EXPECT_EQ(j["format"], "PAGEDU64");
  EXPECT_EQ(j["dump_type"], 4);
  EXPECT_EQ(j["minor_version"], 19041);
  EXPECT_EQ(j["major_version"], 0xF);
  EXPECT_EQ(j["machine_image_type"], 0x8664);
  EXPECT_EQ(j["architecture"], "x64");
  EXPECT_EQ(j["number_processors"], 16);
  EXPECT_EQ(j["directory_table_base"], 0x1ad000u);
  EXPECT_EQ(j["pfn_database"], 0xfffff8047c6fc500u);
  EXPECT_EQ(j["ps_loaded_module_list"], 0xfffff8047c62a390u);
  EXPECT_EQ(j["ps_active_process_head"], 0xfffff8047c61e200u);
  EXPECT_EQ(j["kd_debugger_data_block"], 0xfffff8047c600b20u);
  EXPECT_EQ(j["bugcheck"]["code"], 0x1000007Eu);
  EXPECT_EQ(j["bugcheck"]["name"], "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M");
  EXPECT_EQ(j["bugcheck"]["parameters"],
            nlohmann::json::array({0xffffffffc0000005u, 0xfffff8048b58334cu,
                                   0xffff850429891ee8u, 0xffff850429891720u}));
  EXPECT_EQ(j["product_type"], 1);
  EXPECT_EQ(j["suite_mask"], 0x110);
  // The header context is the faulting one...
  EXPECT_EQ(j["context"]["rip"], 0xfffff8048b58334cu);
  EXPECT_EQ(j["context"]["rsp"], 0xffff850429892120u);
  EXPECT_EQ(j["context"]["rax"], 0xffffc08be4da6240u);
  EXPECT_EQ(j["context"]["mxcsr"], 0x1f80u);
  EXPECT_EQ(j["context"]["context_flags"], 0x10001fu);
  EXPECT_EQ(j["exception"]["code"], 0x80000003u);
  EXPECT_EQ(j["exception"]["address"], 0xfffff8047bdf5a80u);
  // ...and the crashing processor, as WinDbg shows it, is in KeBugCheckEx.
  ASSERT_EQ(j["cpus"].size(), 1u);
  const auto& c = j["cpus"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["prcb"], 0xfffff804782d4180u);
  EXPECT_EQ(c["context"]["rip"], 0xfffff8047bdf5a80u);
  EXPECT_EQ(c["context"]["rsp"], 0xffff850429890ee8u);
  EXPECT_EQ(c["context"]["rcx"], 0x7eu);
  EXPECT_EQ(c["context"]["rbx"], 0xfffff8047ba82b68u);
  EXPECT_EQ(c["context"]["r15"], 0xfffff8047ba00000u);
  const auto& t = j["triage"];
  EXPECT_EQ(t["driver_count"], 0x97);
  EXPECT_EQ(t["drivers"][0]["name"], "ntoskrnl.exe");
  EXPECT_EQ(t["drivers"][0]["base"], 0xfffff8047ba00000u);
  EXPECT_EQ(t["drivers"][1]["name"], "hal.dll");
  EXPECT_EQ(t["data_block_count"], 0x727);
  EXPECT_EQ(t["top_of_stack"], 0xffff850429890ee8u);
  EXPECT_EQ(t["size_of_call_stack"], 0x2118);
  EXPECT_EQ(t["debugger_data_size"], 0x380);

  auto r = run_command(std::string(cli_path()) + " read '" + path.string() +
                       "' --va 0xfffff8047c600b30 --length 4 --raw");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "KDBG");
  // A VA the small dump does not carry.
  r = run_command(std::string(cli_path()) + " read '" + path.string() +
                  "' --va 0xfffff80000000000 --length 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("virtual address 0xfffff80000000000 is not mapped"), std::string::npos)
      << r.err;
}

TEST(InfoAcceptance, TruncatedFullDumpVirtualReadSaysTruncated) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19045-x64-full-first16k.dmp");
  auto r = run_command(std::string(cli_path()) + " read '" + path.string() +
                       "' --va 0xfffff78000000000 --length 8");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

// A complete dump written from a synthetic guest: virtual reads walk its page tables, and the
// processors section finds every CONTEXT through KiProcessorBlock.
TEST(InfoAcceptance, CompleteDumpVirtualViewAndProcessors) {
  TempDir dir;
  pagedump::synth::GuestSpec spec;
  spec.ram_mib = 256;
  auto guest = pagedump::synth::build_guest(spec);
  auto sys = discover_system(guest);
  CompleteDumpOptions o;
  o.output = (dir / "g.dmp").string();
  o.quiet = true;
  write_complete_dump(guest, sys, o);
  auto dump = DumpFile::open(o.output);
  auto vm = open_virtual_view(*dump);
  std::array<char, 4> tag{};
  ASSERT_TRUE(vm->read_virtual(guest.truth.kdbg_va + 0x10, std::as_writable_bytes(std::span(tag))));
  EXPECT_EQ(std::string(tag.data(), 4), "KDBG");
  auto procs = dump_processors(*dump);
  EXPECT_TRUE(procs.notes.empty());
  ASSERT_EQ(procs.cpus.size(), guest.truth.cpus.size());
  for (std::size_t i = 0; i < procs.cpus.size(); ++i) {
    EXPECT_EQ(procs.cpus[i].prcb, guest.truth.cpus[i].prcb);
    EXPECT_EQ(procs.cpus[i].context_va, guest.truth.cpus[i].context);
    std::uint64_t rip = 0;
    std::memcpy(&rip, procs.cpus[i].context.data() + 0xF8, 8);
    EXPECT_EQ(rip, guest.truth.cpus[i].rip);
  }
  auto j = info_json(o.output);
  EXPECT_EQ(j["cpus"].size(), guest.truth.cpus.size());
  EXPECT_EQ(j["cpus"][1]["context"]["rip"], guest.truth.cpus[1].rip);
}
