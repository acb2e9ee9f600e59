// Named registers from raw CONTEXT bytes of each architecture.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/context_registers.h"
#include "pagedump/format/dump_header.h"

using namespace pagedump;
using namespace pagedump::format;

namespace {

template <class T>
std::vector<std::byte> bytes_of(const T& v) {
  std::vector<std::byte> b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return b;
}

std::vector<std::string> names(const NamedRegisters& regs) {
  std::vector<std::string> out;
  for (const auto& r : regs) out.push_back(r.first);
  return out;
}

std::uint64_t value(const NamedRegisters& regs, const std::string& name) {
  for (const auto& [n, v] : regs) {
    if (n == name) return v;
  }
  ADD_FAILURE() << name;
  return 0;
}

TEST(ContextRegisters, MachinesMapToLayouts) {
  EXPECT_EQ(context_arch_for_machine(0x8664), ContextArch::amd64);
  EXPECT_EQ(context_arch_for_machine(0x14C), ContextArch::i386);
  EXPECT_EQ(context_arch_for_machine(0xAA64), ContextArch::arm64);
  EXPECT_EQ(context_arch_for_machine(0x1C4), ContextArch::arm);
  EXPECT_EQ(context_arch_for_machine(0x200), std::nullopt);
  EXPECT_EQ(context_size(ContextArch::amd64), 0x4D0u);
  EXPECT_EQ(context_size(ContextArch::i386), 0x2CCu);
  EXPECT_EQ(context_size(ContextArch::arm64), 0x390u);
  EXPECT_EQ(context_size(ContextArch::arm), 0x1A0u);
}

TEST(ContextRegisters, Amd64) {
  ContextAmd64 c{};
  c.ContextFlags = 0x10001F;
  c.MxCsr = 0x1f80;
  c.SegCs = 0x10;
  c.SegSs = 0x18;
  c.EFlags = 0x40282;
  c.Dr6 = 0xffff0ff0;
  c.Dr7 = 0x400;
  c.Rax = 1;
  c.Rcx = 2;
  c.Rdx = 3;
  c.Rbx = 4;
  c.Rsp = 5;
  c.Rbp = 6;
  c.Rsi = 7;
  c.Rdi = 8;
  c.R8 = 9;
  c.R15 = 16;
  c.Rip = 0xfffff8047bdf5a80;
  auto regs = context_registers(ContextArch::amd64, bytes_of(c));
  EXPECT_EQ(names(regs),
            (std::vector<std::string>{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                                      "rip", "rflags", "cs", "ds", "es", "fs", "gs", "ss",
                                      "mxcsr", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
                                      "context_flags"}));
  EXPECT_EQ(value(regs, "rax"), 1u);
  EXPECT_EQ(value(regs, "rdi"), 8u);
  EXPECT_EQ(value(regs, "r8"), 9u);
  EXPECT_EQ(value(regs, "r15"), 16u);
  EXPECT_EQ(value(regs, "rip"), 0xfffff8047bdf5a80u);
  EXPECT_EQ(value(regs, "rflags"), 0x40282u);
  EXPECT_EQ(value(regs, "cs"), 0x10u);
  EXPECT_EQ(value(regs, "ss"), 0x18u);
  EXPECT_EQ(value(regs, "mxcsr"), 0x1f80u);
  EXPECT_EQ(value(regs, "dr6"), 0xffff0ff0u);
  EXPECT_EQ(value(regs, "dr7"), 0x400u);
  EXPECT_EQ(value(regs, "context_flags"), 0x10001Fu);
}

TEST(ContextRegisters, I386) {
  ContextI386 c{};
  c.ContextFlags = 0x10007;
  c.Eax = 0xa;
  c.Ecx = 0xc;
  c.Edx = 0xd;
  c.Ebx = 0xb;
  c.Esp = 0x9a3f7c10;
  c.Ebp = 0x9a3f7c40;
  c.Esi = 0x51;
  c.Edi = 0xd1;
  c.Eip = 0x80d1c2b4;
  c.EFlags = 0x246;
  c.SegCs = 8;
  c.SegDs = 0x23;
  c.SegEs = 0x23;
  c.SegFs = 0x30;
  c.SegGs = 0;
  c.SegSs = 0x10;
  c.Dr7 = 0x55;
  auto regs = context_registers(ContextArch::i386, bytes_of(c));
  EXPECT_EQ(names(regs),
            (std::vector<std::string>{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                      "eip", "eflags", "cs", "ds", "es", "fs", "gs", "ss", "dr0",
                                      "dr1", "dr2", "dr3", "dr6", "dr7", "context_flags"}));
  EXPECT_EQ(value(regs, "eax"), 0xau);
  EXPECT_EQ(value(regs, "ebx"), 0xbu);
  EXPECT_EQ(value(regs, "esp"), 0x9a3f7c10u);
  EXPECT_EQ(value(regs, "ebp"), 0x9a3f7c40u);
  EXPECT_EQ(value(regs, "edi"), 0xd1u);
  EXPECT_EQ(value(regs, "eip"), 0x80d1c2b4u);
  EXPECT_EQ(value(regs, "fs"), 0x30u);
  EXPECT_EQ(value(regs, "ss"), 0x10u);
  EXPECT_EQ(value(regs, "dr7"), 0x55u);
  EXPECT_EQ(value(regs, "context_flags"), 0x10007u);
}

TEST(ContextRegisters, Arm64) {
  ContextArm64 c{};
  c.ContextFlags = 0x400007;
  c.Cpsr = 0x60000005;
  for (int i = 0; i < 31; ++i) c.X[i] = 0x100 + std::uint64_t(i);
  c.Sp = 0xffffa000'12345670;
  c.Pc = 0xfffff800'11223344;
  c.Fpcr = 0x1;
  c.Fpsr = 0x2;
  auto regs = context_registers(ContextArch::arm64, bytes_of(c));
  ASSERT_EQ(regs.size(), 37u);
  EXPECT_EQ(regs[0].first, "x0");
  EXPECT_EQ(regs[28].first, "x28");
  EXPECT_EQ(value(regs, "x0"), 0x100u);
  EXPECT_EQ(value(regs, "x17"), 0x111u);
  EXPECT_EQ(value(regs, "x28"), 0x11cu);
  EXPECT_EQ(value(regs, "fp"), 0x11du);
  EXPECT_EQ(value(regs, "lr"), 0x11eu);
  EXPECT_EQ(value(regs, "sp"), 0xffffa00012345670u);
  EXPECT_EQ(value(regs, "pc"), 0xfffff80011223344u);
  EXPECT_EQ(value(regs, "cpsr"), 0x60000005u);
  EXPECT_EQ(value(regs, "fpcr"), 1u);
  EXPECT_EQ(value(regs, "fpsr"), 2u);
  EXPECT_EQ(value(regs, "context_flags"), 0x400007u);
}

TEST(ContextRegisters, Arm) {
  ContextArm c{};
  c.ContextFlags = 0x200007;
  for (int i = 0; i < 13; ++i) c.R[i] = 0x200 + std::uint32_t(i);
  c.Sp = 0x9000;
  c.Lr = 0x9004;
  c.Pc = 0x9008;
  c.Cpsr = 0x33;
  c.Fpscr = 0x44;
  auto regs = context_registers(ContextArch::arm, bytes_of(c));
  EXPECT_EQ(names(regs),
            (std::vector<std::string>{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9",
                                      "r10", "r11", "r12", "sp", "lr", "pc", "cpsr", "fpscr",
                                      "context_flags"}));
  EXPECT_EQ(value(regs, "r0"), 0x200u);
  EXPECT_EQ(value(regs, "r12"), 0x20cu);
  EXPECT_EQ(value(regs, "sp"), 0x9000u);
  EXPECT_EQ(value(regs, "lr"), 0x9004u);
  EXPECT_EQ(value(regs, "pc"), 0x9008u);
  EXPECT_EQ(value(regs, "cpsr"), 0x33u);
  EXPECT_EQ(value(regs, "fpscr"), 0x44u);
  EXPECT_EQ(value(regs, "context_flags"), 0x200007u);
}

TEST(ContextRegisters, ShortInputIsAnErrorNotAnOverread) {
  std::vector<std::byte> b(0x4CF);
  try {
    context_registers(ContextArch::amd64, b);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::truncated);
    EXPECT_STREQ(e.what(), "AMD64 CONTEXT needs 0x4d0 bytes, only 0x4cf available");
  }
  EXPECT_THROW(context_registers(ContextArch::arm, std::span(b).first(0x19F)), Error);
  EXPECT_NO_THROW(context_registers(ContextArch::arm, std::span(b).first(0x1A0)));
}

}  // namespace
