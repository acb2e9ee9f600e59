#include "pagedump/sources/elf_core.h"

#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/elf_core.h"
#include "pagedump/format/vbox_core.h"
#include "pagedump/sources/segmented_image.h"

namespace pagedump {
namespace {

using namespace pagedump::format;

// Largest note descriptor read: a VBCPU note with a full XSAVE area is a few KiB.
constexpr std::uint32_t kMaxNoteDesc = 1u << 20;
constexpr std::uint32_t kMaxNoteName = 256;
constexpr std::size_t kMaxNotes = 4 * kMaxImageCpus + 64;
// Most descriptor bytes kept in memory over all notes: room for kMaxImageCpus VirtualBox CPUs
// with their XSAVE areas, and a bound a forged file cannot push memory past.
constexpr std::uint64_t kMaxKeptNoteBytes = 32u << 20;

struct Note {
  std::string name;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;  // of the descriptor
  std::vector<std::byte> desc;
};

struct ElfLayout {
  bool is64 = false;
  std::uint16_t machine = 0;
  std::vector<ImageSegment> loads;
  std::vector<Note> notes;
};

constexpr std::uint64_t align4(std::uint64_t v) { return (v + 3) & ~std::uint64_t{3}; }

void read_notes(const InputFile& f, std::uint64_t off, std::uint64_t size, std::vector<Note>& notes,
                std::uint64_t& kept_bytes) {
  const std::uint64_t end = off + size;
  if (end < off || off > f.size() || size > f.size() - off) {
    throw Error(ErrorKind::truncated,
                fmt::format("{}: PT_NOTE at file offset {:#x} of size {:#x} goes past the end of "
                            "the file (size {:#x})",
                            f.path(), off, size, f.size()));
  }
  std::uint64_t pos = off;
  while (pos < end) {
    if (end - pos < sizeof(ElfNhdr)) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: note header at file offset {:#x} is cut off by the end of the "
                              "PT_NOTE segment at {:#x}",
                              f.path(), pos, end));
    }
    const auto nh = f.read_struct<ElfNhdr>(pos, "ELF note header");
    if (nh.n_namesz > kMaxNoteName || nh.n_descsz > kMaxNoteDesc) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: note at file offset {:#x} claims a {}-byte name and a "
                              "{}-byte descriptor (at most {} and {} expected)",
                              f.path(), pos, nh.n_namesz, nh.n_descsz, kMaxNoteName, kMaxNoteDesc));
    }
    const std::uint64_t name_at = pos + sizeof(ElfNhdr);
    const std::uint64_t desc_at = name_at + align4(nh.n_namesz);
    const std::uint64_t next = desc_at + align4(nh.n_descsz);
    if (desc_at + nh.n_descsz > end) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: note at file offset {:#x} ({}-byte name, {}-byte descriptor) "
                              "runs past the end of the PT_NOTE segment at {:#x}",
                              f.path(), pos, nh.n_namesz, nh.n_descsz, end));
    }
    if (notes.size() >= kMaxNotes) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: more than {} notes in PT_NOTE at {:#x}", f.path(), kMaxNotes, off));
    }
    Note n;
    n.type = nh.n_type;
    n.offset = desc_at;
    std::string name(nh.n_namesz, '\0');
    f.read_exact(name_at, std::as_writable_bytes(std::span(name.data(), name.size())), "ELF note name");
    if (auto z = name.find('\0'); z != std::string::npos) name.resize(z);
    n.name = std::move(name);
    // Only the notes pagedump interprets are kept in memory.
    if (n.name == "CORE" || n.name == "QEMU" || n.name == "VBCORE" || n.name == "VBCPU") {
      kept_bytes += nh.n_descsz;
      if (kept_bytes > kMaxKeptNoteBytes) {
        throw Error(ErrorKind::inconsistent,
                    fmt::format("{}: the CPU notes up to file offset {:#x} hold more than {} "
                                "bytes, more than {} processors need",
                                f.path(), pos, kMaxKeptNoteBytes, kMaxImageCpus));
      }
      n.desc.resize(nh.n_descsz);
      f.read_exact(desc_at, n.desc, "ELF note descriptor");
    }
    notes.push_back(std::move(n));
    pos = next;
  }
}

template <class Ehdr, class Phdr>
ElfLayout read_layout(const InputFile& f) {
  ElfLayout out;
  out.is64 = sizeof(Ehdr) == sizeof(Elf64Ehdr);
  const auto eh = f.read_struct<Ehdr>(0, "ELF header");
  out.machine = eh.e_machine;
  if (eh.e_type != kElfTypeCore) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: ELF file of type {} is not a core file (e_type 4 expected)",
                            f.path(), eh.e_type));
  }
  if (eh.e_machine == kElfMachineAarch64) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: ELF core of an ARM64 (AArch64) guest: ARM64 images are not "
                            "supported yet (x86 and x64 guests are)",
                            f.path()));
  }
  if (eh.e_machine != kElfMachine386 && eh.e_machine != kElfMachineX86_64) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: ELF core for machine {} (e_machine); only x86 (3) and x86-64 "
                            "(62) guests are read",
                            f.path(), eh.e_machine));
  }
  if (eh.e_phentsize != sizeof(Phdr)) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: e_phentsize is {}, expected {}", f.path(), eh.e_phentsize,
                            sizeof(Phdr)));
  }
  std::uint64_t phnum = eh.e_phnum;
  if (phnum == kPnXnum) {
    const std::uint64_t at = std::uint64_t(eh.e_shoff) +
                             (out.is64 ? kElf64ShdrInfoOffset : kElf32ShdrInfoOffset);
    phnum = f.read_struct<std::uint32_t>(at, "section header 0 sh_info (program header count)");
  }
  if (phnum == 0 || phnum > kMaxImageSegments + 16) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} program headers (1 to {} expected)", f.path(), phnum,
                            kMaxImageSegments + 16));
  }
  const std::uint64_t phoff = eh.e_phoff;
  if (phoff > f.size() || phnum * sizeof(Phdr) > f.size() - phoff) {
    throw Error(ErrorKind::truncated,
                fmt::format("{}: {} program headers at file offset {:#x} go past the end of the "
                            "file (size {:#x})",
                            f.path(), phnum, phoff, f.size()));
  }
  std::uint64_t kept_note_bytes = 0;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const auto ph = f.read_struct<Phdr>(phoff + i * sizeof(Phdr), "program header");
    if (ph.p_type == kPtNote) {
      read_notes(f, ph.p_offset, ph.p_filesz, out.notes, kept_note_bytes);
    } else if (ph.p_type == kPtLoad) {
      if (ph.p_filesz > ph.p_memsz) {
        throw Error(ErrorKind::inconsistent,
                    fmt::format("{}: program header {} (PT_LOAD at physical {:#x}) has p_filesz "
                                "{:#x} larger than p_memsz {:#x}",
                                f.path(), i, std::uint64_t(ph.p_paddr), std::uint64_t(ph.p_filesz),
                                std::uint64_t(ph.p_memsz)));
      }
      // Only the bytes the file holds are memory; a p_memsz tail is not invented as zeros.
      if (ph.p_filesz == 0) continue;
      out.loads.push_back({{ph.p_paddr, ph.p_filesz}, ph.p_offset});
    }
  }
  if (out.loads.empty()) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: ELF core has no PT_LOAD segment with bytes in the file", f.path()));
  }
  return out;
}

template <class T>
T get(const std::vector<std::byte>& d, std::size_t off) {
  T v{};
  std::memcpy(&v, d.data() + off, sizeof(T));
  return v;
}

void from_prstatus(const Note& n, bool x64_layout, CpuState& c) {
  if (x64_layout) {
    auto r = [&](int i) { return get<std::uint64_t>(n.desc, kPrstatus64RegOffset + 8 * i); };
    c.arch = CpuArch::x64;
    c.gpr = {r(kPr64Rax), r(kPr64Rcx), r(kPr64Rdx), r(kPr64Rbx), r(kPr64Rsp), r(kPr64Rbp),
             r(kPr64Rsi), r(kPr64Rdi), r(kPr64R8),  r(kPr64R9),  r(kPr64R10), r(kPr64R11),
             r(kPr64R12), r(kPr64R13), r(kPr64R14), r(kPr64R15)};
    c.rip = r(kPr64Rip);
    c.rflags = r(kPr64Eflags);
    c.seg[CpuState::cs].selector = std::uint16_t(r(kPr64Cs));
    c.seg[CpuState::ss].selector = std::uint16_t(r(kPr64Ss));
    c.seg[CpuState::ds].selector = std::uint16_t(r(kPr64Ds));
    c.seg[CpuState::es].selector = std::uint16_t(r(kPr64Es));
    c.seg[CpuState::fs].selector = std::uint16_t(r(kPr64Fs));
    c.seg[CpuState::gs].selector = std::uint16_t(r(kPr64Gs));
    c.seg[CpuState::fs].base = r(kPr64FsBase);
    c.seg[CpuState::gs].base = r(kPr64GsBase);
    c.gs_base = r(kPr64GsBase);
  } else {
    auto r = [&](int i) { return std::uint64_t(get<std::uint32_t>(n.desc, kPrstatus32RegOffset + 4 * i)); };
    c.arch = CpuArch::x86;
    c.gpr = {};
    c.gpr[CpuState::rax] = r(kPr32Eax);
    c.gpr[CpuState::rcx] = r(kPr32Ecx);
    c.gpr[CpuState::rdx] = r(kPr32Edx);
    c.gpr[CpuState::rbx] = r(kPr32Ebx);
    c.gpr[CpuState::rsp] = r(kPr32Esp);
    c.gpr[CpuState::rbp] = r(kPr32Ebp);
    c.gpr[CpuState::rsi] = r(kPr32Esi);
    c.gpr[CpuState::rdi] = r(kPr32Edi);
    c.rip = r(kPr32Eip);
    c.rflags = r(kPr32Eflags);
    c.seg[CpuState::cs].selector = std::uint16_t(r(kPr32Cs));
    c.seg[CpuState::ss].selector = std::uint16_t(r(kPr32Ss));
    c.seg[CpuState::ds].selector = std::uint16_t(r(kPr32Ds));
    c.seg[CpuState::es].selector = std::uint16_t(r(kPr32Es));
    c.seg[CpuState::fs].selector = std::uint16_t(r(kPr32Fs));
    c.seg[CpuState::gs].selector = std::uint16_t(r(kPr32Gs));
  }
}

SegmentState seg_from(const QemuCpuSegment& s) {
  return {std::uint16_t(s.selector), s.base, s.limit, s.flags};
}

void from_qemu_note(const InputFile& f, const Note& n, CpuState& c) {
  if (n.desc.size() < kQemuCpuStateMinSize) {
    throw Error(ErrorKind::truncated,
                fmt::format("{}: QEMU note at file offset {:#x} holds {} bytes, fewer than the {} "
                            "of QEMUCPUState version 1",
                            f.path(), n.offset, n.desc.size(), kQemuCpuStateMinSize));
  }
  QemuCpuState q{};
  std::memcpy(&q, n.desc.data(), std::min(n.desc.size(), sizeof q));
  if (q.version != kQemuCpuStateVersion) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: QEMU note at file offset {:#x} has QEMUCPUState version {} "
                            "(version 1 expected)",
                            f.path(), n.offset, q.version));
  }
  if (q.size > n.desc.size() || q.size < kQemuCpuStateMinSize) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: QEMU note at file offset {:#x}: QEMUCPUState.size {} does not fit "
                            "the {}-byte note (at least {} expected)",
                            f.path(), n.offset, q.size, n.desc.size(), kQemuCpuStateMinSize));
  }
  c.gpr = {q.rax, q.rcx, q.rdx, q.rbx, q.rsp, q.rbp, q.rsi, q.rdi,
           q.r8,  q.r9,  q.r10, q.r11, q.r12, q.r13, q.r14, q.r15};
  if (c.arch == CpuArch::x86) {
    for (int i = 8; i < 16; ++i) c.gpr[i] = 0;
  }
  c.rip = q.rip;
  c.rflags = q.rflags;
  c.seg[CpuState::es] = seg_from(q.es);
  c.seg[CpuState::cs] = seg_from(q.cs);
  c.seg[CpuState::ss] = seg_from(q.ss);
  c.seg[CpuState::ds] = seg_from(q.ds);
  c.seg[CpuState::fs] = seg_from(q.fs);
  c.seg[CpuState::gs] = seg_from(q.gs);
  c.gs_base = q.gs.base;
  c.cr0 = q.cr[0];
  c.cr2 = q.cr[2];
  c.cr3 = q.cr[3];
  c.cr4 = q.cr[4];
  c.gdtr = {q.gdt.base, q.gdt.limit};
  c.idtr = {q.idt.base, q.idt.limit};
  if (q.size >= sizeof(QemuCpuState)) c.kernel_gs_base = q.kernel_gs_base;
}

SegmentState seg_from(const VBoxCoreSel& s) { return {s.uSel, s.uBase, s.uLimit, s.uAttr}; }

std::vector<CpuState> vbox_cpus(const InputFile& f, const std::vector<Note>& notes) {
  const Note* core = nullptr;
  std::vector<const Note*> cpus;
  for (const auto& n : notes) {
    if (n.name == "VBCORE" && n.type == kNtVBoxCore) {
      if (core) {
        throw Error(ErrorKind::inconsistent,
                    fmt::format("{}: second VBCORE note at file offset {:#x}", f.path(), n.offset));
      }
      core = &n;
    } else if (n.name == "VBCPU" && n.type == kNtVBoxCpu) {
      cpus.push_back(&n);
    }
  }
  if (!core) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: VBCPU notes without the VBCORE descriptor note", f.path()));
  }
  if (core->desc.size() < sizeof(VBoxCoreDescriptor)) {
    throw Error(ErrorKind::truncated,
                fmt::format("{}: VBCORE note at file offset {:#x} holds {} bytes, {} expected",
                            f.path(), core->offset, core->desc.size(), sizeof(VBoxCoreDescriptor)));
  }
  const auto d = get<VBoxCoreDescriptor>(core->desc, 0);
  if (d.u32Magic != kVBoxCoreMagic) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: VBCORE note at file offset {:#x} has magic {:#x}, expected {:#x}",
                            f.path(), core->offset, d.u32Magic, kVBoxCoreMagic));
  }
  if (d.u32FmtVersion != kVBoxCoreFmtV5 && d.u32FmtVersion != kVBoxCoreFmtV6) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: VirtualBox core format version {:#x} (VBCORE note at {:#x}); "
                            "versions {:#x} and {:#x} are read",
                            f.path(), d.u32FmtVersion, core->offset, kVBoxCoreFmtV5, kVBoxCoreFmtV6));
  }
  if (d.cCpus == 0 || d.cCpus > kMaxImageCpus || d.cCpus != cpus.size()) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: VBCORE note says {} CPUs, the file has {} VBCPU notes (1 to {} "
                            "expected, equal)",
                            f.path(), d.cCpus, cpus.size(), kMaxImageCpus));
  }
  const bool v6 = d.u32FmtVersion == kVBoxCoreFmtV6;
  const std::size_t ext = v6 ? kVBoxCoreCpuExtOffsetV6 : kVBoxCoreCpuExtOffsetV5;
  std::vector<CpuState> out;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    const Note& n = *cpus[i];
    if (n.desc.size() < ext) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: VBCPU note {} at file offset {:#x} holds {} bytes, at least {} "
                              "expected",
                              f.path(), i, n.offset, n.desc.size(), ext));
    }
    VBoxCoreCpu v{};
    std::memcpy(&v, n.desc.data(), std::min(n.desc.size(), sizeof v));
    CpuState c;
    c.index = static_cast<std::uint32_t>(i);
    c.efer = v.msrEFER;
    c.arch = (v.msrEFER & (1u << 10)) ? CpuArch::x64 : CpuArch::x86;  // EFER.LMA
    c.gpr = {v.rax, v.rcx, v.rdx, v.rbx, v.rsp, v.rbp, v.rsi, v.rdi,
             v.r8,  v.r9,  v.r10, v.r11, v.r12, v.r13, v.r14, v.r15};
    c.rip = v.rip;
    c.rflags = v.rflags;
    c.seg[CpuState::es] = seg_from(v.es);
    c.seg[CpuState::cs] = seg_from(v.cs);
    c.seg[CpuState::ss] = seg_from(v.ss);
    c.seg[CpuState::ds] = seg_from(v.ds);
    c.seg[CpuState::fs] = seg_from(v.fs);
    c.seg[CpuState::gs] = seg_from(v.gs);
    c.gs_base = v.gs.uBase;
    c.kernel_gs_base = v.msrKernelGSBase;
    c.cr0 = v.cr0;
    c.cr2 = v.cr2;
    c.cr3 = v.cr3;
    c.cr4 = v.cr4;
    c.gdtr = {v.gdtr.uAddr, v.gdtr.cb};
    c.idtr = {v.idtr.uAddr, v.idtr.cb};
    if (n.desc.size() >= ext + 0x1c) {
      c.fcw = get<std::uint16_t>(n.desc, ext + 0);
      c.fsw = get<std::uint16_t>(n.desc, ext + 2);
      c.ftw = get<std::uint8_t>(n.desc, ext + 4);
      c.mxcsr = get<std::uint32_t>(n.desc, ext + 0x18);
    }
    out.push_back(c);
  }
  return out;
}

std::vector<CpuState> qemu_cpus(const InputFile& f, const ElfLayout& l, bool& has_qemu_notes) {
  std::vector<const Note*> prs, qemu;
  for (const auto& n : l.notes) {
    if (n.name == "CORE" && n.type == kNtPrstatus) prs.push_back(&n);
    if (n.name == "QEMU" && n.type == kNtQemuCpuState) qemu.push_back(&n);
  }
  has_qemu_notes = !qemu.empty();
  if (prs.size() > kMaxImageCpus || qemu.size() > kMaxImageCpus) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} NT_PRSTATUS and {} QEMU notes; at most {} CPUs expected",
                            f.path(), prs.size(), qemu.size(), kMaxImageCpus));
  }
  if (!qemu.empty() && !prs.empty() && qemu.size() != prs.size()) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: {} NT_PRSTATUS notes but {} QEMU notes (one of each per CPU "
                            "expected)",
                            f.path(), prs.size(), qemu.size()));
  }
  const std::size_t count = std::max(prs.size(), qemu.size());
  std::vector<CpuState> out;
  for (std::size_t i = 0; i < count; ++i) {
    CpuState c;
    c.index = static_cast<std::uint32_t>(i);
    c.arch = l.machine == kElfMachineX86_64 ? CpuArch::x64 : CpuArch::x86;
    if (i < prs.size()) {
      const Note& n = *prs[i];
      // The layout follows the guest's mode, not the ELF class: QEMU writes the i386
      // prstatus for a guest outside long mode even in an ELF64 core.
      bool x64;
      if (n.desc.size() == kPrstatus64Size) {
        x64 = true;
      } else if (n.desc.size() == kPrstatus32Size) {
        x64 = false;
      } else {
        throw Error(ErrorKind::inconsistent,
                    fmt::format("{}: NT_PRSTATUS note at file offset {:#x} holds {} bytes; {} "
                                "(x86-64) or {} (i386) expected",
                                f.path(), n.offset, n.desc.size(), kPrstatus64Size,
                                kPrstatus32Size));
      }
      from_prstatus(n, x64, c);
      if (l.machine == kElfMachine386 && x64) c.arch = CpuArch::x64;
    }
    if (i < qemu.size()) from_qemu_note(f, *qemu[i], c);
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::unique_ptr<PhysicalMemory> open_elf_core(const std::string& path) {
  InputFile f(path);
  std::uint8_t ident[16] = {};
  f.read_exact(0, std::as_writable_bytes(std::span(ident)), "ELF identification");
  if (std::memcmp(ident, kElfMagic, 4) != 0) {
    throw Error(ErrorKind::not_a_dump, fmt::format("{}: not an ELF file (no \\x7fELF magic)", path));
  }
  if (ident[5] != kElfData2Lsb) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: big-endian ELF (EI_DATA {}); only little-endian x86 cores are read",
                            path, ident[5]));
  }
  ElfLayout l;
  if (ident[4] == kElfClass64) {
    l = read_layout<Elf64Ehdr, Elf64Phdr>(f);
  } else if (ident[4] == kElfClass32) {
    l = read_layout<Elf32Ehdr, Elf32Phdr>(f);
  } else {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: ELF class {} (EI_CLASS, 1 or 2 expected)", path, ident[4]));
  }
  bool vbox = false;
  for (const auto& n : l.notes) vbox |= n.name == "VBCORE" || n.name == "VBCPU";
  std::vector<CpuState> cpus;
  std::string name = "elf";
  if (vbox) {
    cpus = vbox_cpus(f, l.notes);
    name = "elf-vbox";
  } else {
    bool has_qemu = false;
    cpus = qemu_cpus(f, l, has_qemu);
    if (has_qemu) name = "elf-qemu";
  }
  auto loads = std::move(l.loads);
  return std::make_unique<SegmentedImage>(std::move(f), name, std::move(loads), std::move(cpus),
                                          "PT_LOAD");
}

}  // namespace pagedump
