// Writes the seed corpora of the fuzz targets from the synthetic builders of tests/ (one folder
// per target under the folder given). Nothing here is committed: run it before fuzzing.
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include <fmt/format.h>

#include "builders/dump/dump_builder.h"
#include "image_writers.h"
#include "pagedump/format/pe.h"
#include "pagedump/synth/guest.h"
#include "pagedump/synth/pe_builder.h"
#include "support/pdb_builder.h"
#include "triage_builder.h"
#include "unit/sources_test_util.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& p, std::span<const std::byte> bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::byte> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

void dumps(const fs::path& dir) {
  int n = 0;
  for (auto arch : {DumpArch::x64, DumpArch::arm64, DumpArch::x86_pae, DumpArch::x86, DumpArch::arm}) {
    for (std::uint32_t type : {1u, 2u, 3u, 5u, 6u, 8u, 9u, 0xAu}) {
      DumpSpec s;
      s.arch = arch;
      s.dump_type = type;
      try {
        put(dir / fmt::format("dump-{}", n++), build_dump(s).bytes);
      } catch (const std::exception&) {
      }
    }
  }
  put(dir / "triage64", build_triage_dump(typical_triage_spec(true)).bytes);
  put(dir / "triage32", build_triage_dump(typical_triage_spec(false)).bytes);
}

void triage(const fs::path& dir) {
  for (bool is64 : {true, false}) {
    auto b = build_triage_dump(typical_triage_spec(is64)).bytes;
    b.insert(b.begin(), std::byte(is64 ? 0 : 1));
    put(dir / (is64 ? "triage64" : "triage32"), b);
  }
}

images::Image small_image(bool is64) {
  images::Image img;
  img.ranges.push_back(images::address_pattern_range(0, 0x3000));
  img.ranges.push_back(images::address_pattern_range(0x100000, 0x2000));
  img.cpus = {is64 ? sample_cpu64(0) : sample_cpu32(0), is64 ? sample_cpu64(1) : sample_cpu32(1)};
  return img;
}

void sources(const fs::path& root, const fs::path& scratch) {
  images::ElfOptions e32;
  e32.elf64 = false;
  images::write_elf_qemu(root / "elf" / "qemu64", small_image(true));
  images::write_elf_qemu(root / "elf" / "qemu32", small_image(false), e32);
  images::write_elf_vbox(root / "elf" / "vbox", small_image(true));
  images::write_lime(root / "lime" / "lime", small_image(true));
  images::write_vmware(scratch / "x.vmem", scratch / "x.vmss", small_image(true));
  auto vmss = slurp(scratch / "x.vmss");
  auto vmem = slurp(scratch / "x.vmem");
  std::vector<std::byte> v(4);
  const auto len = static_cast<std::uint32_t>(vmss.size());
  std::memcpy(v.data(), &len, 4);
  v.insert(v.end(), vmss.begin(), vmss.end());
  v.insert(v.end(), vmem.begin(), vmem.end());
  put(root / "vmware" / "vmware", v);
}

std::vector<std::byte> pe_seed(bool plus) {
  PeSpec s;
  s.pe32_plus = plus;
  s.machine = plus ? 0x8664 : 0x14C;
  s.image_base = plus ? 0x140000000ull : 0x400000;
  s.size_of_image = 0x6000;
  using namespace pagedump::format::section_flags;
  s.sections = {{".text", 0x1000, 0x2000, kCode | kExecute | kRead},
                {".rdata", 0x3000, 0x2000, kInitializedData | kRead},
                {".data", 0x5000, 0x1000, kInitializedData | kRead | kWrite}};
  s.export_rva = 0x3800;
  s.dll_name = "ntoskrnl.exe";
  s.exports = {
      {"PsLoadedModuleList", 0x5100}, {"KdDebuggerDataBlock", 0x5200}, {"KeBugCheckEx", 0x1200}};
  s.debug_rva = 0x3100;
  pe::CodeViewPdb cv;
  cv.pdb_name = "ntkrnlmp.pdb";
  cv.guid_data1 = 0x12345678;
  cv.age = 1;
  s.codeview = cv;
  return build_pe(s);
}

void pes(const fs::path& dir) {
  for (bool plus : {true, false}) put(dir / (plus ? "pe64" : "pe32"), pe_seed(plus));
}

// Symbol-store files: a minimal PDB, PE images (the builder's raw data sits at each section's
// RVA, so the mapped image is also a valid file), and text for the symbol-path / lookup part.
void symbol_files(const fs::path& dir) {
  std::array<std::uint8_t, 16> guid{0xDB, 0xFD, 0x19, 0x1C, 0xBB, 0x27, 0x99, 0x33,
                                    0xD9, 0xB4, 0x59, 0x73, 0xEF, 0xEA, 0xFC, 0xF3};
  put(dir / "pdb", make_pdb(guid, 3, 1));
  put(dir / "pe64", pe_seed(true));
  put(dir / "pe32", pe_seed(false));
  const std::string text =
      "srv*/sym*https://msdl.microsoft.com/download/symbols\na.pdb\n"
      "1C19FDDB27BB3399D9B45973EFEAFCF31\n";
  put(dir / "lookup", std::as_bytes(std::span(text)));
}

// The synthetic guest as page records (see fuzz_kdbg.cpp), at most 256 pages: the kernel's
// headers, its KDBG, the page tables... whichever pages come first by address.
void kdbg(const fs::path& dir) {
  for (bool encoded : {true, false}) {
    GuestSpec spec;
    spec.ram_mib = 192;
    spec.kdbg_encoded = encoded;
    spec.user_processes = 0;
    spec.decoys = false;
    Guest g = build_guest(spec);
    std::vector<std::byte> out(25);
    out[0] = std::byte(encoded ? 1 : 0);
    std::memcpy(out.data() + 1, &g.truth.keys.wait_never, 8);
    std::memcpy(out.data() + 9, &g.truth.keys.wait_always, 8);
    std::memcpy(out.data() + 17, &g.truth.keys.encoded_flag_va, 8);
    std::size_t n = 0;
    for (const auto& [pfn, page] : g.memory.pages()) {
      if (n++ == 256) break;
      const auto p32 = static_cast<std::uint32_t>(pfn);
      const std::uint16_t len = 0x1000;
      const auto* pb = reinterpret_cast<const std::byte*>(&p32);
      out.insert(out.end(), pb, pb + 4);
      const auto* lb = reinterpret_cast<const std::byte*>(&len);
      out.insert(out.end(), lb, lb + 2);
      const auto* data = reinterpret_cast<const std::byte*>(page.data());
      out.insert(out.end(), data, data + 0x1000);
    }
    std::cerr << "guest (" << (encoded ? "encoded" : "plain") << " KDBG): " << g.memory.pages().size()
              << " written pages, " << std::min<std::size_t>(n, 256) << " in the seed\n";
    put(dir / (encoded ? "guest-encoded" : "guest-plain"), out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: pagedump-fuzz-seeds FOLDER\n";
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* t :
       {"dump", "triage", "elf", "lime", "vmware", "pe", "kdbg", "symbols", "scratch"}) {
    fs::create_directories(root / t);
  }
  dumps(root / "dump");
  triage(root / "triage");
  sources(root, root / "scratch");
  pes(root / "pe");
  kdbg(root / "kdbg");
  symbol_files(root / "symbols");
  fs::remove_all(root / "scratch");
  return 0;
}
