#include "pagedump/synth/sample_templates.h"

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"
#include "pagedump/io/input_file.h"

namespace pagedump::synth {

using namespace pagedump::format;

namespace {

std::vector<std::byte> read_range(const InputFile& f, std::uint64_t off, std::uint64_t size,
                                  std::uint64_t limit, const char* what) {
  if (size == 0 || size > 0x100000 || off > limit || size > limit - off) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} at offset {:#x} size {:#x} is not inside the triage area "
                            "(end {:#x})",
                            f.path(), what, off, size, limit));
  }
  std::vector<std::byte> out(size);
  f.read_exact(off, out, what);
  return out;
}

}  // namespace

SampleTemplates load_sample_templates(const std::filesystem::path& path) {
  InputFile f(path.string());
  auto h = f.read_struct<DumpHeader64>(0, "dump header");
  if (h.Signature != kSignaturePage || h.ValidDump != kValidDump64 || h.DumpType != 4 ||
      h.MachineImageType != machine::kAmd64) {
    throw Error(ErrorKind::not_a_dump, fmt::format("{}: not an x64 triage dump", f.path()));
  }
  auto t = f.read_struct<TriageDump64>(kHeaderSize64, "triage header");
  std::uint64_t end = std::min<std::uint64_t>(t.SizeOfDump, f.size());

  SampleTemplates s;
  s.kdbg_va = h.KdDebuggerDataBlock;
  s.kdbg = read_range(f, t.DebuggerDataOffset, t.DebuggerDataSize, end, "KDBG copy");
  if (load<std::uint32_t>(s.kdbg, 0x10) != kKdbgOwnerTag) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: the KDBG copy is not decoded", f.path()));
  }
  s.prcb = read_range(f, t.PrcbOffset, t.ProcessOffset - t.PrcbOffset, end, "KPRCB copy");
  s.eprocess =
      read_range(f, t.ProcessOffset, t.ThreadOffset - t.ProcessOffset, end, "EPROCESS copy");
  s.ethread =
      read_range(f, t.ThreadOffset, t.CallStackOffset - t.ThreadOffset, end, "ETHREAD copy");

  auto kdbg = load_kdbg(s.kdbg);
  if (t.DataBlocksCount > 0x10000) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} data blocks", f.path(), t.DataBlocksCount));
  }
  for (std::uint32_t i = 0; i < t.DataBlocksCount; ++i) {
    auto b = f.read_struct<TriageDataBlock>(t.DataBlocksOffset + 16ull * i, "data block entry");
    if (kdbg.KiProcessorBlock >= b.Address && kdbg.KiProcessorBlock - b.Address < b.Size) {
      std::uint64_t skip = kdbg.KiProcessorBlock - b.Address;
      auto bytes = read_range(f, b.Offset + skip, b.Size - skip, end, "KiProcessorBlock block");
      for (std::size_t o = 0; o + 8 <= bytes.size(); o += 8) {
        auto v = load<std::uint64_t>(bytes, o);
        if (v == 0) break;
        s.prcbs.push_back(v);
      }
      break;
    }
  }

  if (t.DriverCount == 0 || t.DriverCount > 0x1000 || t.StringPoolOffset <= t.DriverListOffset) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: bad driver list", f.path()));
  }
  std::uint32_t stride = (t.StringPoolOffset - t.DriverListOffset) / t.DriverCount;
  if (stride < 0x90) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: driver entries {:#x} bytes apart", f.path(), stride));
  }
  for (std::uint32_t i = 0; i < t.DriverCount; ++i) {
    auto e =
        read_range(f, t.DriverListOffset + std::uint64_t(stride) * i, 0x90, end, "driver entry");
    SampleDriver d;
    auto name_off = load<std::uint32_t>(e, 0);
    auto len = f.read_struct<std::uint32_t>(name_off, "driver name length");
    if (len > 512) throw Error(ErrorKind::inconsistent, "driver name too long");
    std::vector<std::byte> chars(std::size_t(len) * 2);
    if (len) f.read_exact(name_off + 4, chars, "driver name");
    for (std::uint32_t c = 0; c < len; ++c) {
      auto u = load<std::uint16_t>(chars, c * 2u);
      d.full_name.push_back(u < 0x80 ? static_cast<char>(u) : '?');
    }
    d.base = load<std::uint64_t>(e, 0x38);
    d.size = load<std::uint32_t>(e, 0x48);
    d.checksum = load<std::uint32_t>(e, 0x80);
    d.time_date_stamp = load<std::uint32_t>(e, 0x88);
    s.drivers.push_back(std::move(d));
  }
  return s;
}

}  // namespace pagedump::synth
