#include "image_writers.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "pagedump/format/elf_core.h"
#include "pagedump/format/lime.h"
#include "pagedump/format/vbox_core.h"
#include "pagedump/format/vmware_checkpoint.h"

namespace pagedump::test::images {
namespace {

using namespace pagedump::format;

constexpr std::size_t kChunk = 1u << 20;

class Writer {
 public:
  explicit Writer(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("cannot create " + path_);
  }
  ~Writer() {
    if (fd_ >= 0) ::close(fd_);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void write(std::uint64_t offset, std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, off_t(offset + done));
      if (n <= 0) throw std::runtime_error("write failed: " + path_);
      done += std::size_t(n);
    }
    end_ = std::max(end_, offset + bytes.size());
  }
  template <class T>
  void write_value(std::uint64_t offset, const T& v) {
    write(offset, std::as_bytes(std::span(&v, 1)));
  }
  // Writes a range's bytes at `offset`, chunk by chunk; zero chunks become holes.
  void write_range(std::uint64_t offset, const Range& r) {
    end_ = std::max(end_, offset + r.size);
    if (!r.fill) return;
    std::vector<std::byte> buf(std::min<std::uint64_t>(r.size, kChunk));
    for (std::uint64_t done = 0; done < r.size;) {
      const std::size_t n = std::size_t(std::min<std::uint64_t>(buf.size(), r.size - done));
      std::span<std::byte> chunk(buf.data(), n);
      r.fill(r.base + done, chunk);
      const bool zero = std::all_of(chunk.begin(), chunk.end(), [](std::byte b) { return b == std::byte{0}; });
      if (!zero) write(offset + done, chunk);
      done += n;
    }
  }
  void finish() {
    if (::ftruncate(fd_, off_t(end_)) != 0) throw std::runtime_error("ftruncate failed: " + path_);
  }
  std::uint64_t end() const { return end_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t end_ = 0;
};

void append(std::vector<std::byte>& v, std::span<const std::byte> b) { v.insert(v.end(), b.begin(), b.end()); }
template <class T>
void append_value(std::vector<std::byte>& v, const T& x) { append(v, std::as_bytes(std::span(&x, 1))); }

void add_note(std::vector<std::byte>& notes, std::vector<std::uint64_t>& offsets, std::uint64_t base,
              const std::string& name, std::uint32_t type, std::span<const std::byte> desc) {
  offsets.push_back(base + notes.size());
  ElfNhdr h{std::uint32_t(name.size() + 1), std::uint32_t(desc.size()), type};
  append_value(notes, h);
  append(notes, std::as_bytes(std::span(name.data(), name.size())));
  notes.push_back(std::byte{0});
  while (notes.size() % 4) notes.push_back(std::byte{0});
  append(notes, desc);
  while (notes.size() % 4) notes.push_back(std::byte{0});
}

std::vector<std::byte> prstatus_for(const CpuState& c) {
  if (c.arch == CpuArch::x64) {
    std::vector<std::byte> d(kPrstatus64Size);
    std::uint32_t pid = c.index + 1;
    std::memcpy(d.data() + kPrstatus64PidOffset, &pid, 4);
    std::uint64_t r[kPr64RegCount] = {};
    r[kPr64R15] = c.gpr[CpuState::r15]; r[kPr64R14] = c.gpr[CpuState::r14];
    r[kPr64R13] = c.gpr[CpuState::r13]; r[kPr64R12] = c.gpr[CpuState::r12];
    r[kPr64Rbp] = c.gpr[CpuState::rbp]; r[kPr64Rbx] = c.gpr[CpuState::rbx];
    r[kPr64R11] = c.gpr[CpuState::r11]; r[kPr64R10] = c.gpr[CpuState::r10];
    r[kPr64R9] = c.gpr[CpuState::r9];   r[kPr64R8] = c.gpr[CpuState::r8];
    r[kPr64Rax] = c.gpr[CpuState::rax]; r[kPr64Rcx] = c.gpr[CpuState::rcx];
    r[kPr64Rdx] = c.gpr[CpuState::rdx]; r[kPr64Rsi] = c.gpr[CpuState::rsi];
    r[kPr64Rdi] = c.gpr[CpuState::rdi]; r[kPr64Rip] = c.rip;
    r[kPr64Cs] = c.seg[CpuState::cs].selector; r[kPr64Eflags] = c.rflags;
    r[kPr64Rsp] = c.gpr[CpuState::rsp]; r[kPr64Ss] = c.seg[CpuState::ss].selector;
    r[kPr64FsBase] = c.seg[CpuState::fs].base; r[kPr64GsBase] = c.seg[CpuState::gs].base;
    r[kPr64Ds] = c.seg[CpuState::ds].selector; r[kPr64Es] = c.seg[CpuState::es].selector;
    r[kPr64Fs] = c.seg[CpuState::fs].selector; r[kPr64Gs] = c.seg[CpuState::gs].selector;
    std::memcpy(d.data() + kPrstatus64RegOffset, r, sizeof r);
    return d;
  }
  std::vector<std::byte> d(kPrstatus32Size);
  std::uint32_t pid = c.index + 1;
  std::memcpy(d.data() + kPrstatus32PidOffset, &pid, 4);
  std::uint32_t r[kPr32RegCount] = {};
  r[kPr32Ebx] = std::uint32_t(c.gpr[CpuState::rbx]); r[kPr32Ecx] = std::uint32_t(c.gpr[CpuState::rcx]);
  r[kPr32Edx] = std::uint32_t(c.gpr[CpuState::rdx]); r[kPr32Esi] = std::uint32_t(c.gpr[CpuState::rsi]);
  r[kPr32Edi] = std::uint32_t(c.gpr[CpuState::rdi]); r[kPr32Ebp] = std::uint32_t(c.gpr[CpuState::rbp]);
  r[kPr32Eax] = std::uint32_t(c.gpr[CpuState::rax]); r[kPr32Ds] = c.seg[CpuState::ds].selector;
  r[kPr32Es] = c.seg[CpuState::es].selector; r[kPr32Fs] = c.seg[CpuState::fs].selector;
  r[kPr32Gs] = c.seg[CpuState::gs].selector; r[kPr32Eip] = std::uint32_t(c.rip);
  r[kPr32Cs] = c.seg[CpuState::cs].selector; r[kPr32Eflags] = std::uint32_t(c.rflags);
  r[kPr32Esp] = std::uint32_t(c.gpr[CpuState::rsp]); r[kPr32Ss] = c.seg[CpuState::ss].selector;
  std::memcpy(d.data() + kPrstatus32RegOffset, r, sizeof r);
  return d;
}

QemuCpuSegment qseg(const SegmentState& s) { return {s.selector, s.limit, s.attributes, 0, s.base}; }

std::vector<std::byte> qemu_note_for(const CpuState& c, std::uint32_t size) {
  QemuCpuState q{};
  q.version = kQemuCpuStateVersion;
  q.size = size;
  q.rax = c.gpr[CpuState::rax]; q.rbx = c.gpr[CpuState::rbx]; q.rcx = c.gpr[CpuState::rcx];
  q.rdx = c.gpr[CpuState::rdx]; q.rsi = c.gpr[CpuState::rsi]; q.rdi = c.gpr[CpuState::rdi];
  q.rsp = c.gpr[CpuState::rsp]; q.rbp = c.gpr[CpuState::rbp];
  q.r8 = c.gpr[CpuState::r8]; q.r9 = c.gpr[CpuState::r9]; q.r10 = c.gpr[CpuState::r10];
  q.r11 = c.gpr[CpuState::r11]; q.r12 = c.gpr[CpuState::r12]; q.r13 = c.gpr[CpuState::r13];
  q.r14 = c.gpr[CpuState::r14]; q.r15 = c.gpr[CpuState::r15];
  q.rip = c.rip;
  q.rflags = c.rflags;
  q.cs = qseg(c.seg[CpuState::cs]); q.ds = qseg(c.seg[CpuState::ds]);
  q.es = qseg(c.seg[CpuState::es]); q.fs = qseg(c.seg[CpuState::fs]);
  q.gs = qseg(c.seg[CpuState::gs]); q.ss = qseg(c.seg[CpuState::ss]);
  q.gdt = {0, c.gdtr.limit, 0, 0, c.gdtr.base};
  q.idt = {0, c.idtr.limit, 0, 0, c.idtr.base};
  q.cr[0] = c.cr0; q.cr[2] = c.cr2; q.cr[3] = c.cr3; q.cr[4] = c.cr4;
  q.kernel_gs_base = c.kernel_gs_base.value_or(0);
  std::vector<std::byte> d(size);
  std::memcpy(d.data(), &q, std::min<std::size_t>(size, sizeof q));
  return d;
}

VBoxCoreSel vsel(const SegmentState& s) { return {s.base, s.limit, s.attributes, s.selector, 0, 0}; }

std::vector<std::byte> vbox_cpu_for(const CpuState& c, const VBoxOptions& o) {
  VBoxCoreCpu v{};
  v.rax = c.gpr[CpuState::rax]; v.rbx = c.gpr[CpuState::rbx]; v.rcx = c.gpr[CpuState::rcx];
  v.rdx = c.gpr[CpuState::rdx]; v.rsi = c.gpr[CpuState::rsi]; v.rdi = c.gpr[CpuState::rdi];
  v.r8 = c.gpr[CpuState::r8]; v.r9 = c.gpr[CpuState::r9]; v.r10 = c.gpr[CpuState::r10];
  v.r11 = c.gpr[CpuState::r11]; v.r12 = c.gpr[CpuState::r12]; v.r13 = c.gpr[CpuState::r13];
  v.r14 = c.gpr[CpuState::r14]; v.r15 = c.gpr[CpuState::r15];
  v.rip = c.rip; v.rsp = c.gpr[CpuState::rsp]; v.rbp = c.gpr[CpuState::rbp]; v.rflags = c.rflags;
  v.cs = vsel(c.seg[CpuState::cs]); v.ds = vsel(c.seg[CpuState::ds]);
  v.es = vsel(c.seg[CpuState::es]); v.fs = vsel(c.seg[CpuState::fs]);
  v.gs = vsel(c.seg[CpuState::gs]); v.ss = vsel(c.seg[CpuState::ss]);
  v.cr0 = c.cr0; v.cr2 = c.cr2; v.cr3 = c.cr3; v.cr4 = c.cr4;
  v.gdtr = {c.gdtr.base, c.gdtr.limit, 0};
  v.idtr = {c.idtr.base, c.idtr.limit, 0};
  v.msrEFER = c.efer.value_or(0);
  v.msrKernelGSBase = c.kernel_gs_base.value_or(0);
  v.cbExt = o.ext_size;
  std::vector<std::byte> d;
  if (o.format_version == kVBoxCoreFmtV5) {
    append(d, std::as_bytes(std::span(&v, 1)).first(kVBoxCoreCpuMinSize));
    append_value(d, v.aXcr);
  } else {
    append_value(d, v);
  }
  std::vector<std::byte> ext(o.ext_size);
  if (ext.size() >= 0x1c) {
    const std::uint16_t fcw = c.fcw.value_or(0), fsw = c.fsw.value_or(0);
    const std::uint8_t ftw = std::uint8_t(c.ftw.value_or(0));
    const std::uint32_t mxcsr = c.mxcsr.value_or(0);
    std::memcpy(ext.data(), &fcw, 2);
    std::memcpy(ext.data() + 2, &fsw, 2);
    std::memcpy(ext.data() + 4, &ftw, 1);
    std::memcpy(ext.data() + 0x18, &mxcsr, 4);
  }
  append(d, ext);
  return d;
}

template <class Ehdr, class Phdr>
ElfInfo write_elf(const std::filesystem::path& path, const Image& image, std::uint16_t machine,
                  const std::vector<std::pair<std::string, std::pair<std::uint32_t, std::vector<std::byte>>>>& note_list) {
  ElfInfo info;
  Writer w(path);
  const std::uint64_t phnum = 1 + image.ranges.size();
  info.phoff = sizeof(Ehdr);
  info.phentsize = sizeof(Phdr);
  info.note_offset = info.phoff + phnum * sizeof(Phdr);
  std::vector<std::byte> notes;
  for (const auto& [name, td] : note_list) add_note(notes, info.note_offsets, info.note_offset, name, td.first, td.second);
  info.note_size = notes.size();
  std::uint64_t data = (info.note_offset + notes.size() + 0xfff) & ~std::uint64_t{0xfff};
  Ehdr eh{};
  std::memcpy(eh.e_ident, kElfMagic, 4);
  eh.e_ident[4] = sizeof(Ehdr) == sizeof(Elf64Ehdr) ? kElfClass64 : kElfClass32;
  eh.e_ident[5] = kElfData2Lsb;
  eh.e_ident[6] = 1;
  eh.e_type = kElfTypeCore;
  eh.e_machine = machine;
  eh.e_version = 1;
  eh.e_phoff = decltype(eh.e_phoff)(info.phoff);
  eh.e_ehsize = sizeof(Ehdr);
  eh.e_phentsize = sizeof(Phdr);
  eh.e_phnum = std::uint16_t(phnum);
  w.write_value(0, eh);
  Phdr note{};
  note.p_type = kPtNote;
  note.p_offset = decltype(note.p_offset)(info.note_offset);
  note.p_filesz = note.p_memsz = decltype(note.p_filesz)(notes.size());
  w.write_value(info.phoff, note);
  w.write(info.note_offset, notes);
  for (std::size_t i = 0; i < image.ranges.size(); ++i) {
    const Range& r = image.ranges[i];
    Phdr ph{};
    ph.p_type = kPtLoad;
    ph.p_offset = decltype(ph.p_offset)(data);
    ph.p_paddr = decltype(ph.p_paddr)(r.base);
    ph.p_filesz = ph.p_memsz = decltype(ph.p_filesz)(r.size);
    w.write_value(info.phoff + (i + 1) * sizeof(Phdr), ph);
    info.data_offsets.push_back(data);
    w.write_range(data, r);
    data += r.size;
  }
  w.finish();
  return info;
}

}  // namespace

void address_pattern(std::uint64_t pa, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t a = pa + i;
    const std::uint64_t word = a & ~std::uint64_t{7};
    out[i] = std::byte(std::uint8_t(word >> (8 * (a & 7))));
  }
}

Range bytes_range(std::uint64_t base, std::vector<std::byte> bytes) {
  auto data = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  const std::uint64_t size = data->size();
  return {base, size, [data, base](std::uint64_t pa, std::span<std::byte> out) {
            std::memcpy(out.data(), data->data() + (pa - base), out.size());
          }};
}

Range zero_range(std::uint64_t base, std::uint64_t size) { return {base, size, {}}; }

Range address_pattern_range(std::uint64_t base, std::uint64_t size) {
  return {base, size, address_pattern};
}

std::uint64_t write_raw(const std::filesystem::path& path, const Image& image) {
  Writer w(path);
  for (const auto& r : image.ranges) w.write_range(r.base, r);
  w.finish();
  return w.end();
}

void write_memory_map(const std::filesystem::path& path, const Image& image) {
  std::ofstream out(path);
  out << "# START END (hexadecimal, END exclusive)\n";
  for (const auto& r : image.ranges) out << fmt::format("{:#x} {:#x}\n", r.base, r.base + r.size);
}

ElfInfo write_elf_qemu(const std::filesystem::path& path, const Image& image, const ElfOptions& o) {
  std::uint16_t machine = o.machine;
  if (machine == 0) {
    machine = !image.cpus.empty() && image.cpus[0].arch == CpuArch::x64 ? kElfMachineX86_64 : kElfMachine386;
  }
  std::vector<std::pair<std::string, std::pair<std::uint32_t, std::vector<std::byte>>>> notes;
  if (o.prstatus) {
    for (const auto& c : image.cpus) notes.push_back({"CORE", {kNtPrstatus, prstatus_for(c)}});
  }
  if (o.qemu_notes) {
    for (const auto& c : image.cpus) notes.push_back({"QEMU", {kNtQemuCpuState, qemu_note_for(c, o.qemu_note_size)}});
  }
  return o.elf64 ? write_elf<Elf64Ehdr, Elf64Phdr>(path, image, machine, notes)
                 : write_elf<Elf32Ehdr, Elf32Phdr>(path, image, machine, notes);
}

ElfInfo write_elf_vbox(const std::filesystem::path& path, const Image& image, const VBoxOptions& o) {
  std::vector<std::pair<std::string, std::pair<std::uint32_t, std::vector<std::byte>>>> notes;
  VBoxCoreDescriptor d{kVBoxCoreMagic, o.format_version, sizeof(VBoxCoreDescriptor), 0x07000000, 160000,
                       std::uint32_t(image.cpus.size())};
  std::vector<std::byte> db(sizeof d);
  std::memcpy(db.data(), &d, sizeof d);
  notes.push_back({"VBCORE", {kNtVBoxCore, db}});
  for (const auto& c : image.cpus) notes.push_back({"VBCPU", {kNtVBoxCpu, vbox_cpu_for(c, o)}});
  return write_elf<Elf64Ehdr, Elf64Phdr>(path, image, kElfMachineX86_64, notes);
}

std::vector<std::uint64_t> write_lime(const std::filesystem::path& path, const Image& image) {
  Writer w(path);
  std::vector<std::uint64_t> headers;
  std::uint64_t pos = 0;
  for (const auto& r : image.ranges) {
    LimeRangeHeader h{kLimeMagic, kLimeVersion, r.base, r.base + r.size - 1, {}};
    headers.push_back(pos);
    w.write_value(pos, h);
    w.write_range(pos + sizeof h, r);
    pos += sizeof h + r.size;
  }
  w.finish();
  return headers;
}

namespace {

void put_tag(std::vector<std::byte>& out, const std::string& name, std::vector<std::int32_t> idx,
             std::span<const std::byte> value) {
  const std::uint16_t t = vmss_make_tag(unsigned(name.size()), unsigned(idx.size()), unsigned(value.size()));
  append_value(out, t);
  append(out, std::as_bytes(std::span(name.data(), name.size())));
  for (auto i : idx) append_value(out, i);
  append(out, value);
}
template <class T>
void put_tag_value(std::vector<std::byte>& out, const std::string& name, std::vector<std::int32_t> idx, T v) {
  put_tag(out, name, std::move(idx), std::as_bytes(std::span(&v, 1)));
}

}  // namespace

void write_vmware(const std::filesystem::path& vmem, const std::filesystem::path& vmss, const Image& image) {
  std::vector<std::byte> memory_group, cpu_group;
  put_tag_value<std::uint32_t>(memory_group, "regionsCount", {}, std::uint32_t(image.ranges.size()));
  {
    Writer w(vmem);
    std::uint64_t page = 0;
    for (std::size_t i = 0; i < image.ranges.size(); ++i) {
      const Range& r = image.ranges[i];
      if (r.base % 4096 || r.size % 4096) throw std::invalid_argument("VMware ranges must be page-aligned");
      w.write_range(page * 4096, r);
      const std::int32_t ii = std::int32_t(i);
      put_tag_value<std::uint32_t>(memory_group, "regionPPN", {ii}, std::uint32_t(r.base / 4096));
      put_tag_value<std::uint32_t>(memory_group, "regionPageNum", {ii}, std::uint32_t(page));
      put_tag_value<std::uint32_t>(memory_group, "regionSize", {ii}, std::uint32_t(r.size / 4096));
      page += r.size / 4096;
    }
    w.finish();
  }
  memory_group.resize(memory_group.size() + 2);  // end tag
  put_tag_value<std::uint32_t>(cpu_group, "cpu:numVCPUs", {}, std::uint32_t(image.cpus.size()));
  static const char* kNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                 "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  for (const auto& c : image.cpus) {
    const std::int32_t ci = std::int32_t(c.index);
    for (int i = 0; i < 16; ++i) put_tag_value<std::uint64_t>(cpu_group, kNames[i], {ci}, c.gpr[std::size_t(i)]);
    put_tag_value<std::uint64_t>(cpu_group, "rip", {ci}, c.rip);
    put_tag_value<std::uint32_t>(cpu_group, "eflags", {ci}, std::uint32_t(c.rflags));
    const std::uint64_t crs[] = {c.cr0, 0, c.cr2, c.cr3, c.cr4};
    for (int n = 0; n < 5; ++n) put_tag_value<std::uint64_t>(cpu_group, "CR64", {ci, n}, crs[n]);
    put_tag_value<std::uint32_t>(cpu_group, "IDTR", {ci, 1}, std::uint32_t(c.idtr.base));
    put_tag_value<std::uint32_t>(cpu_group, "IDTR", {ci, 2}, std::uint32_t(c.idtr.base >> 32));
    put_tag_value<std::uint32_t>(cpu_group, "GDTR", {ci, 1}, std::uint32_t(c.gdtr.base));
    put_tag_value<std::uint32_t>(cpu_group, "GDTR", {ci, 2}, std::uint32_t(c.gdtr.base >> 32));
  }
  cpu_group.resize(cpu_group.size() + 2);
  Writer w(vmss);
  VmssHeader h{kVmssMagic, 8, 2};
  w.write_value(0, h);
  const std::uint64_t mem_at = sizeof h + 2 * sizeof(VmssGroupDesc);
  const std::uint64_t cpu_at = mem_at + memory_group.size();
  VmssGroupDesc g1{}, g2{};
  std::strcpy(g1.name, "memory");
  g1.position = mem_at;
  g1.size = memory_group.size();
  std::strcpy(g2.name, "cpu");
  g2.position = cpu_at;
  g2.size = cpu_group.size();
  w.write_value(sizeof h, g1);
  w.write_value(sizeof h + sizeof g1, g2);
  w.write(mem_at, memory_group);
  w.write(cpu_at, cpu_group);
  w.finish();
}

void patch_file(const std::filesystem::path& path, std::uint64_t offset, std::span<const std::byte> bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), off_t(offset));
  ::close(fd);
  if (n != ssize_t(bytes.size())) throw std::runtime_error("patch failed: " + path.string());
}

}  // namespace pagedump::test::images
