// The PE reader on arbitrary bytes laid out by RVA (the input is the mapped image; reads
// past its end fail as a hole would), then exports, CodeView and section lookups.
#include <cstring>

#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/pe/pe_image.h"

using namespace pagedump;
using namespace pagedump::pe;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  RvaReader reader = [&](std::uint32_t rva, std::span<std::byte> out) -> ReadResult {
    if (rva >= size || out.size() > size - rva) {
      return ReadResult{ReadStatus::not_present, rva < size ? std::uint64_t(size) : rva, 0};
    }
    std::memcpy(out.data(), data + rva, out.size());
    return ReadResult{};
  };
  try {
    PeImage pe = PeImage::read(reader, 0xfffff80000000000ull);
    (void)pe.image_key();
    (void)pe.find_section(".text");
    if (auto ex = pe.read_exports()) (void)ex->find("KdDebuggerDataBlock");
    if (auto cv = pe.read_codeview()) (void)cv->symbol_path();
  } catch (const Error&) {
  }
  return 0;
}
