#include "pagedump/reader/virtual_view.h"

#include "pagedump/error.h"

namespace pagedump {

std::unique_ptr<VirtualMemory> open_virtual_view(const DumpFile& dump) {
  throw Error(ErrorKind::unsupported,
              dump.path() +
                  ": virtual reads need page-table translation (or a triage dump's memory map), "
                  "which this build of pagedump does not have yet; use --pa");
}

}  // namespace pagedump
