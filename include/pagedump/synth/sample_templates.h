// Bytes Windows itself wrote, taken from a real 19041 x64 triage dump (reference §5): the
// decoded KDBG copy, the KPRCB, EPROCESS and ETHREAD copies, the KiProcessorBlock array (a
// data block) and the driver list. The guest builder lays these into its memory so that
// discovery meets real structure contents, not only our idea of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pagedump::synth {

struct SampleDriver {
  std::string full_name;  // "\SystemRoot\system32\ntoskrnl.exe"
  std::uint64_t base = 0;
  std::uint32_t size = 0;
  std::uint32_t checksum = 0;
  std::uint32_t time_date_stamp = 0;
};

struct SampleTemplates {
  std::uint64_t kdbg_va = 0;    // header KdDebuggerDataBlock
  std::vector<std::byte> kdbg;  // decoded, Header.Size bytes
  std::vector<std::byte> prcb;  // the crashing CPU's KPRCB
  std::vector<std::byte> eprocess;
  std::vector<std::byte> ethread;
  std::vector<std::uint64_t> prcbs;  // KiProcessorBlock[], when carried as a data block
  std::vector<SampleDriver> drivers;
};

// Reads the templates; throws pagedump::Error when the file is not the expected kind.
SampleTemplates load_sample_templates(const std::filesystem::path& triage_dump);

}  // namespace pagedump::synth
