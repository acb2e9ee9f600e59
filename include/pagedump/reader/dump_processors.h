// Each processor's register state as WinDbg shows it: through the KDBG at the header's
// KdDebuggerDataBlock, KiProcessorBlock[i] -> KPRCB, and the CONTEXT the KPRCB points to
// (KPRCB + OffsetPrcbContext), else KPRCB.ProcessorState.ContextFrame. For a triage dump,
// the crashing processor from its KPRCB copy. This is a different record from the header's
// context, which for an exception bugcheck holds the faulting context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagedump/reader/dump_file.h"

namespace pagedump {

struct DumpProcessor {
  std::uint32_t index = 0;
  std::uint64_t prcb = 0;
  std::uint64_t context_va = 0;
  std::string source;              // where the CONTEXT was read from
  std::vector<std::byte> context;  // empty when it could not be read
};

struct DumpProcessors {
  std::vector<DumpProcessor> cpus;
  std::vector<std::string> notes;  // why processors or contexts are missing
};

// Never throws for missing memory: what cannot be read is explained in `notes`.
DumpProcessors dump_processors(const DumpFile& dump);

}  // namespace pagedump
