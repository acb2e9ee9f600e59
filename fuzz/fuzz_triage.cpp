// The triage (DumpType 4) section parser and its VA view, fed a triage header region directly
// after a fixed, valid main header, so mutations concentrate on the triage sections.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/io/input_file.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"

using namespace pagedump;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Byte 0 picks the width; the rest is the whole file from offset 0 (main header included),
  // as the seeds are complete triage dumps.
  if (size < 1) return 0;
  const bool is64 = (data[0] & 1) == 0;
  static fuzz::MemFile file("triage");
  const auto& path = file.set({data + 1, size - 1});
  try {
    InputFile f(path);
    std::vector<std::byte> header(is64 ? 0x2000 : 0x1000);
    f.read_exact(0, header, "the main header");
    TriageDump t = TriageDump::parse(f, is64, header);
    TriageView view(t);
    std::array<std::byte, 256> buf{};
    for (const auto& r : t.virtual_regions()) {
      (void)view.read_virtual(r.address, std::span(buf).first(std::size_t(std::min<std::uint64_t>(r.size, buf.size()))));
      (void)view.read_virtual(r.end() - 1, buf);
      (void)view.is_mapped(r.address, r.size + 1);
    }
    for (const auto& b : t.data_blocks()) (void)view.is_mapped(b.address, b.size);
    try {
      (void)t.crashing_processor(view);
    } catch (const Error&) {
    }
  } catch (const Error&) {
  }
  return 0;
}
