// Raw images: a flat file whose offset is the physical address. Without a memory map the whole
// file is one range; with one, only the listed ranges are memory and the rest are holes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pagedump/physical_memory.h"

namespace pagedump {

// Reads a memory map: either text, one "START END" pair of hexadecimal numbers per line
// (END exclusive; "0x" optional; blank lines and '#' comments ignored), or the JSON document
// `pagedump sources --json` prints (its "ranges": [{"base", "size"}]). Ranges must not overlap;
// at most kMaxImageSegments of them.
std::vector<PhysicalRange> parse_memory_map(const std::string& path);

// Opens a raw image; `ranges` empty means "the whole file". Every range must lie inside the
// file: a file system hole inside a range is memory (zeros), a gap between ranges is not.
std::unique_ptr<PhysicalMemory> open_raw_image(const std::string& path,
                                               std::vector<PhysicalRange> ranges = {},
                                               std::string format_name = "raw");

}  // namespace pagedump
