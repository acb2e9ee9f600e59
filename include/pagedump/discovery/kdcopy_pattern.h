// Recognises nt!KdCopyDataBlock in x64 kernel code, the routine that decodes the Windows 8+
// encoded KDBG, and extracts the addresses the decoding needs (reference §6.4): the flag
// nt!KdpDataBlockEncoded (compared with 0 first, and its address is itself a key), the block
// nt!KdDebuggerDataBlock (a rip-relative lea), and the two 64-bit globals nt!KiWaitNever and
// nt!KiWaitAlways (rip-relative qword loads), in a routine that byte-swaps and runs a loop of
// Size/8 words. Instruction order differs between builds, so every plausible candidate is
// returned in code order; the caller decides by decoding the block (tag 'KDBG', KernBase).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pagedump {

struct KdCopyDataBlockMatch {
  std::uint64_t cmp_va = 0;                  // the `cmp byte [rip+x], 0`
  std::uint64_t encoded_flag_va = 0;         // x: &KdpDataBlockEncoded
  std::vector<std::uint64_t> lea_targets;    // rip-relative lea targets other than the flag
  std::vector<std::uint64_t> qword_loads;    // mov/xor r64, qword [rip+x] targets, in order
  std::vector<std::uint32_t> word_counts;    // immediates that read as a KDBG Size / 8
  bool has_bswap = false;
  std::uint64_t end_va = 0;                  // first byte after the decoded window
};

// The most bytes one candidate routine is decoded over, from its cmp.
inline constexpr std::size_t kKdCopyWindow = 0x180;

// Scans `code` (mapped at `code_va`) for KdCopyDataBlock-shaped routines. At most
// `max_matches` are returned; each candidate window is at most kKdCopyWindow bytes, so the
// cost is linear in the code size.
std::vector<KdCopyDataBlockMatch> find_kdcopydatablock(std::span<const std::byte> code,
                                                       std::uint64_t code_va,
                                                       std::size_t max_matches = 16);

// The same scan over code that arrives in pieces (pages read one by one), in memory bounded by
// the block size whatever the code's size. Each block that more code follows keeps its last
// bytes for the next, and only routines starting before them are reported from it, so each
// routine is reported once and decoded over its whole window, across block boundaries too.
// Code that does not follow the previous piece (an unreadable page between) starts a new run.
class KdCopyScanner {
 public:
  explicit KdCopyScanner(std::size_t block_bytes = 64 * 1024);
  // Adds `code` mapped at `va`; returns the routines it completed, in code order.
  std::vector<KdCopyDataBlockMatch> add(std::uint64_t va, std::span<const std::byte> code);
  // The same as add() of `size` zero bytes at `va`, without the bytes: for pages the source
  // knows are zeros (a hole of a sparse image), which no routine starts in. Only the zeros a
  // window from the code before them can reach are kept; a longer stretch ends the run.
  std::vector<KdCopyDataBlockMatch> add_zeros(std::uint64_t va, std::size_t size);
  // Ends the run (the code's end, or a gap before what comes next); returns what it held.
  std::vector<KdCopyDataBlockMatch> end_run();

 private:
  std::vector<KdCopyDataBlockMatch> take(bool run_ends);
  std::size_t block_;
  std::vector<std::byte> code_;
  std::uint64_t va_ = 0;  // of code_[0]
};

}  // namespace pagedump
