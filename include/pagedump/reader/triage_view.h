// The virtual addresses a triage dump carries (reference §5.4 "How readers map VAs"): every
// data block at its Address, the data page at DataPageAddress, the stack at
// [TopOfStack, TopOfStack + SizeOfCallStack) and the KDBG copy at the main header's
// KdDebuggerDataBlock. Everything else is not mapped: there is no page table in a triage dump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pagedump/reader/triage_dump.h"
#include "pagedump/virtual_memory.h"

namespace pagedump {

class TriageView : public VirtualMemory {
 public:
  // Keeps references to the dump and its file; both must outlive the view.
  explicit TriageView(const TriageDump& dump);

  // A read may span regions that touch; a gap or the end of a region gives not_mapped with
  // the first missing VA. On 32-bit dumps addresses are 32 bits wide, and a sign-extended
  // address (as the KDBG and the data-block table store them) is accepted as well.
  ReadResult read_virtual(std::uint64_t va, std::span<std::byte> out) const override;

  // True when every byte of [va, va + size) is mapped.
  bool is_mapped(std::uint64_t va, std::uint64_t size) const;

  const TriageDump& dump() const noexcept { return *dump_; }

 private:
  const TriageDump* dump_;
  std::uint64_t normalise(std::uint64_t va, bool& ok) const noexcept;
  // Region holding va, or nullptr.
  const TriageBlock* find(std::uint64_t va) const noexcept;
};

}  // namespace pagedump
