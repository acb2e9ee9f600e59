// Shared helpers of the sources tests: CPU states with recognisable values, reading ranges.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "image_writers.h"
#include "pagedump/error.h"
#include "pagedump/physical_memory.h"

namespace pagedump::test {

// A 64-bit kernel-mode CPU whose every register holds a distinct value derived from `index`.
inline CpuState sample_cpu64(std::uint32_t index) {
  CpuState c;
  c.index = index;
  c.arch = CpuArch::x64;
  for (std::size_t i = 0; i < 16; ++i) c.gpr[i] = 0x1111000000000000ull * (index + 1) + 0x100 * i + 7;
  c.rip = 0xfffff80012345678ull + index;
  c.rflags = 0x246;
  c.seg[CpuState::cs] = {0x10, 0, 0, 0x209b};
  c.seg[CpuState::ss] = {0x18, 0, 0, 0x4093};
  c.seg[CpuState::ds] = {0x2b, 0, 0xffffffff, 0xcf3};
  c.seg[CpuState::es] = {0x2b, 0, 0xffffffff, 0xcf3};
  c.seg[CpuState::fs] = {0x53, 0x7ff000 + index, 0x3c00, 0x40f3};
  c.seg[CpuState::gs] = {0x2b, 0xfffff80011110000ull + 0x1000 * index, 0xffffffff, 0xcf3};
  c.cr0 = 0x80050033;
  c.cr2 = 0x1234000 + index;
  c.cr3 = 0x1aa000 + 0x1000 * index;
  c.cr4 = 0x3506f8;
  c.efer = 0xd01;
  c.gs_base = c.seg[CpuState::gs].base;
  c.kernel_gs_base = 0x000000c0deadb000ull + index;
  c.gdtr = {0xfffff80022220000ull + index, 0x57};
  c.idtr = {0xfffff80033330000ull + index, 0xfff};
  return c;
}

inline CpuState sample_cpu32(std::uint32_t index) {
  CpuState c;
  c.index = index;
  c.arch = CpuArch::x86;
  for (std::size_t i = 0; i < 8; ++i) c.gpr[i] = 0x81000000u + 0x10000u * index + 0x11u * i;
  c.rip = 0x80501234u + index;
  c.rflags = 0x202;
  c.seg[CpuState::cs] = {0x08, 0, 0xffffffff, 0xc9b};
  c.seg[CpuState::ss] = {0x10, 0, 0xffffffff, 0xc93};
  c.seg[CpuState::ds] = {0x23, 0, 0xffffffff, 0xcf3};
  c.seg[CpuState::es] = {0x23, 0, 0xffffffff, 0xcf3};
  c.seg[CpuState::fs] = {0x30, 0xffdff000, 0x1fff, 0x493};
  c.seg[CpuState::gs] = {0x00, 0, 0, 0};
  c.cr0 = 0x8001003b;
  c.cr3 = 0x39000 + 0x1000 * index;
  c.cr4 = 0x6f9;
  c.gdtr = {0x8003f000, 0x3ff};
  c.idtr = {0x8003f400, 0x7ff};
  return c;
}

inline std::vector<std::byte> read_bytes(const PhysicalMemory& m, std::uint64_t pa, std::size_t n) {
  std::vector<std::byte> out(n);
  ReadResult r = m.read_physical(pa, out);
  EXPECT_TRUE(r.ok()) << describe(r);
  return out;
}

inline std::vector<std::byte> expected_pattern(std::uint64_t pa, std::size_t n) {
  std::vector<std::byte> v(n);
  images::address_pattern(pa, v);
  return v;
}

inline std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

// Runs `fn`, expecting a pagedump::Error of `kind` whose message contains every part.
template <class Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::vector<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error raised; expected one containing '" << parts.at(0) << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

}  // namespace pagedump::test
