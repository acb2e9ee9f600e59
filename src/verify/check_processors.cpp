// processors.*: what a debugger shows for each processor (reference §7).
#include <algorithm>
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/context.h"
#include "pagedump/format/dump_header.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

constexpr std::uint32_t kMaxProcessors = 2048;

struct Registers {
  std::uint32_t flags = 0;
  std::uint64_t ip = 0, sp = 0;
  std::uint16_t cs = 0, ss = 0;
};

std::optional<Registers> decode(const Context& c, std::span<const std::byte> ctx) {
  Registers r;
  if (c.machine == format::machine::kAmd64 && ctx.size() >= sizeof(format::ContextAmd64)) {
    auto x = format::load<format::ContextAmd64>(ctx);
    r = {x.ContextFlags, x.Rip, x.Rsp, x.SegCs, x.SegSs};
    return r;
  }
  if (c.machine == format::machine::kI386 && ctx.size() >= sizeof(format::ContextI386)) {
    auto x = format::load<format::ContextI386>(ctx);
    r = {x.ContextFlags, x.Eip, x.Esp, static_cast<std::uint16_t>(x.SegCs), static_cast<std::uint16_t>(x.SegSs)};
    return r;
  }
  return std::nullopt;
}

std::size_t context_size(const Context& c) {
  return c.machine == format::machine::kAmd64 ? sizeof(format::ContextAmd64) : sizeof(format::ContextI386);
}

// Returns "" when the context is what a debugger can use, else what is wrong. `user` is set
// when the processor was simply running user code.
std::string judge(const Context& c, const Registers& r, bool& user) {
  const bool x64 = c.machine == format::machine::kAmd64;
  const std::uint32_t need = (x64 ? format::context_flags::kAmd64 : format::context_flags::kI386) |
                             format::context_flags::kControl | format::context_flags::kInteger;
  if ((r.flags & need) != need) {
    return fmt::format("ContextFlags is {:#x}; expected at least {:#x} (architecture, control, integer)", r.flags, need);
  }
  const std::uint16_t kcs = x64 ? format::kernel_selectors_x64::kCs : format::kernel_selectors_x86::kCs;
  const std::uint16_t kss = x64 ? format::kernel_selectors_x64::kSs : format::kernel_selectors_x86::kSs;
  if ((r.cs & 3) == 3) {
    user = true;
    return fmt::format("CS {:#x} is a user-mode selector (rip {:#x})", r.cs, r.ip);
  }
  if (r.cs != kcs || (r.ss != kss && r.ss != 0)) {
    return fmt::format("CS/SS are {:#x}/{:#x}; expected the kernel's {:#x}/{:#x}", r.cs, r.ss, kcs, kss);
  }
  if (c.modules_complete && !c.module_at(r.ip)) {
    return fmt::format("the instruction pointer {:#x} is in no loaded module", r.ip);
  }
  std::array<std::byte, 8> probe{};
  if (!c.read(r.sp, probe)) {
    return fmt::format("the stack pointer {:#x} is not in mapped memory: {}", r.sp, c.why_unreadable(r.sp));
  }
  return {};
}

std::string describe_ok(const Context& c, const Registers& r) {
  const ModuleEntry* m = c.module_at(r.ip);
  return fmt::format("ip {:#x}{}, sp {:#x}", r.ip, m ? fmt::format(" ({}+{:#x})", m->name, r.ip - m->base) : "", r.sp);
}

void check_processor_block(Context& c, std::uint32_t n) {
  const std::uint64_t block = c.kdbg->KiProcessorBlock;
  const std::size_t ptr = c.is64 ? 8 : 4;
  std::vector<std::uint64_t> prcbs;
  for (std::uint32_t i = 0; i < kMaxProcessors; ++i) {
    auto p = c.read_ptr(block + i * ptr);
    if (!p || *p == 0) break;
    prcbs.push_back(c.kva(*p));
  }
  if (prcbs.size() != n) {
    c.add("processors.count", CheckStatus::fail,
          "NumberProcessors (file offset {:#x}) is {} but KiProcessorBlock at {} has {} entries", c.is64 ? 0x34 : 0x2C,
          n, c.where(block), prcbs.size());
    return;
  }
  c.add("processors.count", CheckStatus::pass, "{} processors in KiProcessorBlock at VA {:#x}", n, block);
  const auto& k = *c.kdbg;
  std::size_t good = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint64_t ctx_va = 0;
    if (k.OffsetPrcbContext) {
      if (auto p = c.read_ptr(prcbs[i] + k.OffsetPrcbContext); p && *p) ctx_va = c.kva(*p);
    }
    if (!ctx_va && k.OffsetPrcbProcStateContext) ctx_va = prcbs[i] + k.OffsetPrcbProcStateContext;
    std::vector<std::byte> bytes(context_size(c));
    if (!ctx_va || !c.read(ctx_va, bytes)) {
      c.add("processors.context", CheckStatus::fail, "processor {} (KPRCB {:#x}): its CONTEXT at VA {:#x} cannot be read: {}",
            i, prcbs[i], ctx_va, c.why_unreadable(ctx_va));
      continue;
    }
    bool user = false;
    const auto r = *decode(c, bytes);
    const std::string bad = judge(c, r, user);
    if (!bad.empty()) {
      c.add("processors.context", user ? CheckStatus::warn : CheckStatus::fail, "processor {}: the CONTEXT at {}: {}", i,
            c.where(ctx_va), bad);
      continue;
    }
    ++good;
  }
  if (good == n) c.add("processors.context", CheckStatus::pass, "all {} processor contexts are kernel-mode and point "
                       "into loaded modules and mapped stacks", n);
}

bool is_exception_bugcheck(std::uint32_t code) {
  return code == 0x1E || code == 0x7E || code == 0x8E || code == 0x1000007E || code == 0x1000008E;
}

void check_header_context(Context& c) {
  const auto& h = c.dump->header();
  const auto r = decode(c, c.dump->context_bytes());
  if (!r) {
    c.add("processors.header_context", CheckStatus::skip, "no x64/x86 CONTEXT in the header");
    return;
  }
  bool user = false;
  const std::string bad = judge(c, *r, user);
  const std::uint64_t off = c.is64 ? 0x348 : 0x320;
  if (!bad.empty()) {
    c.add("processors.header_context", user ? CheckStatus::warn : CheckStatus::fail, "the header CONTEXT (file offset {:#x}): {}", off, bad);
    return;
  }
  const std::uint32_t code = h.bugcheck_code.value_or(0);
  if (is_exception_bugcheck(code) && h.bugcheck_parameters[1] && c.kva(*h.bugcheck_parameters[1]) != c.kva(r->ip)) {
    c.add("processors.header_context", CheckStatus::warn,
          "bugcheck {:#x} names the exception address {:#x} (parameter 2), but the header CONTEXT's ip is {:#x}", code,
          *h.bugcheck_parameters[1], r->ip);
    return;
  }
  if (!c.dump->exception().code) {
    c.add("processors.header_context", CheckStatus::warn, "the header CONTEXT is usable ({}) but the exception record "
          "(file offset {:#x}) is the 'PAGE' fill", describe_ok(c, *r), c.is64 ? 0xF00 : 0x7D0);
    return;
  }
  c.add("processors.header_context", CheckStatus::pass, "header CONTEXT {}; exception {:#x} at {:#x}", describe_ok(c, *r),
        *c.dump->exception().code, c.dump->exception().address.value_or(0));
}

void check_triage_processor(Context& c) {
  try {
    const auto cpu = c.triage->crashing_processor(*c.triage_view);
    auto r = decode(c, cpu.context);
    if (!r) {
      c.add("processors.context", CheckStatus::skip, "no x64/x86 CONTEXT for the crashing processor");
      return;
    }
    bool user = false;
    const std::string bad = judge(c, *r, user);
    if (!bad.empty()) {
      c.add("processors.context", user ? CheckStatus::warn : CheckStatus::fail,
            "crashing processor {} (CONTEXT at VA {:#x}): {}", cpu.number, cpu.context_va, bad);
    } else {
      c.add("processors.context", CheckStatus::pass, "crashing processor {}: {}", cpu.number, describe_ok(c, *r));
    }
  } catch (const Error& e) {
    c.add("processors.context", CheckStatus::fail, "the crashing processor's CONTEXT: {}", e.what());
  }
}

}  // namespace

void check_processors(Context& c) {
  if (!c.dump || !c.kdbg) {
    c.add("processors.count", CheckStatus::skip, "no usable KDBG");
    return;
  }
  const auto n = c.dump->header().number_processors;
  if (!n || *n == 0 || *n > kMaxProcessors) {
    c.add("processors.count", CheckStatus::fail, "NumberProcessors (file offset {:#x}) is {}; expected 1..{}",
          c.is64 ? 0x34 : 0x2C, n ? fmt::format("{}", *n) : std::string("the 'PAGE' fill"), kMaxProcessors);
    return;
  }
  if (c.machine != format::machine::kAmd64 && c.machine != format::machine::kI386) {
    c.add("processors.count", CheckStatus::skip, "processor checks cover x64 and x86 dumps");
    return;
  }
  if (c.triage) {
    std::array<std::byte, 8> probe{};
    if (c.read(c.kdbg->KiProcessorBlock, probe)) {
      check_processor_block(c, *n);
      c.checks.erase(std::remove_if(c.checks.begin(), c.checks.end(),
                                    [](const Check& k) { return k.id == "processors.context"; }),
                     c.checks.end());
    } else {
      c.add("processors.count", CheckStatus::skip, "KiProcessorBlock is not among the small dump's data blocks");
    }
    check_triage_processor(c);
  } else {
    check_processor_block(c, *n);
  }
  check_header_context(c);
}

}  // namespace pagedump::verify::detail
