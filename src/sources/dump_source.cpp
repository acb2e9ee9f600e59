#include "pagedump/sources/dump_source.h"

#include <fmt/format.h>

#include "pagedump/error.h"

namespace pagedump {

// HOOK(reader): once the dump reader (DumpFile, branch `reader`) is merged, return it here:
//   return std::make_unique<DumpFile>(path);
// DumpFile implements PhysicalMemory, so nothing else in the sources changes.
std::unique_ptr<PhysicalMemory> open_dump_source(const std::string& path) {
  throw Error(ErrorKind::unsupported,
              fmt::format("{}: recognised as a Windows kernel dump, but this build has no dump "
                          "reader to use it as an image source yet",
                          path));
}

}  // namespace pagedump
