#include "pagedump/cpu_state.h"

namespace pagedump {

std::vector<std::pair<std::string, std::uint64_t>> CpuState::named_registers() const {
  static constexpr const char* k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static constexpr const char* k32[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
  static constexpr const char* kSeg[] = {"es", "cs", "ss", "ds", "fs", "gs"};
  std::vector<std::pair<std::string, std::uint64_t>> out;
  const bool x64 = arch == CpuArch::x64;
  for (int i = 0; i < (x64 ? 16 : 8); ++i) out.emplace_back(x64 ? k64[i] : k32[i], gpr[i]);
  out.emplace_back(x64 ? "rip" : "eip", rip);
  out.emplace_back(x64 ? "rflags" : "eflags", rflags);
  for (int i = 0; i < 6; ++i) {
    out.emplace_back(kSeg[i], seg[i].selector);
    out.emplace_back(std::string(kSeg[i]) + "_base", seg[i].base);
  }
  out.emplace_back("cr0", cr0);
  out.emplace_back("cr2", cr2);
  out.emplace_back("cr3", cr3);
  out.emplace_back("cr4", cr4);
  if (efer) out.emplace_back("efer", *efer);
  if (gs_base) out.emplace_back("gs_base_msr", *gs_base);
  if (kernel_gs_base) out.emplace_back("kernel_gs_base", *kernel_gs_base);
  out.emplace_back("gdtr_base", gdtr.base);
  out.emplace_back("gdtr_limit", gdtr.limit);
  out.emplace_back("idtr_base", idtr.base);
  out.emplace_back("idtr_limit", idtr.limit);
  if (fcw) out.emplace_back("fcw", *fcw);
  if (fsw) out.emplace_back("fsw", *fsw);
  if (ftw) out.emplace_back("ftw", *ftw);
  if (mxcsr) out.emplace_back("mxcsr", *mxcsr);
  return out;
}

}  // namespace pagedump
