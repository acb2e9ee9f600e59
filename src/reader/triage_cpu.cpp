// The crashing processor of a triage dump, found the way WinDbg finds per-CPU state
// (reference §7.2): the KPRCB's CONTEXT pointer at KPRCB + KDBG.OffsetPrcbContext.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"

namespace pagedump {

namespace {

std::uint64_t load_pointer(std::span<const std::byte> bytes, std::size_t at, bool is64) {
  if (is64) return format::load<std::uint64_t>(bytes, at);
  return format::load<std::uint32_t>(bytes, at);
}

// Compares two runs of the file in bounded chunks.
bool same_bytes(const InputFile& file, std::uint64_t a, std::uint64_t b, std::uint64_t size) {
  std::array<std::byte, 0x4000> x, y;
  for (std::uint64_t done = 0; done < size;) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(x.size(), size - done));
    file.read_exact(a + done, std::span(x).first(n), "triage data block");
    file.read_exact(b + done, std::span(y).first(n), "triage KPRCB copy");
    if (!std::equal(x.begin(), x.begin() + n, y.begin())) return false;
    done += n;
  }
  return true;
}

}  // namespace

CrashingProcessor TriageDump::crashing_processor(const TriageView& view) const {
  if (!kdbg_) {
    throw Error(ErrorKind::not_present, "triage dump: no KDBG copy, so the KPRCB offsets are unknown");
  }
  if (prcb_range_.empty()) {
    throw Error(ErrorKind::not_present, "triage dump: no KPRCB copy (PrcbOffset is 0)");
  }
  const format::KdDebuggerData64& k = *kdbg_;
  const std::size_t ptr = is64_ ? 8 : 4;
  const std::size_t ctx_size = context_size_for_machine(machine_);
  if (ctx_size == 0) {
    throw Error(ErrorKind::unsupported,
                fmt::format("triage dump: no CONTEXT layout for MachineImageType {:#x}", machine_));
  }
  // Every KDBG offset into the KPRCB is 16 bits, so the head of the copy holds all that is
  // needed; reading no more keeps memory bounded whatever size the copy claims.
  const std::uint64_t head = std::min<std::uint64_t>(prcb_range_.size, 0x10000 + ctx_size);
  const std::vector<std::byte> prcb = read_range({prcb_range_.offset, head});

  CrashingProcessor cpu;
  cpu.machine = machine_;
  if (std::size_t(k.OffsetPrcbNumber) + 2 > prcb.size()) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("triage dump: KDBG OffsetPrcbNumber {:#x} is outside the {:#x}-byte KPRCB copy at {:#x}",
                            k.OffsetPrcbNumber, prcb.size(), prcb_range_.offset));
  }
  // KPRCB.Number is a USHORT on x64 (0x24 on 19041, as the KDBG says). 32-bit kernels have
  // had a UCHAR and a ULONG there, so the 16 bits read are only trusted below
  // NumberProcessors; otherwise the KPRCB is found by content.
  cpu.number = format::load<std::uint16_t>(prcb, k.OffsetPrcbNumber);
  const bool number_ok = number_processors_ == 0 || cpu.number < number_processors_;

  // The KPRCB's VA is what KiProcessorBlock[Number] holds: the kernel's own definition,
  // which is what a debugger uses. Windows puts the KiProcessorBlock array in a data block.
  // Matching the copy's bytes against the data blocks would also work, but it costs reading
  // every block of that size and could match two identical blocks; it is the fallback when the
  // array is not carried.
  std::byte slot[8] = {};
  const std::uint64_t slot_va = k.KiProcessorBlock + std::uint64_t(cpu.number) * ptr;
  if (number_ok && k.KiProcessorBlock != 0 && view.read_virtual(slot_va, std::span(slot, ptr))) {
    cpu.prcb_va = load_pointer(slot, 0, is64_);
  } else {
    for (const auto& b : blocks_) {
      if (b.size == prcb_range_.size && same_bytes(*file_, b.file_offset, prcb_range_.offset, b.size)) {
        cpu.prcb_va = b.address;
        break;
      }
    }
    if (cpu.prcb_va == 0) {
      const std::string why =
          number_ok ? fmt::format("KiProcessorBlock[{}] at {:#x} is not in the dump", cpu.number, slot_va)
                    : fmt::format("KPRCB.Number {} is not below NumberProcessors {}", cpu.number,
                                  number_processors_);
      throw Error(ErrorKind::not_present,
                  fmt::format("triage dump: {} and no data block holds the KPRCB copy, so the KPRCB's "
                              "address is unknown",
                              why));
    }
  }
  if (!is64_) cpu.prcb_va &= 0xFFFFFFFFull;

  // Windows 7+: KPRCB + OffsetPrcbContext holds a pointer to the CONTEXT the processor saved
  // at the bugcheck. The pointer is read from the copy; the CONTEXT through the view.
  std::string why;
  if (k.OffsetPrcbContext != 0 && std::size_t(k.OffsetPrcbContext) + ptr <= prcb.size()) {
    std::uint64_t ctx_va = load_pointer(prcb, k.OffsetPrcbContext, is64_);
    cpu.context.resize(ctx_size);
    ReadResult r = view.read_virtual(ctx_va, cpu.context);
    if (r) {
      cpu.context_va = is64_ ? ctx_va : (ctx_va & 0xFFFFFFFFull);
      cpu.source = CrashingProcessor::Source::prcb_context_pointer;
      return cpu;
    }
    why = fmt::format("the CONTEXT pointer at KPRCB + {:#x} is {:#x}, and {}", k.OffsetPrcbContext, ctx_va,
                      describe(r, "virtual"));
  } else {
    why = fmt::format("KDBG OffsetPrcbContext {:#x} is unset or outside the KPRCB copy", k.OffsetPrcbContext);
  }
  // Older kernels (and x86) keep the frame inside the KPRCB: ProcessorState.ContextFrame.
  if (k.OffsetPrcbProcStateContext != 0 && std::size_t(k.OffsetPrcbProcStateContext) + ctx_size <= prcb.size()) {
    cpu.context.assign(prcb.begin() + k.OffsetPrcbProcStateContext,
                       prcb.begin() + k.OffsetPrcbProcStateContext + std::ptrdiff_t(ctx_size));
    cpu.context_va = cpu.prcb_va + k.OffsetPrcbProcStateContext;
    cpu.source = CrashingProcessor::Source::prcb_processor_state;
    return cpu;
  }
  throw Error(ErrorKind::not_present, fmt::format("triage dump: the crashing processor's CONTEXT is not in the "
                                                  "dump: {}; no ProcessorState.ContextFrame either",
                                                  why));
}

}  // namespace pagedump
