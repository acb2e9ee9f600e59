#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "pagedump/discovery/kdcopy_pattern.h"

namespace {

// A KdCopyDataBlock-shaped routine (GNU as, Intel syntax), with its data at fixed offsets:
//   0x00 nop
//   0x01 cmp byte ptr [rip+flag], 0        ; flag (KdpDataBlockEncoded) at 0x80
//   0x08 mov rdx, rcx
//   0x0b je done
//   0x0d mov r9, qword ptr [rip+waitnever] ; KiWaitNever at 0x88
//   0x14 lea r10, [rip+kdbg]               ; KdDebuggerDataBlock at 0xa0
//   0x1b lea r11, [rip+flag]               ; the flag's address is a key
//   0x22 mov r8d, 0x70                     ; 0x380 / 8 words
//   0x28 loop: mov rax,[r10]; xor rax,r9; mov ecx,r9d; rol rax,cl; xor rax,r11; bswap rax
//   0x3a xor rax, qword ptr [rip+waitalways] ; KiWaitAlways at 0x90
//   0x41 mov [rdx],rax; add r10,8; add rdx,8; dec r8d; jne loop
//   0x51 done: ret
constexpr std::uint8_t kRoutine[] = {
    0x90, 0x80, 0x3d, 0x78, 0x00, 0x00, 0x00, 0x00, 0x48, 0x89, 0xca, 0x74, 0x44, 0x4c,
    0x8b, 0x0d, 0x74, 0x00, 0x00, 0x00, 0x4c, 0x8d, 0x15, 0x85, 0x00, 0x00, 0x00, 0x4c,
    0x8d, 0x1d, 0x5e, 0x00, 0x00, 0x00, 0x41, 0xb8, 0x70, 0x00, 0x00, 0x00, 0x49, 0x8b,
    0x02, 0x4c, 0x31, 0xc8, 0x44, 0x89, 0xc9, 0x48, 0xd3, 0xc0, 0x4c, 0x31, 0xd8, 0x48,
    0x0f, 0xc8, 0x48, 0x33, 0x05, 0x4f, 0x00, 0x00, 0x00, 0x48, 0x89, 0x02, 0x49, 0x83,
    0xc2, 0x08, 0x48, 0x83, 0xc2, 0x08, 0x41, 0xff, 0xc8, 0x75, 0xd7, 0xc3};

std::vector<std::byte> code_with_routine_at(std::size_t offset, std::size_t total) {
  std::vector<std::byte> code(total, std::byte{0xCC});
  for (std::size_t i = 0; i < sizeof(kRoutine); ++i) code[offset + i] = std::byte{kRoutine[i]};
  return code;
}

}  // namespace

TEST(KdCopyPattern, FindsTheRoutineAndItsOperands) {
  constexpr std::uint64_t kVa = 0xfffff8047ba01000ull;
  auto code = code_with_routine_at(0, 0x100);
  auto matches = pagedump::find_kdcopydatablock(code, kVa);
  ASSERT_EQ(matches.size(), 1u);
  const auto& m = matches[0];
  EXPECT_EQ(m.cmp_va, kVa + 0x01);
  EXPECT_EQ(m.encoded_flag_va, kVa + 0x80);
  ASSERT_EQ(m.lea_targets.size(), 1u);  // the flag's own lea is not a KDBG candidate
  EXPECT_EQ(m.lea_targets[0], kVa + 0xa0);
  ASSERT_EQ(m.qword_loads.size(), 2u);
  EXPECT_EQ(m.qword_loads[0], kVa + 0x88);  // KiWaitNever first
  EXPECT_EQ(m.qword_loads[1], kVa + 0x90);  // then KiWaitAlways
  EXPECT_TRUE(m.has_bswap);
  ASSERT_EQ(m.word_counts.size(), 1u);
  EXPECT_EQ(m.word_counts[0], 0x70u);
  EXPECT_EQ(m.end_va, kVa + 0x52);
}

TEST(KdCopyPattern, FindsItDeepInsideOtherCode) {
  constexpr std::uint64_t kVa = 0xfffff80000400000ull;
  auto code = code_with_routine_at(0x1235, 0x4000);
  auto matches = pagedump::find_kdcopydatablock(code, kVa);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].cmp_va, kVa + 0x1236);
  EXPECT_EQ(matches[0].lea_targets[0], kVa + 0x1235 + 0xa0);
}

TEST(KdCopyPattern, RejectsTheShapeWithoutBswap) {
  auto code = code_with_routine_at(0, 0x100);
  code[0x37] = std::byte{0x90};  // bswap rax -> nop nop nop
  code[0x38] = std::byte{0x90};
  code[0x39] = std::byte{0x90};
  EXPECT_TRUE(pagedump::find_kdcopydatablock(code, 0xfffff80000000000ull).empty());
}

TEST(KdCopyPattern, RejectsACompareWithNonZero) {
  auto code = code_with_routine_at(0, 0x100);
  code[0x07] = std::byte{0x01};  // cmp byte [rip+x], 1
  EXPECT_TRUE(pagedump::find_kdcopydatablock(code, 0xfffff80000000000ull).empty());
}

TEST(KdCopyPattern, TruncatedRoutineAtEndOfCodeIsNotAMatch) {
  auto code = code_with_routine_at(0, sizeof(kRoutine));
  code.resize(0x30);
  EXPECT_TRUE(pagedump::find_kdcopydatablock(code, 0xfffff80000000000ull).empty());
  EXPECT_TRUE(pagedump::find_kdcopydatablock({}, 0).empty());
}

TEST(KdCopyPattern, OpcodeBytesAndNearMissesBeforeItDoNotHideIt) {
  constexpr std::uint64_t kVa = 0xfffff80000400000ull;
  auto code = code_with_routine_at(0x801, 0x1000);
  // 0x80 everywhere before it, and a cmp [rip+x], 1 that must be passed over: the scan resumes
  // one byte after each near miss, so the routine's own 0x80 (at 0x802) is still found.
  for (std::size_t i = 0; i < 0x801; ++i) code[i] = std::byte{0x80};
  const std::uint8_t near_miss[] = {0x80, 0x3d, 0x00, 0x00, 0x00, 0x00, 0x01};
  for (std::size_t i = 0; i < sizeof(near_miss); ++i) code[0x700 + i] = std::byte{near_miss[i]};
  auto matches = pagedump::find_kdcopydatablock(code, kVa);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].cmp_va, kVa + 0x802);
  // The same cmp as the last seven bytes of the code: too short for the routine, no match,
  // no read past the end (ASan checks that).
  std::vector<std::byte> tail(code.begin() + 0x802, code.begin() + 0x809);
  EXPECT_TRUE(pagedump::find_kdcopydatablock(tail, kVa).empty());
}

// Code fed a page at a time, in blocks of 0x1000 (the scanner's smallest useful size is its
// carry, so this puts a block boundary every page or two): the routine is reported once, with
// its whole window, wherever it falls against the boundaries.
namespace {
// A stretch of the code given to the scanner in one call; `zeros`: it holds only zeros, and
// zeros_by_size below gives it with add_zeros instead of its bytes.
struct Piece {
  std::size_t offset, size;
  bool zeros = false;
};
std::vector<pagedump::KdCopyDataBlockMatch> scan_pieces(const std::vector<std::byte>& code,
                                                        std::uint64_t va,
                                                        const std::vector<Piece>& pieces,
                                                        std::size_t block, bool zeros_by_size) {
  pagedump::KdCopyScanner scanner(block);
  std::vector<pagedump::KdCopyDataBlockMatch> out;
  for (const Piece& p : pieces) {
    auto found = p.zeros && zeros_by_size
                     ? scanner.add_zeros(va + p.offset, p.size)
                     : scanner.add(va + p.offset, std::span(code).subspan(p.offset, p.size));
    out.insert(out.end(), found.begin(), found.end());
  }
  auto rest = scanner.end_run();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}
std::vector<pagedump::KdCopyDataBlockMatch> scan_in_pages(const std::vector<std::byte>& code,
                                                          std::uint64_t va,
                                                          std::size_t block) {
  std::vector<Piece> pages;
  for (std::size_t off = 0; off < code.size(); off += 0x1000) {
    pages.push_back({off, std::min<std::size_t>(0x1000, code.size() - off)});
  }
  return scan_pieces(code, va, pages, block, false);
}
}  // namespace

TEST(KdCopyScanner, FindsTheRoutineOnceWhereverTheBlocksEnd) {
  constexpr std::uint64_t kVa = 0xfffff80000400000ull;
  // Every 16th offset across three pages: before, across and after each boundary.
  for (std::size_t at = 0; at + sizeof(kRoutine) <= 0x3000; at += 0x10) {
    const auto code = code_with_routine_at(at, 0x3000);
    const auto whole = pagedump::find_kdcopydatablock(code, kVa);
    ASSERT_EQ(whole.size(), 1u) << at;
    const auto pieces = scan_in_pages(code, kVa, 0x1000);
    ASSERT_EQ(pieces.size(), 1u) << "routine at " << at;
    EXPECT_EQ(pieces[0].cmp_va, whole[0].cmp_va) << at;
    EXPECT_EQ(pieces[0].end_va, whole[0].end_va) << at;
    EXPECT_EQ(pieces[0].lea_targets, whole[0].lea_targets) << at;
    EXPECT_EQ(pieces[0].qword_loads, whole[0].qword_loads) << at;
  }
}

TEST(KdCopyScanner, AGapStartsANewRunAndNothingSpansIt) {
  constexpr std::uint64_t kVa = 0xfffff80000400000ull;
  const auto code = code_with_routine_at(0xFD0, 0x2000);  // across the page boundary
  pagedump::KdCopyScanner scanner(0x1000);
  // The second page arrives one page further on: the routine's bytes are no longer adjacent.
  auto first = scanner.add(kVa, std::span(code).first(0x1000));
  auto second = scanner.add(kVa + 0x2000, std::span(code).subspan(0x1000));
  auto rest = scanner.end_run();
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
  EXPECT_TRUE(rest.empty());
  // Adjacent, the same two pages hold it.
  pagedump::KdCopyScanner joined(0x1000);
  EXPECT_TRUE(joined.add(kVa, std::span(code).first(0x1000)).empty());
  auto found = joined.add(kVa + 0x1000, std::span(code).subspan(0x1000));
  auto tail = joined.end_run();
  found.insert(found.end(), tail.begin(), tail.end());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].cmp_va, kVa + 0xFD1);
}

// Zeros the source knows without reading them (holes of a sparse image) are given to the
// scanner by size only: what it reports must be what the zero bytes themselves give, for
// routines whose windows run into the zeros, routines after them, and stretches of zeros
// shorter than a window.
TEST(KdCopyScanner, ZerosAddedBySizeFindWhatTheZeroBytesFind) {
  constexpr std::uint64_t kVa = 0xfffff80000400000ull;
  // Code, a page of zeros, code, 0x100 zeros (shorter than a window), code, two pages of zeros.
  const std::vector<Piece> pieces = {{0x0000, 0x1000, false}, {0x1000, 0x1000, true},
                                     {0x2000, 0x0F00, false}, {0x2F00, 0x0100, true},
                                     {0x3000, 0x1000, false}, {0x4000, 0x2000, true}};
  std::size_t reported = 0;
  for (std::size_t at = 0; at + sizeof(kRoutine) <= 0x4000; at += 0x10) {
    auto code = code_with_routine_at(at, 0x6000);
    bool in_zeros = false;
    for (const Piece& p : pieces) {
      if (!p.zeros) continue;
      in_zeros |= at < p.offset + p.size && at + sizeof(kRoutine) > p.offset;
      std::fill_n(code.begin() + static_cast<std::ptrdiff_t>(p.offset), p.size, std::byte{0});
    }
    if (in_zeros) continue;  // a routine overwritten by zeros is not there to find
    const auto bytes = scan_pieces(code, kVa, pieces, 0x1000, false);
    const auto sizes = scan_pieces(code, kVa, pieces, 0x1000, true);
    ASSERT_EQ(sizes.size(), bytes.size()) << "routine at " << at;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      EXPECT_EQ(sizes[i].cmp_va, bytes[i].cmp_va) << at;
      EXPECT_EQ(sizes[i].end_va, bytes[i].end_va) << at;
      EXPECT_EQ(sizes[i].lea_targets, bytes[i].lea_targets) << at;
      EXPECT_EQ(sizes[i].qword_loads, bytes[i].qword_loads) << at;
      EXPECT_EQ(sizes[i].word_counts, bytes[i].word_counts) << at;
    }
    reported += bytes.size();
  }
  // Each routine that fits between the zeros is found once, its window running into them:
  // 251 positions in the first stretch of code (0 to 0xFA0), 235 in the second (0x2000 to
  // 0x2EA0), 251 in the third (0x3000 to 0x3FA0).
  EXPECT_EQ(reported, 251u + 235u + 251u);
}
