// Virtual memory of an opened dump: page-table translation over its physical memory, or the
// VA map a triage dump carries.
#pragma once

#include <memory>

#include "pagedump/reader/dump_file.h"
#include "pagedump/virtual_memory.h"

namespace pagedump {

// A virtual view of `dump`, which must outlive it. Throws Error(unsupported) when the dump
// gives no way to translate (for now: always, until translation is wired in).
std::unique_ptr<VirtualMemory> open_virtual_view(const DumpFile& dump);

}  // namespace pagedump
