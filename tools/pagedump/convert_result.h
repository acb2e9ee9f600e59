// What every dump type of `convert` / `attach` shares on the command line: the --bugcheck value
// and the printed result.
#pragma once

#include <optional>
#include <string>

#include "pagedump/discovery/system.h"
#include "pagedump/writer/complete_dump.h"

namespace pagedump::cli {

// --bugcheck CODE[,P1,P2,P3,P4]; empty: none. Throws Error(usage) for anything else.
std::optional<Bugcheck> parse_bugcheck(const std::string& text);

// "wrote ..." with the bugcheck and the notes, or the same as JSON.
void print_write_result(const DumpWriteResult& r, bool json);

}  // namespace pagedump::cli
