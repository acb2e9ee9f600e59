// The x64 guest built from a real 19041 triage dump's bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "pagedump/synth/guest.h"
#include "guest_walker.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/synth/sample_templates.h"
#include "support/samples.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
using namespace pagedump::format;

TEST(GuestSample, TakesKdbgPrcbAndDriversFromTheRealDump) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "win10-19041-x64-triage.dmp");
  auto tpl = load_sample_templates(path);
  EXPECT_EQ(tpl.kdbg.size(), 0x380u);
  EXPECT_EQ(tpl.prcb.size(), 0xaf00u);
  EXPECT_EQ(tpl.eprocess.size(), 0xa40u);
  EXPECT_EQ(tpl.ethread.size(), 0x898u);
  EXPECT_EQ(tpl.drivers.size(), 0x97u);
  ASSERT_EQ(tpl.prcbs.size(), 16u);
  EXPECT_EQ(tpl.prcbs[0], 0xfffff804782d4180u);

  GuestSpec s;
  s.sample = path;
  s.cpu_count = 16;
  auto g = build_guest(s);
  const auto& t = g.truth;
  EXPECT_TRUE(t.from_sample);
  EXPECT_EQ(t.kdbg_va, tpl.kdbg_va);  // 0xfffff8047c600b20, the real KdDebuggerDataBlock
  EXPECT_EQ(t.self_map_index, 0x1FBu);
  EXPECT_EQ(t.pte_base, 0xfffffd8000000000u);
  EXPECT_EQ(t.modules.size(), 0x97u);
  EXPECT_EQ(t.modules[0].base_name, "ntoskrnl.exe");
  EXPECT_EQ(t.modules[1].base_name, "hal.dll");
  EXPECT_EQ(t.modules[0].time_date_stamp, 0x0D8333E6u);

  auto block = std::vector<std::byte>(t.kdbg_size);
  g.read_physical_or_throw(t.kdbg_pa, block);
  kdbg_decode(block, t.keys);
  // The decoded block is the real one except where the guest owns the values; the real and
  // the guest's addresses agree anyway.
  EXPECT_EQ(std::memcmp(block.data() + 0x18, tpl.kdbg.data() + 0x18, 0x380 - 0x18), 0);
  auto k = load_kdbg(block);
  EXPECT_EQ(k.KiProcessorBlock, 0xfffff8047c6fdc80u);
  EXPECT_EQ(k.PsLoadedModuleList, 0xfffff8047c62a390u);
  // CPU 5's PRCB holds the real bytes (VendorString at the KDBG's offset), its own number.
  std::vector<std::byte> vendor(12), expect(tpl.prcb.begin() + k.OffsetPrcbVendorString,
                                            tpl.prcb.begin() + k.OffsetPrcbVendorString + 12);
  std::uint64_t prcb5 = tpl.prcbs[5];
  EXPECT_EQ(t.cpus[5].prcb, prcb5);
  Walker w(g, t.dtb, false);
  w.read_virtual_or_throw(prcb5 + k.OffsetPrcbVendorString, vendor);
  EXPECT_EQ(vendor, expect);
  EXPECT_EQ(w.get<std::uint32_t>(prcb5 + k.OffsetPrcbNumber), 5u);
  EXPECT_EQ(w.ptr(prcb5 + k.OffsetPrcbContext), t.cpus[5].context);
  // The System EPROCESS holds the real bytes outside the fields the guest sets.
  std::uint64_t ep = t.processes[0].eprocess;
  std::vector<std::byte> ep_bytes(tpl.eprocess.size());
  w.read_virtual_or_throw(ep, ep_bytes);
  EXPECT_EQ(std::memcmp(ep_bytes.data() + 0x600, tpl.eprocess.data() + 0x600, 0x100), 0);
  EXPECT_EQ(w.get<std::uint64_t>(ep + 0x440), 4u);
  // The full driver list, in the sample's order.
  EXPECT_EQ(t.modules[143].base_name, "amdppm.sys");
}
