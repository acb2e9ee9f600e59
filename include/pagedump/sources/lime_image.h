// LiME captures: ranges each introduced by a 32-byte header (magic 0x4C694D45, version 1,
// inclusive end address), back to back to the end of the file.
#pragma once

#include <memory>
#include <string>

#include "pagedump/physical_memory.h"

namespace pagedump {

std::unique_ptr<PhysicalMemory> open_lime_image(const std::string& path);

}  // namespace pagedump
