// One function per command; each lives in cmd_<name>.cpp and registers its subcommand.
#pragma once

#include "cli_common.h"

namespace pagedump::cli {

void register_version(Registry& r);
void register_inspect(Registry& r);
void register_header(Registry& r);
void register_attach(Registry& r);
void register_convert(Registry& r);
void register_sources(Registry& r);
void register_info(Registry& r);
void register_read(Registry& r);
void register_verify(Registry& r);
void register_crashtest(Registry& r);
void register_synth(Registry& r);
void register_demo(Registry& r);

}  // namespace pagedump::cli
