// Presentation of a triage dump for `pagedump info`: a JSON object and a text report.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>

#include "pagedump/reader/triage_dump.h"

namespace pagedump::cli {

// Exactly: size_of_dump, valid_offset, top_of_stack, size_of_call_stack, driver_count,
// drivers [{name, path, base, size, checksum, timestamp}], unloaded_drivers [{name, start,
// end}], data_block_count, debugger_data_size. Integers are JSON numbers.
nlohmann::json triage_json(const TriageDump& dump);

// For people: the sections with their file offsets and sizes, warnings, and a driver table.
void print_triage_text(std::ostream& out, const TriageDump& dump);

}  // namespace pagedump::cli
