// What the writer tests compare: a synthetic guest, what discovery found in it, and a dump
// written from it and opened again; and the pages a writer is allowed to change.
#pragma once

#include <cstdint>
#include <memory>
#include <set>

#include "pagedump/discovery/system.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/synth/guest.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump::test {

struct WrittenDump {
  synth::Guest guest;
  DiscoveredSystem system;
  DumpWriteResult result;
  std::unique_ptr<DumpFile> dump;
};

// The physical pages the writers correct: the decoded KDBG and KdpDataBlockEncoded (when the
// KDBG was encoded) and every processor's CONTEXT records.
std::set<std::uint64_t> corrected_pages(const PhysicalMemory& guest,
                                        const DiscoveredSystem& system);

}  // namespace pagedump::test
