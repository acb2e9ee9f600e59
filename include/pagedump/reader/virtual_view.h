// Virtual memory of an opened dump: page-table translation over its physical memory, or the
// VA map a triage dump carries.
#pragma once

#include <memory>
#include <optional>

#include "pagedump/reader/dump_file.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/virtual_memory.h"

namespace pagedump {

// A virtual view of `dump`, which must outlive it: for dumps holding physical memory, the
// page tables at the header's DirectoryTableBase (x64, x86 PAE and non-PAE, ARM64); for
// triage dumps, the VAs they carry (data blocks, stack, KDBG copy). Throws Error(unsupported)
// for ARM (32-bit) dumps and header-only dumps, Error(inconsistent) when the DTB is unset.
std::unique_ptr<VirtualMemory> open_virtual_view(const DumpFile& dump);

// The paging mode a dump's header implies (machine type and PaeEnabled), if pagedump has one.
std::optional<PagingMode> dump_paging_mode(const DumpFile& dump);

}  // namespace pagedump
