// pagedump-fixture PATH: writes a small synthetic x64 complete memory dump (DumpType 1, three
// runs, PFN-derived page contents) for the demo and for trying the CLI without a real dump.
#include <cstdio>
#include <exception>

#include "builders/dump/dump_builder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pagedump-fixture PATH\n");
    return 2;
  }
  try {
    pagedump::test::DumpSpec spec;
    spec.arch = pagedump::test::DumpArch::x64;
    spec.dump_type = 1;
    spec.runs = {{0x1, 0x9e}, {0x100, 0x20}, {0x400, 0x10}};
    auto built = pagedump::test::write_dump(argv[1], spec);
    std::printf("wrote %s: x64 full dump, %zu bytes, %llu pages in 3 runs\n", argv[1],
                built.bytes.size(), static_cast<unsigned long long>(built.stored_pages));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pagedump-fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
