// A PE image as a file on disk (what a symbol store keeps), read through the RVA view the
// PE reader expects: headers at RVA 0, sections at their PointerToRawData.
#pragma once

#include <string>

#include "pagedump/pe/pe_image.h"

namespace pagedump::symbols {

// Throws pagedump::Error naming the file when it is not a readable PE image.
pe::PeImage read_pe_file(const std::string& path);

}  // namespace pagedump::symbols
