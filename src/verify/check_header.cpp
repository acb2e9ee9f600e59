// header.*: what a debugger reads before anything else (reference §2).
#include <cstring>

#include "pagedump/error.h"
#include "pagedump/format/dump_header.h"
#include "verify_context.h"

namespace pagedump::verify::detail {
namespace {

std::string tag_text(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char ch = static_cast<char>((v >> (8 * i)) & 0xFF);
    s += (ch >= 0x20 && ch < 0x7F) ? std::string(1, ch) : fmt::format("\\x{:02x}", static_cast<unsigned char>(ch));
  }
  return s;
}

std::uint32_t u32_at(const Context& c, std::size_t off) {
  std::uint32_t v = 0;
  if (off + 4 <= c.raw.size()) std::memcpy(&v, c.raw.data() + off, 4);
  return v;
}
std::uint64_t u64_at(const Context& c, std::size_t off) {
  std::uint64_t v = 0;
  if (off + 8 <= c.raw.size()) std::memcpy(&v, c.raw.data() + off, 8);
  return v;
}

bool known_type(std::uint32_t t) {
  return t == 1 || t == 2 || t == 3 || t == 4 || t == 5 || t == 6 || t == 8 || t == 9 || t == 0xA;
}

struct Field {
  const char* name;
  std::size_t off64, off32;
  bool wide;           // pointer-sized (8 bytes in 64-bit headers)
  bool memory_only;    // not required of small dumps
};

// Fields a debugger needs set (not the 'PAGE' fill) to open the dump.
constexpr Field kRequired[] = {
    {"DirectoryTableBase", 0x10, 0x10, true, true},
    {"PfnDataBase", 0x18, 0x14, true, true},
    {"PsLoadedModuleList", 0x20, 0x18, true, false},
    {"PsActiveProcessHead", 0x28, 0x1C, true, true},
    {"NumberProcessors", 0x34, 0x2C, false, false},
    {"BugCheckCode", 0x38, 0x30, false, false},
    {"KdDebuggerDataBlock", 0x80, 0x60, true, false},
};

}  // namespace

void check_header(Context& c) {
  try {
    c.file = std::make_unique<InputFile>(c.path);
  } catch (const Error& e) {
    c.add("header.signature", CheckStatus::fail, "cannot open the file: {}", e.what());
    return;
  }
  c.raw.resize(std::min<std::uint64_t>(c.file->size(), format::kHeaderSize64));
  c.file->read_exact(0, c.raw, "dump header");
  const std::uint32_t sig = u32_at(c, 0), valid = u32_at(c, 4);
  if (c.raw.size() < 8 || sig != format::kSignaturePage ||
      (valid != format::kValidDump64 && valid != format::kValidDump32)) {
    c.add("header.signature", CheckStatus::fail,
          "file offset 0x0: expected 'PAGEDU64' or 'PAGEDUMP', found '{}{}'{}", tag_text(sig),
          tag_text(valid),
          sig == format::kUserMinidumpSignature || valid == format::kValidUserDump64
              ? " (a user-mode dump)" : "");
    return;
  }
  c.is64 = valid == format::kValidDump64;
  const std::size_t hsize = c.is64 ? format::kHeaderSize64 : format::kHeaderSize32;
  if (c.raw.size() < hsize) {
    c.add("header.signature", CheckStatus::fail,
          "'{}' header needs {:#x} bytes; the file has {:#x}", c.is64 ? "PAGEDU64" : "PAGEDUMP",
          hsize, c.raw.size());
    return;
  }
  c.raw.resize(hsize);
  c.add("header.signature", CheckStatus::pass, "'{}' at file offset 0x0", c.is64 ? "PAGEDU64" : "PAGEDUMP");

  const std::size_t type_off = c.is64 ? format::kHeader64DumpTypeOffset : format::kHeader32DumpTypeOffset;
  c.dump_type = u32_at(c, type_off);
  if (!known_type(c.dump_type)) {
    c.add("header.dump_type", CheckStatus::fail,
          "DumpType at file offset {:#x} is {:#x}; expected 1, 2, 3, 4, 5, 6, 8, 9 or 0xA", type_off,
          c.dump_type);
    return;
  }
  c.add("header.dump_type", CheckStatus::pass, "DumpType {} ({})", c.dump_type,
        format::dump_type_name(c.dump_type));
  c.header_ok = true;

  const std::size_t mach_off = c.is64 ? 0x30 : 0x20;
  c.machine = u32_at(c, mach_off);
  const bool mach_ok = c.is64 ? (c.machine == format::machine::kAmd64 || c.machine == format::machine::kArm64)
                              : (c.machine == format::machine::kI386 || c.machine == format::machine::kArmNt);
  if (mach_ok) {
    c.add("header.machine", CheckStatus::pass, "MachineImageType {:#x}", c.machine);
  } else {
    c.add("header.machine", CheckStatus::fail,
          "MachineImageType at file offset {:#x} is {:#x}; expected {} for a {} header", mach_off,
          c.machine, c.is64 ? "0x8664 (AMD64) or 0xAA64 (ARM64)" : "0x14C (i386) or 0x1C4 (ARM)",
          c.is64 ? "64-bit" : "32-bit");
  }

  const std::uint32_t major = u32_at(c, 8), minor = u32_at(c, 12);
  if ((major != 0xF && major != 0xC) || minor == 0 || minor == format::kSignaturePage) {
    c.add("header.version", CheckStatus::fail,
          "MajorVersion/MinorVersion at file offset 0x8 are {:#x}/{}; expected 0xF (free) or 0xC "
          "(checked) and a build number",
          major, minor);
  } else {
    c.add("header.version", CheckStatus::pass, "version {:#x}, build {}", major, minor);
  }

  std::string unset;
  for (const auto& f : kRequired) {
    if (f.memory_only && c.dump_type == 4) continue;
    const std::size_t off = c.is64 ? f.off64 : f.off32;
    const bool fill = (c.is64 && f.wide) ? u64_at(c, off) == 0x4547415045474150ull
                                         : u32_at(c, off) == format::kSignaturePage;
    if (fill) unset += fmt::format("{}{} (file offset {:#x})", unset.empty() ? "" : ", ", f.name, off);
  }
  if (unset.empty()) {
    c.add("header.fill", CheckStatus::pass, "every field a debugger needs is set (no 'PAGE' fill)");
  } else {
    c.add("header.fill", CheckStatus::fail, "still the 'PAGE' fill where a value is needed: {}", unset);
  }
}

}  // namespace pagedump::verify::detail
