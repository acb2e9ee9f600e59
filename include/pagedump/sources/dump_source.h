// A Windows kernel dump (full, bitmap or kernel) used as an image source, so that a dump can
// be re-typed. The parsing belongs to the dump reader (pagedump/reader/dump_file.h); this is
// only the hook open_image() calls for "PAGEDU64"/"PAGEDUMP" files.
#pragma once

#include <memory>
#include <string>

#include "pagedump/physical_memory.h"

namespace pagedump {

std::unique_ptr<PhysicalMemory> open_dump_source(const std::string& path);

}  // namespace pagedump
