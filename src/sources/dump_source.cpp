#include "pagedump/sources/dump_source.h"

#include "pagedump/reader/dump_file.h"

namespace pagedump {

// DumpFile implements PhysicalMemory, so a dump is an image source like any other.
std::unique_ptr<PhysicalMemory> open_dump_source(const std::string& path) {
  return DumpFile::open(path);
}

}  // namespace pagedump
