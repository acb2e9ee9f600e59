// The synthetic Windows guest is self-consistent: everything its GroundTruth names can be
// found again by reading its memory through a small independent page-table walker, the
// project's KDBG decoder, the PE reader and Zydis.
#include <Zydis/Zydis.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "pagedump/synth/guest.h"
#include "guest_walker.h"
#include "pagedump/synth/kd_copy_data_block.h"
#include "pagedump/discovery/kdcopy_pattern.h"
#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/version_block.h"
#include "pagedump/pe/pe_image.h"
#include "support/temp_dir.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
using namespace pagedump::format;

namespace {

std::vector<std::byte> read_phys(const PhysicalMemory& pm, std::uint64_t pa, std::size_t n) {
  std::vector<std::byte> b(n);
  pm.read_physical_or_throw(pa, b);
  return b;
}

KdDebuggerData64 decoded_kdbg(const Guest& g) {
  auto block = read_phys(g, g.truth.kdbg_pa, g.truth.kdbg_size);
  if (g.truth.kdbg_encoded) kdbg_decode(block, g.truth.keys);
  return load_kdbg(block);
}

// Walks a LIST_ENTRY list from its head; returns the entries (not the head), at most `max`.
std::vector<std::uint64_t> walk_list(const Walker& w, std::uint64_t head, std::size_t max = 1000) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t e = w.ptr(head); e != head && out.size() < max; e = w.ptr(e)) out.push_back(e);
  return out;
}

GuestSpec x64_spec() {
  GuestSpec s;
  s.seed = 7;
  return s;
}

}  // namespace

TEST(Guest, SparseMemoryHoldsOnlyWrittenPages) {
  auto g = build_guest(x64_spec());
  // ~4 GiB of address space; the kernel's 2 MiB pages are not materialised page by page.
  EXPECT_LT(g.memory.pages().size(), 2000u);
  EXPECT_EQ(g.format_name(), "synthetic");
  ASSERT_EQ(g.ranges().size(), 3u);
  EXPECT_EQ(g.ranges()[0], (PhysicalRange{0x1000, 0x9E000}));
  std::array<std::byte, 8> b{};
  auto r = g.read_physical(0xA0000, b);  // a hole of the map
  EXPECT_EQ(r.status, ReadStatus::not_present);
  EXPECT_EQ(r.address, 0xA0000u);
  EXPECT_TRUE(g.read_physical(0xBFE00000, b));  // RAM never written: zeros, present
  EXPECT_EQ(b, (std::array<std::byte, 8>{}));
}

TEST(Guest, X64PageTablesMapKernelWithLargePagesAndKuserWith4K) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  EXPECT_EQ(t.dtb, 0x1ad000u);
  EXPECT_EQ(w.translate(t.kernel_base), t.kernel_pa);
  EXPECT_TRUE(w.last_large_);
  EXPECT_EQ(w.translate(t.kernel_base + 0xC00B20), t.kernel_pa + 0xC00B20);
  EXPECT_EQ(w.translate(t.kuser_va), t.kuser_pa);
  EXPECT_FALSE(w.last_large_);
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x260), 19041u);  // NtBuildNumber
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x264), 1u);      // NtProductType
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x26C), 10u);     // NtMajorVersion
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x270), 0u);      // NtMinorVersion
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x2D0), 0x110u);  // SuiteMask
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x14), static_cast<std::uint32_t>(t.system_time));
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x18),
            static_cast<std::uint32_t>(t.system_time >> 32));
  EXPECT_EQ(w.get<std::uint32_t>(t.kuser_va + 0x8), static_cast<std::uint32_t>(t.interrupt_time));
}

// The System PML4 has the shape PML4 scans look for (§6.6): a self-reference in the upper
// half, at least 6 supervisor entries there, and more than 64 empty entries in each half.
TEST(Guest, X64Pml4HasTheShapeOfAWindowsPml4) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  int supervisor = 0, zero_low = 0, zero_high = 0, self = 0;
  for (std::uint64_t i = 0; i < 512; ++i) {
    auto e = g.memory.get<std::uint64_t>(t.dtb + 8 * i);
    if (e == 0) (i < 256 ? zero_low : zero_high)++;
    if (i >= 256 && (e & 0x8000000000000087ull) == 3) ++supervisor;
    if ((e & 0x0000FFFFFFFFF083ull) == (t.dtb | 3)) ++self;
  }
  EXPECT_GE(supervisor, 6);
  EXPECT_GT(zero_low, 64);
  EXPECT_GT(zero_high, 64);
  EXPECT_EQ(self, 1);
}

TEST(Guest, X64SelfMapIsRandomisedAndMatchesPteBase) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  EXPECT_GE(t.self_map_index, 0x100u);
  EXPECT_LE(t.self_map_index, 0x1FFu);
  EXPECT_EQ(t.pte_base, 0xFFFF000000000000ull | (std::uint64_t(t.self_map_index) << 39));
  auto pml4e = g.memory.get<std::uint64_t>(t.dtb + t.self_map_index * 8);
  EXPECT_EQ(pml4e & 0x000FFFFFFFFFF000ull, t.dtb);
  EXPECT_EQ(decoded_kdbg(g).PteBase, t.pte_base);
  // The PTE of KUSER_SHARED_DATA read through the self-map names KUSER's page.
  Walker w(g, t.dtb, false);
  std::uint64_t pte_va = t.pte_base + ((t.kuser_va >> 12) & 0xFFFFFFFFFull) * 8;
  EXPECT_EQ(w.get<std::uint64_t>(pte_va) & 0x000FFFFFFFFFF000ull, t.kuser_pa);

  GuestSpec other = x64_spec();
  other.seed = 8;
  auto g2 = build_guest(other);
  EXPECT_NE(g2.truth.keys.wait_never, t.keys.wait_never);
  // The same seed builds the same guest.
  auto g3 = build_guest(x64_spec());
  EXPECT_EQ(g3.truth.self_map_index, t.self_map_index);
  EXPECT_EQ(g3.truth.pdb_guid, t.pdb_guid);
}

TEST(Guest, X64EncodedKdbgDecodesWithTheGroundTruthKeys) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  ASSERT_TRUE(t.kdbg_encoded);
  auto raw = read_phys(g, t.kdbg_pa, t.kdbg_size);
  EXPECT_NE(load<std::uint32_t>(raw, 0x10), kKdbgOwnerTag);  // encoded in memory
  Walker w(g, t.dtb, false);
  EXPECT_EQ(w.translate(t.kdbg_va), t.kdbg_pa);
  // The keys are where the ground truth says, with the values it says.
  EXPECT_EQ(w.get<std::uint64_t>(t.wait_never_va), t.keys.wait_never);
  EXPECT_EQ(w.get<std::uint64_t>(t.wait_always_va), t.keys.wait_always);
  EXPECT_EQ(w.get<std::uint8_t>(t.keys.encoded_flag_va), 1u);
  auto k = decoded_kdbg(g);
  EXPECT_EQ(k.Header.OwnerTag, kKdbgOwnerTag);
  EXPECT_EQ(k.Header.Size, 0x380u);
  EXPECT_EQ(k.KernBase, t.kernel_base);
  EXPECT_EQ(k.KernBase, 0xfffff8047ba00000u);
  EXPECT_EQ(k.PsLoadedModuleList, t.ps_loaded_module_list);
  EXPECT_EQ(k.PsActiveProcessHead, t.ps_active_process_head);
  EXPECT_EQ(k.KiProcessorBlock, t.ki_processor_block);
  EXPECT_EQ(k.KiBugcheckData, t.ki_bugcheck_data);
  EXPECT_EQ(k.MmPfnDatabase, t.mm_pfn_database_va);
  EXPECT_EQ(k.MmPhysicalMemoryBlock, t.mm_physical_memory_block_va);
  EXPECT_EQ(k.OffsetPrcbContext, 0x85c0u);
  EXPECT_EQ(k.OffsetPrcbProcStateContext, 0x1f0u);
  EXPECT_EQ(k.SizePrcb, 0xaf00u);
  EXPECT_EQ(k.SizeEProcess, 0xa40u);
  EXPECT_EQ(k.SizeEThread, 0x898u);
  EXPECT_EQ(k.OffsetEprocessDirectoryTableBase, 0x28u);
  EXPECT_EQ(std::memcmp(&k, t.kdbg_plain.data(), t.kdbg_size), 0);
  // Header.List goes through KdpDebuggerDataListHead and back.
  EXPECT_EQ(k.Header.ListFlink, t.debugger_data_list_va);
  EXPECT_EQ(w.get<std::uint64_t>(t.debugger_data_list_va), t.kdbg_va);
}

TEST(Guest, X64PlainKdbgIsVisibleAndFlagClear) {
  GuestSpec s = x64_spec();
  s.kdbg_encoded = false;
  auto g = build_guest(s);
  const auto& t = g.truth;
  EXPECT_FALSE(t.kdbg_encoded);
  auto raw = read_phys(g, t.kdbg_pa, t.kdbg_size);
  EXPECT_EQ(load<std::uint32_t>(raw, 0x10), kKdbgOwnerTag);
  EXPECT_EQ(load<std::uint64_t>(raw, 0x18), t.kernel_base);
  Walker w(g, t.dtb, false);
  EXPECT_EQ(w.get<std::uint8_t>(t.keys.encoded_flag_va), 0u);
  // List.Blink's high dword is 0xFFFFF804 as in the real 19041 block: Vol2's fixed
  // "00 F8 FF FF" signature before "KDBG" does not hold for a KASLR kernel (§6.2).
  EXPECT_EQ(load<std::uint32_t>(raw, 0x0C), 0xFFFFF804u);
}

TEST(Guest, X64VersionBlockMatchesTheKdbg) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  auto v = w.get<DbgkdGetVersion64>(t.version_block_va);
  EXPECT_EQ(v.MajorVersion, 0xFu);
  EXPECT_EQ(v.MinorVersion, 19041u);
  EXPECT_EQ(v.MachineType, 0x8664u);
  EXPECT_EQ(v.Flags, version_flags::kMp | version_flags::kData | version_flags::kPtr64);
  EXPECT_EQ(v.KernBase, t.kernel_base);
  EXPECT_EQ(v.PsLoadedModuleList, t.ps_loaded_module_list);
  EXPECT_EQ(v.DebuggerDataList, t.debugger_data_list_va);
  // Within the page range a PDB-less finder scans around the KDBG (§6.5).
  EXPECT_LT(t.kdbg_va - t.version_block_va, 0x1000u);
}

TEST(Guest, X64KernelImageReadsBackThroughThePeReader) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  auto img = pe::PeImage::read(w, t.kernel_base, "kernel");
  EXPECT_EQ(img.size_of_image(), 0x1046000u);
  EXPECT_EQ(img.time_date_stamp(), 0x0D8333E6u);
  EXPECT_EQ(img.checksum(), 0x00A5938Cu);
  EXPECT_EQ(img.image_key(), "0D8333E61046000");
  EXPECT_EQ(img.image_key(), t.kernel_image_key);
  ASSERT_NE(img.find_section("POOLCODE"), nullptr);
  ASSERT_NE(img.find_section("ALMOSTRO"), nullptr);
  ASSERT_NE(img.find_section(".data"), nullptr);
  EXPECT_TRUE(
      img.find_section(".data")->contains(static_cast<std::uint32_t>(t.kdbg_va - t.kernel_base)));
  EXPECT_TRUE(img.find_section("ALMOSTRO")
                  ->contains(static_cast<std::uint32_t>(t.wait_never_va - t.kernel_base)));
  auto ex = img.read_exports();
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->dll_name, "ntoskrnl.exe");
  EXPECT_EQ(ex->dll_name, t.kernel_export_name);
  EXPECT_EQ(ex->find("PsLoadedModuleList"), t.ps_loaded_module_list - t.kernel_base);
  auto ntbuild = ex->find("NtBuildNumber");
  ASSERT_TRUE(ntbuild);
  EXPECT_EQ(w.get<std::uint32_t>(t.kernel_base + *ntbuild), 0xF0004A61u);  // 0xF0000000 | 19041
  auto cv = img.read_codeview();
  ASSERT_TRUE(cv);
  EXPECT_EQ(cv->pdb_name, "ntkrnlmp.pdb");
  EXPECT_EQ(cv->guid_string(), t.pdb_guid);
  EXPECT_EQ(cv->age, t.pdb_age);
  EXPECT_EQ(cv->symbol_path(), t.pdb_symbol_path);
  EXPECT_EQ(t.pdb_symbol_path.size(), std::string("ntkrnlmp.pdb//ntkrnlmp.pdb").size() + 33);
}

TEST(Guest, X64DecoysAreNotTheKernel) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  ASSERT_EQ(t.decoy_bases.size(), 2u);
  EXPECT_EQ(t.decoy_bases[0], t.kernel_base - 0x200000);
  EXPECT_EQ(t.decoy_bases[1], t.kernel_base - 0x400000);
  EXPECT_EQ(w.get<std::uint16_t>(t.decoy_bases[0]), 0x5A4Du);  // "MZ"
  try {
    pe::PeImage::read(w, t.decoy_bases[0], "candidate");
    FAIL() << "the MZ fragment parsed as a PE";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no \"PE\\0\\0\" signature at e_lfanew 0x40"),
              std::string::npos)
        << e.what();
  }
  auto other = pe::PeImage::read(w, t.decoy_bases[1], "candidate");
  EXPECT_NE(other.find_section("POOLCODE"), nullptr);
  EXPECT_EQ(other.read_exports()->dll_name, "notkernel.sys");
  EXPECT_EQ(other.read_codeview()->pdb_name, "notkernel.pdb");
  // The HAL, second in the module list, is a PE at its base too.
  auto hal = pe::PeImage::read(w, t.modules[1].base, "hal");
  EXPECT_EQ(hal.read_exports()->dll_name, "HAL.dll");
}

TEST(Guest, X64KdCopyDataBlockDecodesToTheIntendedInstructions) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  std::vector<std::byte> code(kd_copy_offsets::kSize);
  w.read_virtual_or_throw(t.kd_copy_data_block_va, code);
  // The routine also starts with the `80 3D` a byte scan keys on.
  EXPECT_EQ(code[0], std::byte{0x80});
  EXPECT_EQ(code[1], std::byte{0x3D});

  ZydisDecoder dec;
  ASSERT_TRUE(
      ZYAN_SUCCESS(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)));
  struct Seen {
    std::uint32_t offset;
    ZydisMnemonic mnemonic;
    std::optional<std::uint64_t> rip_target;  // absolute address of a [rip+x] operand
    std::optional<std::uint64_t> imm;
  };
  std::vector<Seen> seen;
  std::uint32_t off = 0;
  while (off < code.size()) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    ASSERT_TRUE(ZYAN_SUCCESS(
        ZydisDecoderDecodeFull(&dec, code.data() + off, code.size() - off, &insn, ops)))
        << "at +" << off;
    Seen s{off, insn.mnemonic, std::nullopt, std::nullopt};
    for (std::uint8_t i = 0; i < insn.operand_count_visible; ++i) {
      if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP) {
        ZyanU64 abs = 0;
        ASSERT_TRUE(ZYAN_SUCCESS(
            ZydisCalcAbsoluteAddress(&insn, &ops[i], t.kd_copy_data_block_va + off, &abs)));
        s.rip_target = abs;
      }
      if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) s.imm = ops[i].imm.value.u;
    }
    seen.push_back(s);
    off += insn.length;
  }
  const ZydisMnemonic expected[] = {
      ZYDIS_MNEMONIC_CMP,   ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_JZ,  ZYDIS_MNEMONIC_LEA,
      ZYDIS_MNEMONIC_MOV,   ZYDIS_MNEMONIC_LEA, ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_MOV,
      ZYDIS_MNEMONIC_MOV,   ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_ROL, ZYDIS_MNEMONIC_XOR,
      ZYDIS_MNEMONIC_BSWAP, ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_ADD,
      ZYDIS_MNEMONIC_ADD,   ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_JNZ, ZYDIS_MNEMONIC_RET,
      ZYDIS_MNEMONIC_LEA,   ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_MOV,
      ZYDIS_MNEMONIC_ADD,   ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_JNZ,
      ZYDIS_MNEMONIC_RET};
  ASSERT_EQ(seen.size(), std::size(expected));
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].mnemonic, expected[i]) << "instruction " << i << " at +" << seen[i].offset;
  }
  // What a PDB-less finder takes (§6.4), in its order: the first cmp [rip+x], 0; the first
  // lea [rip+x]; the next mov r64, [rip+x]; the next mov/xor r64, [rip+x]; all before RET.
  EXPECT_EQ(seen[0].offset, kd_copy_offsets::kCmpFlag);
  EXPECT_EQ(seen[0].rip_target, t.keys.encoded_flag_va);
  EXPECT_EQ(seen[0].imm, 0u);
  EXPECT_EQ(seen[3].offset, kd_copy_offsets::kLeaKdbg);
  EXPECT_EQ(seen[3].rip_target, t.kdbg_va);
  EXPECT_EQ(seen[4].offset, kd_copy_offsets::kMovWaitNever);
  EXPECT_EQ(seen[4].rip_target, t.wait_never_va);
  EXPECT_EQ(seen[5].rip_target, t.keys.encoded_flag_va);
  EXPECT_EQ(seen[6].offset, kd_copy_offsets::kMovCount);
  EXPECT_EQ(seen[6].imm, 0x380u / 8);
  EXPECT_EQ(seen[12].offset, kd_copy_offsets::kBswap);
  EXPECT_EQ(seen[13].offset, kd_copy_offsets::kXorWaitAlways);
  EXPECT_EQ(seen[13].rip_target, t.wait_always_va);
  EXPECT_EQ(seen[19].offset, kd_copy_offsets::kFirstRet);
  EXPECT_EQ(seen[20].rip_target, t.kdbg_va);
  // The jumps land on the loop heads and the plain copy.
  EXPECT_EQ(std::to_integer<int>(code[11]), 81 - 12);
}

// The project's own KdCopyDataBlock recogniser finds the guest's routine in the kernel's
// .text and extracts the ground-truth addresses.
TEST(Guest, X64KdCopyDataBlockIsFoundByTheDiscoveryPattern) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  // A window of .text around the routine: 64 KiB, with the routine somewhere inside.
  std::uint64_t start = (t.kd_copy_data_block_va & ~0xFFFFull);
  std::vector<std::byte> text(0x10000);
  w.read_virtual_or_throw(start, text);
  auto matches = find_kdcopydatablock(text, start);
  ASSERT_EQ(matches.size(), 1u);
  const auto& m = matches[0];
  EXPECT_EQ(m.cmp_va, t.kd_copy_data_block_va);
  EXPECT_EQ(m.encoded_flag_va, t.keys.encoded_flag_va);
  ASSERT_EQ(m.lea_targets.size(), 1u);
  EXPECT_EQ(m.lea_targets[0], t.kdbg_va);
  EXPECT_EQ(m.qword_loads, (std::vector<std::uint64_t>{t.wait_never_va, t.wait_always_va}));
  EXPECT_EQ(m.word_counts, (std::vector<std::uint32_t>{0x70}));
  EXPECT_TRUE(m.has_bswap);
  EXPECT_EQ(m.end_va, t.kd_copy_data_block_va + kd_copy_offsets::kFirstRet + 1);
}

TEST(Guest, X64ProcessorBlockPrcbsAndContexts) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  auto k = decoded_kdbg(g);
  ASSERT_EQ(t.cpus.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto& c = t.cpus[i];
    std::uint64_t prcb = w.ptr(k.KiProcessorBlock + 8 * i);
    EXPECT_EQ(prcb, c.prcb);
    EXPECT_EQ(w.get<std::uint32_t>(prcb + k.OffsetPrcbNumber), i);
    EXPECT_EQ(w.ptr(prcb + k.OffsetPrcbCurrentThread), c.thread);
    EXPECT_EQ(w.ptr(c.thread + k.OffsetKThreadApcProcess), t.processes[0].eprocess);
    EXPECT_EQ(w.get<std::uint8_t>(c.thread), 6u);  // ThreadObject
    std::uint64_t ctx_va = w.ptr(prcb + k.OffsetPrcbContext);
    EXPECT_EQ(ctx_va, c.context);
    auto ctx = w.get<ContextAmd64>(ctx_va);
    EXPECT_EQ(ctx.ContextFlags, 0x10001Fu);
    EXPECT_EQ(ctx.Rip, c.rip);
    EXPECT_EQ(ctx.Rsp, c.rsp);
    EXPECT_EQ(ctx.SegCs, 0x10u);
    EXPECT_EQ(ctx.SegSs, 0x18u);
    EXPECT_EQ(ctx.Rax, 0x1000000000000000ull + 0x100 * i);
    auto frame = w.get<ContextAmd64>(prcb + k.OffsetPrcbProcStateContext);
    EXPECT_EQ(frame.Rip, c.rip);
    EXPECT_EQ(w.get<std::uint64_t>(prcb + 0x110), t.dtb);  // ProcessorState.SpecialRegisters.Cr3
    // KPCR = PRCB - 0x180, self-referencing.
    EXPECT_EQ(c.pcr, prcb - k.OffsetPcrContainedPrcb);
    EXPECT_EQ(w.ptr(c.pcr + k.OffsetPcrSelfPcr), c.pcr);
    EXPECT_EQ(w.ptr(c.pcr + k.OffsetPcrCurrentPrcb), prcb);
    EXPECT_GE(c.rip, t.kernel_base);
    EXPECT_LT(c.rip, t.kernel_base + t.kernel_size);
  }
  EXPECT_EQ(t.cpus[0].prcb, 0xfffff804782d4180u);  // the sample machine's CPU 0
}

TEST(Guest, X64CapturedCpuStatePointsIntoTheGuest) {
  GuestSpec s = x64_spec();
  s.pcid = true;
  auto g = build_guest(s);
  const auto& t = g.truth;
  auto cpus = g.cpus();
  ASSERT_EQ(cpus.size(), 4u);
  Walker w(g, t.dtb, false);
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto& c = cpus[i];
    EXPECT_EQ(c.index, i);
    EXPECT_EQ(c.arch, CpuArch::x64);
    EXPECT_TRUE(c.kernel_mode());
    EXPECT_EQ(c.cr3 & ~0xFFFull, t.dtb);
    EXPECT_EQ(c.cr3 & 0xFFF, 0x2u);  // the PCID
    EXPECT_EQ(c.gs_base, t.cpus[i].pcr);
    ASSERT_TRUE(c.kernel_gs_base);
    EXPECT_LT(*c.kernel_gs_base, 0x800000000000ull);  // a user TEB
    EXPECT_EQ(c.rip, t.cpus[i].rip);
    EXPECT_EQ(c.gpr[CpuState::rsp], t.cpus[i].rsp);
    EXPECT_EQ(c.idtr.base, t.cpus[i].idt);
    // IDT[0]'s handler lies inside the kernel image (E2D's kernel-base hint, §6.6).
    auto lo = w.get<std::uint64_t>(c.idtr.base);
    auto hi = w.get<std::uint64_t>(c.idtr.base + 8);
    std::uint64_t handler = (lo & 0xFFFF) | ((lo >> 32) & 0xFFFF0000) | (hi << 32);
    EXPECT_GE(handler, t.kernel_base);
    EXPECT_LT(handler, t.kernel_base + t.kernel_size);
    EXPECT_EQ((lo >> 16) & 0xFFFF, 0x10u);
  }
  GuestSpec none = x64_spec();
  none.cpu_state = false;
  EXPECT_TRUE(build_guest(none).cpus().empty());
}

TEST(Guest, X64LowStubPresentOrAbsent) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  ASSERT_TRUE(t.low_stub_pa);
  auto find_stubs = [](const Guest& guest) {
    std::vector<std::uint64_t> found;
    for (std::uint64_t p = 0x1000; p < 0x100000; p += 0x1000) {
      std::array<std::byte, 0xA8> b{};
      if (!guest.read_physical(p, b)) continue;
      if ((load<std::uint64_t>(b, 0) & 0xFFFFFFFFFFFF00FFull) == 0x00000001000600E9ull &&
          (load<std::uint64_t>(b, 0x70) & 0xFFFFF80000000003ull) == 0xFFFFF80000000000ull &&
          (load<std::uint64_t>(b, 0xA0) & 0xFFFFFF0000000FFFull) == 0) {
        found.push_back(p);
      }
    }
    return found;
  };
  EXPECT_EQ(find_stubs(g), std::vector<std::uint64_t>{0x13000});
  EXPECT_EQ(g.memory.get<std::uint64_t>(0x13000 + 0xA0), t.dtb);
  std::uint64_t lm_target = g.memory.get<std::uint64_t>(0x13000 + 0x70);
  EXPECT_GE(lm_target, t.kernel_base);
  EXPECT_LT(lm_target, t.kernel_base + t.kernel_size);

  GuestSpec s = x64_spec();
  s.low_stub = false;
  auto g2 = build_guest(s);
  EXPECT_FALSE(g2.truth.low_stub_pa);
  EXPECT_TRUE(find_stubs(g2).empty());
}

TEST(Guest, X64ModuleListStartsWithNtoskrnlThenHal) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  auto entries = walk_list(w, t.ps_loaded_module_list);
  ASSERT_EQ(entries.size(), t.modules.size());
  ASSERT_GE(entries.size(), 3u);
  // KLDR_DATA_TABLE_ENTRY x64: DllBase 0x30, SizeOfImage 0x40, FullDllName 0x48,
  // BaseDllName 0x58, CheckSum 0x78, TimeDateStamp 0x9c.
  EXPECT_EQ(w.ptr(entries[0] + 0x30), t.kernel_base);
  EXPECT_EQ(w.get<std::uint32_t>(entries[0] + 0x40), t.kernel_size);
  EXPECT_EQ(w.utf16(entries[0] + 0x58), "ntoskrnl.exe");
  EXPECT_EQ(w.utf16(entries[0] + 0x48), "\\SystemRoot\\system32\\ntoskrnl.exe");
  EXPECT_EQ(w.get<std::uint32_t>(entries[0] + 0x78), t.kernel_checksum);
  EXPECT_EQ(w.get<std::uint32_t>(entries[0] + 0x9c), t.kernel_timestamp);
  EXPECT_EQ(w.utf16(entries[1] + 0x58), "hal.dll");
  EXPECT_EQ(w.ptr(entries[1] + 0x30), 0xfffff80479440000u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i], t.modules[i].entry_va);
    EXPECT_EQ(w.ptr(entries[i] + 8), i == 0 ? t.ps_loaded_module_list : entries[i - 1]);  // Blink
  }
}

TEST(Guest, X64ProcessListWithPrivateUserPages) {
  auto g = build_guest(x64_spec());
  const auto& t = g.truth;
  Walker w(g, t.dtb, false);
  auto links = walk_list(w, t.ps_active_process_head);
  ASSERT_EQ(links.size(), 3u);
  const char* names[] = {"System", "smss.exe", "csrss.exe"};
  for (std::size_t i = 0; i < links.size(); ++i) {
    std::uint64_t ep = links[i] - 0x448;
    const auto& p = t.processes[i];
    EXPECT_EQ(ep, p.eprocess);
    EXPECT_EQ(w.get<std::uint8_t>(ep), 3u);  // ProcessObject
    EXPECT_EQ(w.ptr(ep + 0x440), p.pid);
    EXPECT_EQ(w.cstr(ep + 0x5a8, 15), names[i]);
    EXPECT_EQ(w.ptr(ep + 0x28), p.dtb);
    if (i == 0) {
      EXPECT_EQ(p.pid, 4u);
      EXPECT_EQ(p.dtb, t.dtb);
      continue;
    }
    EXPECT_NE(p.dtb, t.dtb);
    // The process's own tables: its private page (above 4 GiB), the kernel, KUSER's user view.
    Walker pw(g, p.dtb, false);
    EXPECT_EQ(pw.translate(p.user_va), p.user_pa);
    EXPECT_GE(p.user_pa, 0x100000000u);
    EXPECT_EQ(pw.cstr(p.user_va, 200), p.user_marker);
    EXPECT_FALSE(w.translate(p.user_va));  // not in the System address space
    EXPECT_EQ(pw.translate(t.kernel_base), t.kernel_pa);
    EXPECT_EQ(pw.translate(0x7FFE0000), t.kuser_pa);
    EXPECT_EQ(g.memory.get<std::uint64_t>(p.dtb + t.self_map_index * 8) & 0x000FFFFFFFFFF000ull,
              p.dtb);
  }
}

TEST(Guest, X64PhysicalMemoryBlockMatchesTheMap) {
  for (bool many : {false, true}) {
    GuestSpec s = x64_spec();
    s.many_runs = many;
    auto g = build_guest(s);
    const auto& t = g.truth;
    Walker w(g, t.dtb, false);
    std::uint64_t d = w.ptr(t.mm_physical_memory_block_va);
    EXPECT_EQ(d, t.physical_memory_descriptor);
    auto head = w.get<PhysicalMemoryDescriptor64Head>(d);
    ASSERT_EQ(head.NumberOfRuns, t.memory_map.size());
    if (many) {
      EXPECT_GE(head.NumberOfRuns, 43u);  // more than a dump header's 42
    } else {
      EXPECT_EQ(head.NumberOfRuns, 3u);
    }
    std::uint64_t pages = 0;
    for (std::size_t i = 0; i < head.NumberOfRuns; ++i) {
      auto run = w.get<PhysicalMemoryRun64>(d + 0x10 + 16 * i);
      EXPECT_EQ(run.BasePage * 0x1000, t.memory_map[i].base);
      EXPECT_EQ(run.PageCount * 0x1000, t.memory_map[i].size);
      pages += run.PageCount;
    }
    EXPECT_EQ(head.NumberOfPages, pages);
    EXPECT_EQ(g.total_bytes(), pages * 0x1000);
  }
}

TEST(Guest, X64BugcheckDataZeroOrCrash) {
  auto g = build_guest(x64_spec());
  Walker w(g, g.truth.dtb, false);
  EXPECT_EQ(w.get<std::uint64_t>(g.truth.ki_bugcheck_data), 0u);
  EXPECT_EQ(g.truth.bugcheck_code, 0u);

  GuestSpec s = x64_spec();
  s.crashed = true;
  auto c = build_guest(s);
  const auto& t = c.truth;
  Walker cw(c, t.dtb, false);
  EXPECT_EQ(cw.get<std::uint64_t>(t.ki_bugcheck_data), 0x1000007Eu);
  EXPECT_EQ(cw.get<std::uint64_t>(t.ki_bugcheck_data + 8), 0xffffffffc0000005u);
  EXPECT_EQ(cw.get<std::uint64_t>(t.ki_bugcheck_data + 16), t.cpus[0].rip);
  EXPECT_EQ(t.cpus[0].rip, t.kernel_base + 0x3F5A80);  // KeBugCheckEx
  EXPECT_EQ(cw.get<std::uint16_t>(t.cpus[0].rip), 0xC3CCu);
  EXPECT_EQ(cw.get<std::uint64_t>(t.mm_pfn_database_va), t.mm_pfn_database);
  EXPECT_EQ(cw.cstr(t.nt_build_lab_va, 100), "19041.1.amd64fre.vb_release.191206-1406");
}

TEST(Guest, X86PaeGuest) {
  GuestSpec s;
  s.arch = GuestArch::x86_pae;
  s.cpu_count = 2;
  s.seed = 3;
  auto g = build_guest(s);
  const auto& t = g.truth;
  EXPECT_EQ(t.dtb, 0x185000u);
  // The PAE DTB shape: 4 PDPT entries PA + 0x1000 * (i + 1) | 1, the rest of the page zero.
  for (std::uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(g.memory.get<std::uint64_t>(t.dtb + 8 * i), (t.dtb + 0x1000 * (i + 1)) | 1);
  }
  for (std::uint64_t o = 0x20; o < 0x1000; o += 8)
    ASSERT_EQ(g.memory.get<std::uint64_t>(t.dtb + o), 0u);
  Walker w(g, t.dtb, true);
  EXPECT_EQ(w.translate(t.kernel_base), t.kernel_pa);
  EXPECT_EQ(w.translate(0xFFDF0000), t.kuser_pa);
  EXPECT_EQ(w.get<std::uint32_t>(0xFFDF0000 + 0x260), 7601u);
  EXPECT_EQ(w.get<std::uint32_t>(0xFFDF0000 + 0x26C), 6u);
  EXPECT_EQ(w.get<std::uint32_t>(0xFFDF0000 + 0x270), 1u);
  // The PAE self-map: PTEs at 0xC0000000, so the PTE of KUSER names its page.
  EXPECT_EQ(w.get<std::uint64_t>(0xC0000000 + (0xFFDF0000 >> 12) * 8) & 0x000FFFFFFFFFF000ull,
            t.kuser_pa);

  // A plain KDBG with sign-extended pointers.
  EXPECT_FALSE(t.kdbg_encoded);
  auto raw = read_phys(g, t.kdbg_pa, t.kdbg_size);
  EXPECT_EQ(load<std::uint64_t>(raw, 0x8), 0u);  // Vol2's 32-bit signature: 8 zero bytes
  auto k = load_kdbg(raw);
  EXPECT_EQ(k.Header.OwnerTag, kKdbgOwnerTag);
  EXPECT_EQ(k.Header.Size, 0x340u);
  EXPECT_EQ(k.KernBase, 0xFFFFFFFF82A4D000u);
  EXPECT_EQ(k.PsLoadedModuleList, 0xFFFFFFFF00000000u | t.ps_loaded_module_list);
  EXPECT_EQ(k.Flags & 1, 1u);  // PaeEnabled
  EXPECT_EQ(k.OffsetPrcbContext, 0x3618u);
  EXPECT_EQ(k.OffsetPrcbProcStateContext, 0x18u);
  EXPECT_EQ(load<std::uint32_t>(raw, 0), static_cast<std::uint32_t>(t.debugger_data_list_va));

  auto img = pe::PeImage::read(w, t.kernel_base, "kernel");
  EXPECT_FALSE(img.pe32_plus());
  EXPECT_EQ(img.machine(), 0x14C);
  EXPECT_EQ(img.read_exports()->dll_name, "ntkrnlpa.exe");
  EXPECT_EQ(img.read_codeview()->pdb_name, "ntkrpamp.pdb");
  EXPECT_EQ(img.read_codeview()->guid_string(), t.pdb_guid);

  auto v = w.get<DbgkdGetVersion64>(t.version_block_va);
  EXPECT_EQ(v.MinorVersion, 7601u);
  EXPECT_EQ(v.MachineType, 0x14Cu);
  EXPECT_EQ(v.KernBase, 0xFFFFFFFF82A4D000u);

  auto mods = walk_list(w, t.ps_loaded_module_list);
  ASSERT_EQ(mods.size(), t.modules.size());
  EXPECT_EQ(w.ptr(mods[0] + 0x18), t.kernel_base);  // x86 DllBase
  EXPECT_EQ(w.utf16(mods[0] + 0x2C), "ntkrnlpa.exe");
  EXPECT_EQ(w.get<std::uint32_t>(mods[0] + 0x44), t.kernel_timestamp);

  auto procs = walk_list(w, t.ps_active_process_head);
  ASSERT_EQ(procs.size(), 3u);
  EXPECT_EQ(w.ptr(procs[0] - 0xb8 + 0xb4), 4u);
  EXPECT_EQ(w.cstr(procs[0] - 0xb8 + 0x16c, 15), "System");
  EXPECT_EQ(w.ptr(procs[0] - 0xb8 + 0x18), t.dtb);
  const auto& user = t.processes[1];
  Walker pw(g, user.dtb, true);
  EXPECT_EQ(pw.cstr(user.user_va, 200), user.user_marker);
  EXPECT_EQ(pw.translate(t.kernel_base), t.kernel_pa);

  for (std::uint32_t i = 0; i < 2; ++i) {
    std::uint64_t prcb = w.ptr(t.ki_processor_block + 4 * i);
    EXPECT_EQ(prcb, t.cpus[i].prcb);
    auto ctx = w.get<ContextI386>(w.ptr(prcb + k.OffsetPrcbContext));
    EXPECT_EQ(ctx.Eip, t.cpus[i].rip);
    EXPECT_EQ(ctx.ContextFlags, 0x10007u);
    EXPECT_EQ(w.get<ContextI386>(prcb + 0x18).Esp, t.cpus[i].rsp);
    const auto& c = g.cpus()[i];
    EXPECT_EQ(c.arch, CpuArch::x86);
    EXPECT_EQ(c.cr3, t.dtb);
    EXPECT_EQ(c.seg[CpuState::fs].base, t.cpus[i].pcr);
  }
  auto d = w.ptr(t.mm_physical_memory_block_va);
  EXPECT_EQ(w.get<PhysicalMemoryDescriptor32Head>(d).NumberOfRuns, t.memory_map.size());
}

TEST(Guest, RawImageHoldsThePagesAtTheirAddresses) {
  auto g = build_guest(x64_spec());
  TempDir dir;
  g.emit(Guest::ImageFormat::raw, dir / "guest.raw");
  ASSERT_TRUE(std::filesystem::exists(dir / "guest.raw.map"));
  EXPECT_EQ(std::filesystem::file_size(dir / "guest.raw"), g.truth.memory_map.back().end());
  std::ifstream raw(dir / "guest.raw", std::ios::binary);
  std::vector<char> b(g.truth.kdbg_size);
  raw.seekg(static_cast<std::streamoff>(g.truth.kdbg_pa));
  raw.read(b.data(), static_cast<std::streamsize>(b.size()));
  auto expect = read_phys(g, g.truth.kdbg_pa, g.truth.kdbg_size);
  EXPECT_EQ(std::memcmp(b.data(), expect.data(), b.size()), 0);
  std::ifstream map(dir / "guest.raw.map");
  std::string line;
  std::getline(map, line);
  EXPECT_EQ(line, "0x1000 0x9f000");  // START END, end exclusive
}
