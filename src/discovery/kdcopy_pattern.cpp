#include "pagedump/discovery/kdcopy_pattern.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "pagedump/format/kdbg.h"
#include "pagedump/physical_memory.h"

namespace pagedump {
namespace {

// What a block keeps for the next: a routine starting before it has its whole window.
constexpr std::size_t kCarry = kKdCopyWindow + 0x80;

bool is_rip_relative(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_MEMORY && op.mem.base == ZYDIS_REGISTER_RIP &&
         op.mem.index == ZYDIS_REGISTER_NONE;
}

bool is_gpr64(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER &&
         ZydisRegisterGetClass(op.reg.value) == ZYDIS_REGCLASS_GPR64;
}

void push_unique(std::vector<std::uint64_t>& v, std::uint64_t x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// Decodes one window starting at the cmp; returns false when it is not the routine's shape.
bool analyse(const ZydisDecoder& decoder, std::span<const std::byte> code, std::uint64_t code_va,
             std::size_t start, KdCopyDataBlockMatch& m) {
  std::size_t pos = start;
  const std::size_t end = std::min(code.size(), start + kKdCopyWindow);
  bool first = true;
  while (pos < end) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(ZydisDecoderDecodeFull(&decoder, code.data() + pos, end - pos, &insn, ops))) {
      break;
    }
    const std::uint64_t va = code_va + pos;
    if (first) {
      // The anchor: cmp byte ptr [rip+x], 0.
      ZyanU64 target = 0;
      if (insn.mnemonic != ZYDIS_MNEMONIC_CMP || insn.operand_count_visible != 2 ||
          !is_rip_relative(ops[0]) || ops[0].size != 8 ||
          ops[1].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || ops[1].imm.value.u != 0 ||
          ZYAN_FAILED(ZydisCalcAbsoluteAddress(&insn, &ops[0], va, &target))) {
        return false;
      }
      m.cmp_va = va;
      m.encoded_flag_va = target;
      first = false;
    } else {
      switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_BSWAP: m.has_bswap = true; break;
        case ZYDIS_MNEMONIC_LEA: {
          ZyanU64 target = 0;
          if (is_gpr64(ops[0]) && is_rip_relative(ops[1]) &&
              ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[1], va, &target)) &&
              target != m.encoded_flag_va) {
            push_unique(m.lea_targets, target);
          }
          break;
        }
        case ZYDIS_MNEMONIC_MOV:
        case ZYDIS_MNEMONIC_XOR: {
          ZyanU64 target = 0;
          if (insn.operand_count_visible == 2 && is_gpr64(ops[0]) && is_rip_relative(ops[1]) &&
              ops[1].size == 64 &&
              ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[1], va, &target))) {
            push_unique(m.qword_loads, target);
          }
          break;
        }
        default: break;
      }
      for (std::size_t i = 0; i < insn.operand_count_visible; ++i) {
        if (ops[i].type != ZYDIS_OPERAND_TYPE_IMMEDIATE) continue;
        const std::uint64_t imm = ops[i].imm.value.u;
        if (imm < 0x800 / 8 && format::plausible_kdbg_size(static_cast<std::uint32_t>(imm * 8)) &&
            imm * 8 >= format::kdbg_size::kXp) {
          m.word_counts.push_back(static_cast<std::uint32_t>(imm));
        }
      }
      if (insn.mnemonic == ZYDIS_MNEMONIC_RET) {
        pos += insn.length;
        break;
      }
    }
    pos += insn.length;
  }
  m.end_va = code_va + pos;
  return m.has_bswap && !m.lea_targets.empty() && m.qword_loads.size() >= 2;
}

}  // namespace

std::vector<KdCopyDataBlockMatch> find_kdcopydatablock(std::span<const std::byte> code,
                                                       std::uint64_t code_va,
                                                       std::size_t max_matches) {
  std::vector<KdCopyDataBlockMatch> out;
  ZydisDecoder decoder;
  if (ZYAN_FAILED(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64))) {
    return out;
  }
  // 80 3D disp32 00: cmp byte ptr [rip+disp32], 0. memchr finds each 0x80 at memory speed (a
  // byte loop took a third of a sparse image's whole conversion).
  const auto* bytes = reinterpret_cast<const unsigned char*>(code.data());
  for (std::size_t i = 0; i + 7 <= code.size() && out.size() < max_matches; ++i) {
    const void* hit = std::memchr(bytes + i, 0x80, code.size() - 6 - i);
    if (!hit) break;
    i = static_cast<std::size_t>(static_cast<const unsigned char*>(hit) - bytes);
    if (bytes[i + 1] != 0x3D || bytes[i + 6] != 0x00) continue;
    KdCopyDataBlockMatch m;
    if (analyse(decoder, code, code_va, i, m)) out.push_back(std::move(m));
  }
  return out;
}

KdCopyScanner::KdCopyScanner(std::size_t block_bytes) : block_(std::max(block_bytes, kCarry)) {
  // Room for a block, its carry and the page added last: code added a page at a time is never
  // moved to a larger buffer, so the memory touched is the block's (growing by doubling
  // touched 156 KiB, a tenth of the page faults of a whole sparse conversion).
  code_.reserve(block_ + kCarry + kPageSize);
}

std::vector<KdCopyDataBlockMatch> KdCopyScanner::add(std::uint64_t va,
                                                     std::span<const std::byte> code) {
  std::vector<KdCopyDataBlockMatch> out;
  if (!code_.empty() && va != va_ + code_.size()) out = end_run();
  if (code_.empty()) va_ = va;
  code_.insert(code_.end(), code.begin(), code.end());
  if (code_.size() >= block_ + kCarry) {
    auto more = take(false);
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  }
  return out;
}

std::vector<KdCopyDataBlockMatch> KdCopyScanner::add_zeros(std::uint64_t va, std::size_t size) {
  // Zeros after a gap end the run before them, and start no routine of their own.
  if (!code_.empty() && va != va_ + code_.size()) return end_run();
  // Nothing is pending: code after the zeros starts a new run with the same routines as if the
  // zeros had been added.
  if (code_.empty()) return {};
  if (size < kCarry) return add(va, std::vector<std::byte>(size));
  // Every window that starts before the zeros ends inside the first kCarry of them.
  code_.resize(code_.size() + kCarry);
  return take(true);
}

std::vector<KdCopyDataBlockMatch> KdCopyScanner::end_run() { return take(true); }

std::vector<KdCopyDataBlockMatch> KdCopyScanner::take(bool run_ends) {
  const std::size_t keep = run_ends ? 0 : kCarry;
  const std::uint64_t starts_before = va_ + code_.size() - keep;
  auto found = find_kdcopydatablock(code_, va_);
  std::erase_if(found, [&](const KdCopyDataBlockMatch& m) { return m.cmp_va >= starts_before; });
  code_.erase(code_.begin(), code_.end() - static_cast<std::ptrdiff_t>(keep));
  va_ = starts_before;
  return found;
}

}  // namespace pagedump
