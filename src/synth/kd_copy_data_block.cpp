#include "pagedump/synth/kd_copy_data_block.h"

#include <initializer_list>
#include <stdexcept>

namespace pagedump::synth {

namespace {

class Emitter {
 public:
  explicit Emitter(std::uint32_t base_rva) : base_(base_rva) {}
  void bytes(std::initializer_list<std::uint8_t> b) {
    for (auto x : b) out_.push_back(std::byte(x));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(std::byte((v >> (8 * i)) & 0xFF));
  }
  // disp32 relative to the end of the instruction, which has `tail` more bytes after it.
  void rip_disp(std::uint32_t target_rva, std::uint32_t tail = 0) {
    std::int64_t next = std::int64_t(base_) + std::int64_t(out_.size()) + 4 + tail;
    std::int64_t disp = std::int64_t(target_rva) - next;
    if (disp < INT32_MIN || disp > INT32_MAX) throw std::out_of_range("rip displacement");
    u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(disp)));
  }
  // rel8 of a short jump whose opcode was just emitted, to `target` (offset in the routine).
  void rel8_to(std::uint32_t target) {
    std::int64_t rel = std::int64_t(target) - std::int64_t(out_.size() + 1);
    if (rel < -128 || rel > 127) throw std::out_of_range("short jump");
    out_.push_back(std::byte(static_cast<std::uint8_t>(static_cast<std::int8_t>(rel))));
  }
  std::uint32_t here() const { return static_cast<std::uint32_t>(out_.size()); }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::uint32_t base_;
  std::vector<std::byte> out_;
};

}  // namespace

std::vector<std::byte> assemble_kd_copy_data_block(const KdCopyDataBlockLayout& l) {
  if (l.kdbg_size == 0 || l.kdbg_size % 8 != 0) throw std::invalid_argument("KDBG size");
  const std::uint32_t count = l.kdbg_size / 8;
  constexpr std::uint32_t kLoop = 42, kPlain = 81, kPlainLoop = 94;
  Emitter e(l.code_rva);
  // clang-format off
  // void KdCopyDataBlock(void* destination /* rcx */)
  e.bytes({0x80, 0x3D}); e.rip_disp(l.encoded_flag_rva, 1); e.bytes({0x00});  // +0  cmp byte ptr [rip+KdpDataBlockEncoded], 0
  e.bytes({0x4C, 0x8B, 0xD1});                                             // +7  mov r10, rcx
  e.bytes({0x74}); e.rel8_to(kPlain);                                      // +10 je plain
  e.bytes({0x48, 0x8D, 0x15}); e.rip_disp(l.kdbg_rva);                     // +12 lea rdx, [rip+KdDebuggerDataBlock]
  e.bytes({0x4C, 0x8B, 0x05}); e.rip_disp(l.wait_never_rva);               // +19 mov r8, [rip+KiWaitNever]
  e.bytes({0x4C, 0x8D, 0x1D}); e.rip_disp(l.encoded_flag_rva);             // +26 lea r11, [rip+KdpDataBlockEncoded]
  e.bytes({0x41, 0xB9}); e.u32(count);                                     // +33 mov r9d, Size/8
  e.bytes({0x41, 0x8B, 0xC8});                                             // +39 mov ecx, r8d (rotate count = WN mod 64)
  if (e.here() != kLoop) throw std::logic_error("KdCopyDataBlock layout");
  // loop: one 8-byte word, P = bswap(rol(W ^ WN, WN) ^ &KdpDataBlockEncoded) ^ WA
  e.bytes({0x48, 0x8B, 0x02});                                             // +42 mov rax, [rdx]
  e.bytes({0x49, 0x33, 0xC0});                                             // +45 xor rax, r8
  e.bytes({0x48, 0xD3, 0xC0});                                             // +48 rol rax, cl
  e.bytes({0x49, 0x33, 0xC3});                                             // +51 xor rax, r11
  e.bytes({0x48, 0x0F, 0xC8});                                             // +54 bswap rax
  e.bytes({0x48, 0x33, 0x05}); e.rip_disp(l.wait_always_rva);              // +57 xor rax, [rip+KiWaitAlways]
  e.bytes({0x49, 0x89, 0x02});                                             // +64 mov [r10], rax
  e.bytes({0x48, 0x83, 0xC2, 0x08});                                       // +67 add rdx, 8
  e.bytes({0x49, 0x83, 0xC2, 0x08});                                       // +71 add r10, 8
  e.bytes({0x41, 0xFF, 0xC9});                                             // +75 dec r9d
  e.bytes({0x75}); e.rel8_to(kLoop);                                       // +78 jne loop
  e.bytes({0xC3});                                                         // +80 ret
  if (e.here() != kPlain) throw std::logic_error("KdCopyDataBlock layout");
  // plain: the block is not encoded, copy it as is
  e.bytes({0x48, 0x8D, 0x15}); e.rip_disp(l.kdbg_rva);                     // +81 lea rdx, [rip+KdDebuggerDataBlock]
  e.bytes({0x41, 0xB9}); e.u32(count);                                     // +88 mov r9d, Size/8
  e.bytes({0x48, 0x8B, 0x02});                                             // +94 mov rax, [rdx]
  e.bytes({0x49, 0x89, 0x02});                                             // +97 mov [r10], rax
  e.bytes({0x48, 0x83, 0xC2, 0x08});                                       // +100 add rdx, 8
  e.bytes({0x49, 0x83, 0xC2, 0x08});                                       // +104 add r10, 8
  e.bytes({0x41, 0xFF, 0xC9});                                             // +108 dec r9d
  e.bytes({0x75}); e.rel8_to(kPlainLoop);                                  // +111 jne plain loop
  e.bytes({0xC3});                                                         // +113 ret
  // clang-format on
  if (e.here() != kd_copy_offsets::kSize) throw std::logic_error("KdCopyDataBlock layout");
  return e.take();
}

}  // namespace pagedump::synth
