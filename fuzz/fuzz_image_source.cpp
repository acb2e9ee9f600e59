// One image-source parser (chosen at compile time: PAGEDUMP_FUZZ_SOURCE = elf, lime, raw_map)
// on arbitrary bytes, then a bounded sample of reads and the CPU states it decoded.
#include "exercise_memory.h"
#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/sources/elf_core.h"
#include "pagedump/sources/lime_image.h"
#include "pagedump/sources/open_image.h"

using namespace pagedump;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("image");
  const auto& path = file.set({data, size});
  try {
#if PAGEDUMP_FUZZ_SOURCE_ELF
    auto m = open_elf_core(path);
#elif PAGEDUMP_FUZZ_SOURCE_LIME
    auto m = open_lime_image(path);
#else
    auto m = open_image(path);  // content detection, then whichever parser matches
#endif
    fuzz::exercise_memory(*m);
  } catch (const Error&) {
  }
  return 0;
}
