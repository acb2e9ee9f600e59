// The crashtest table and JSON, shared by `pagedump crashtest` and `pagedump demo`.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "pagedump/verify/crashtest.h"

namespace pagedump::cli {

void print_crashtest_table(const std::vector<verify::CrashtestRow>& rows);
nlohmann::json crashtest_json(const std::vector<verify::CrashtestRow>& rows);
// 0 when no dump failed (types whose writer is not available yet are reported, not failed).
int crashtest_exit_code(const std::vector<verify::CrashtestRow>& rows);

}  // namespace pagedump::cli
