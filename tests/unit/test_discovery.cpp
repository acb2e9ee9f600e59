// Kernel discovery against synthetic Windows guests whose ground truth is exact.
#include <gtest/gtest.h>

#include "pagedump/synth/guest.h"
#include "pagedump/context_record.h"
#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "support/samples.h"

using namespace pagedump;
using pagedump::synth::build_guest;
using pagedump::synth::GuestArch;
using pagedump::synth::GuestSpec;

namespace {

std::string describe(const GuestSpec& s) {
  return std::string(s.arch == GuestArch::x64 ? "x64" : "x86-pae") +
         (s.kdbg_encoded ? " encoded" : " plain") + (s.low_stub ? " lowstub" : "") +
         (s.cpu_state ? " cpus" : "") + (s.pcid ? " pcid" : "") + (s.crashed ? " crashed" : "") +
         (s.many_runs ? " many-runs" : "") + " seed " + std::to_string(s.seed);
}

void expect_ground_truth(const GuestSpec& spec) {
  SCOPED_TRACE(describe(spec));
  auto guest = build_guest(spec);
  const auto& t = guest.truth;
  DiscoveredSystem s;
  try {
    s = discover_system(guest);
  } catch (const Error& e) {
    FAIL() << e.what();
  }
  const bool x64 = t.arch == GuestArch::x64;
  EXPECT_EQ(s.architecture, x64 ? Architecture::x64 : Architecture::x86);
  EXPECT_EQ(s.directory_table_base, t.dtb);
  EXPECT_EQ(s.kernel_base, t.kernel_base);
  EXPECT_EQ(s.kernel_size, t.kernel_size);
  EXPECT_EQ(s.kernel_pdb.name, t.pdb_name);
  EXPECT_EQ(s.kernel_pdb.guid, t.pdb_guid);
  EXPECT_EQ(s.kernel_pdb.age, t.pdb_age);
  EXPECT_EQ(s.kdbg_va, t.kdbg_va);
  EXPECT_EQ(s.kdbg_encoded, t.kdbg_encoded);
  EXPECT_EQ(s.kdbg.Header.Size, t.kdbg_size);
  ASSERT_EQ(s.kdbg_block.size(), t.kdbg_plain.size());
  EXPECT_TRUE(s.kdbg_block == t.kdbg_plain);
  if (t.kdbg_encoded) {
    ASSERT_TRUE(s.kdbg_keys.has_value());
    EXPECT_EQ(s.kdbg_keys->wait_never, t.keys.wait_never);
    EXPECT_EQ(s.kdbg_keys->wait_always, t.keys.wait_always);
    EXPECT_EQ(s.kdbg_keys->encoded_flag_va, t.keys.encoded_flag_va);
  }
  EXPECT_EQ(s.build, t.build);
  EXPECT_EQ(s.major_version, 0xFu);
  EXPECT_EQ(s.machine_image_type, t.machine);
  EXPECT_EQ(s.version_block_va.value_or(0), t.version_block_va);
  EXPECT_EQ(s.kdbg.PsLoadedModuleList & (x64 ? ~0ull : 0xFFFFFFFFull), t.ps_loaded_module_list);
  EXPECT_EQ(s.kdbg.PsActiveProcessHead & (x64 ? ~0ull : 0xFFFFFFFFull), t.ps_active_process_head);
  EXPECT_EQ(s.kdbg.MmPfnDatabase & (x64 ? ~0ull : 0xFFFFFFFFull), t.mm_pfn_database_va);
  EXPECT_EQ(s.product_type, t.nt_product_type);
  EXPECT_EQ(s.suite_mask, t.suite_mask);
  EXPECT_EQ(s.system_time, t.system_time);
  EXPECT_EQ(s.interrupt_time, t.interrupt_time);

  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  for (const auto& r : t.memory_map) runs.emplace_back(r.base / kPageSize, r.size / kPageSize);
  EXPECT_EQ(s.physical_memory_runs, runs);

  ASSERT_EQ(s.cpus.size(), t.cpus.size());
  const CpuArch arch = x64 ? CpuArch::x64 : CpuArch::x86;
  for (std::size_t i = 0; i < t.cpus.size(); ++i) {
    SCOPED_TRACE("cpu " + std::to_string(i));
    EXPECT_EQ(s.cpus[i].prcb, t.cpus[i].prcb);
    EXPECT_EQ(s.cpus[i].context_va, t.cpus[i].context);
    EXPECT_EQ(context_instruction_pointer(arch, s.cpus[i].context), t.cpus[i].rip);
    EXPECT_EQ(context_stack_pointer(arch, s.cpus[i].context), t.cpus[i].rsp);
    EXPECT_EQ(s.cpus[i].context_source.rfind(spec.cpu_state ? "captured" : "memory", 0), 0u)
        << s.cpus[i].context_source;
  }
  if (t.bugcheck_code) {
    ASSERT_TRUE(s.bugcheck.has_value());
    EXPECT_EQ(s.bugcheck->code, t.bugcheck_code);
    EXPECT_EQ(s.bugcheck->parameters, t.bugcheck_parameters);
  } else {
    EXPECT_FALSE(s.bugcheck.has_value());
  }
  ASSERT_EQ(s.modules.size(), t.modules.size());
  for (std::size_t i = 0; i < t.modules.size(); ++i) {
    EXPECT_EQ(s.modules[i].name, t.modules[i].base_name);
    EXPECT_EQ(s.modules[i].path, t.modules[i].full_name);
    EXPECT_EQ(s.modules[i].base, t.modules[i].base);
    EXPECT_EQ(s.modules[i].size, t.modules[i].size);
  }
  ASSERT_EQ(s.processes.size(), t.processes.size());
  for (std::size_t i = 0; i < t.processes.size(); ++i) {
    EXPECT_EQ(s.processes[i].pid, t.processes[i].pid);
    EXPECT_EQ(s.processes[i].name, t.processes[i].name);
    EXPECT_EQ(s.processes[i].eprocess, t.processes[i].eprocess);
    EXPECT_EQ(s.processes[i].directory_table_base & ~0xFFFull, t.processes[i].dtb & ~0xFFFull);
  }
}

}  // namespace

TEST(Discovery, X64EncodedKdbgWithLowStubAndCpus) { expect_ground_truth({}); }

TEST(Discovery, X64PlainKdbg) {
  GuestSpec s;
  s.kdbg_encoded = false;
  expect_ground_truth(s);
}

TEST(Discovery, X64EncodedWithoutLowStubOrCpus) {
  GuestSpec s;
  s.low_stub = false;
  s.cpu_state = false;
  s.seed = 7;
  expect_ground_truth(s);
}

TEST(Discovery, X64PlainWithoutLowStubOrCpus) {
  GuestSpec s;
  s.kdbg_encoded = false;
  s.low_stub = false;
  s.cpu_state = false;
  s.seed = 11;
  expect_ground_truth(s);
}

TEST(Discovery, X64CpusOnlyWithPcidCrashed) {
  GuestSpec s;
  s.low_stub = false;
  s.pcid = true;
  s.crashed = true;
  s.seed = 3;
  expect_ground_truth(s);
}

TEST(Discovery, X64ManyRuns) {
  GuestSpec s;
  s.many_runs = true;
  s.seed = 5;
  expect_ground_truth(s);
}

TEST(Discovery, X86Pae) {
  GuestSpec s;
  s.arch = GuestArch::x86_pae;
  s.kdbg_encoded = false;
  s.low_stub = false;
  expect_ground_truth(s);
}

TEST(Discovery, X86PaeWithoutCpus) {
  GuestSpec s;
  s.arch = GuestArch::x86_pae;
  s.kdbg_encoded = false;
  s.low_stub = false;
  s.cpu_state = false;
  expect_ground_truth(s);
}

TEST(Discovery, X64FromTheRealSample) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  GuestSpec s;
  s.sample = path;
  expect_ground_truth(s);
}
