// Writers of memory images in every format pagedump reads, built from the formats' published
// layouts: raw (+ memory map), QEMU-style ELF core (NT_PRSTATUS + "QEMU" notes), VirtualBox
// core (VBCORE + VBCPU notes), LiME, and VMware .vmem + .vmss. Tests use them to build images
// with known bytes and registers; the synthetic Windows guest builder emits through them.
//
// Memory stays bounded whatever the image size: range contents are produced chunk by chunk,
// and all-zero chunks are skipped so that the file stays sparse (a 16 GiB image of zeros costs
// no disk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "pagedump/cpu_state.h"

namespace pagedump::test::images {

// Fills `out` with the bytes at physical address `pa` onwards.
using Generator = std::function<void(std::uint64_t pa, std::span<std::byte> out)>;

struct Range {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  Generator fill;  // empty: zeros
};

// A range holding exactly `bytes`.
Range bytes_range(std::uint64_t base, std::vector<std::byte> bytes);
// A range of zeros (written as a file-system hole where the format allows).
Range zero_range(std::uint64_t base, std::uint64_t size);
// A range whose every 8-byte word holds its own physical address (checks offsets for free).
Range address_pattern_range(std::uint64_t base, std::uint64_t size);
// The bytes address_pattern_range() puts at `pa`.
void address_pattern(std::uint64_t pa, std::span<std::byte> out);

struct Image {
  std::vector<Range> ranges;  // ascending, non-overlapping
  std::vector<CpuState> cpus;
};

// Raw: file offset = physical address, file size = end of the last range; the gaps between
// ranges are holes of the file. Returns the file size.
std::uint64_t write_raw(const std::filesystem::path& path, const Image& image);
// A memory map "START END" (hex, END exclusive) per range, for --memory-map.
void write_memory_map(const std::filesystem::path& path, const Image& image);

struct ElfOptions {
  bool elf64 = true;
  // 0: EM_X86_64 when the first CPU is x64, else EM_386 (as QEMU chooses from long mode).
  std::uint16_t machine = 0;
  bool prstatus = true;     // NT_PRSTATUS per CPU (x86-64 or i386 layout from CpuState::arch)
  bool qemu_notes = true;   // "QEMU" note (QEMUCPUState v1) per CPU
  std::uint32_t qemu_note_size = 0x1b8;  // 0x1b0: the older note without kernel_gs_base
};

// Where the ELF writer put things, so tests can damage them precisely.
struct ElfInfo {
  std::uint64_t phoff = 0;
  std::uint64_t phentsize = 0;
  std::uint64_t note_offset = 0;  // file offset of the PT_NOTE data
  std::uint64_t note_size = 0;
  std::vector<std::uint64_t> note_offsets;  // each note header
  std::vector<std::uint64_t> data_offsets;  // each range's bytes
};

// QEMU dump-guest-memory style core (paging off): one PT_NOTE, one PT_LOAD per range with
// p_paddr = base, notes per CPU in QEMU's order (all NT_PRSTATUS, then all QEMU notes).
ElfInfo write_elf_qemu(const std::filesystem::path& path, const Image& image,
                       const ElfOptions& options = {});

struct VBoxOptions {
  std::uint32_t format_version = 0x00010006;
  std::uint32_t ext_size = 512;  // bytes of FXSAVE area written after the fixed part
};
// VBoxManage debugvm dumpvmcore style core: ELF64, VBCORE + one VBCPU note per CPU.
ElfInfo write_elf_vbox(const std::filesystem::path& path, const Image& image,
                       const VBoxOptions& options = {});

// LiME: per range a 32-byte header (magic, version 1, start, inclusive end) and the bytes.
// Returns the file offset of each range header.
std::vector<std::uint64_t> write_lime(const std::filesystem::path& path, const Image& image);

// VMware: the ranges (page-aligned) packed back to back into `vmem`, and a checkpoint `vmss`
// with the "memory" group's region table and a "cpu" group of per-CPU register tags
// (cpu:numVCPUs, rax..r15, rip, eflags, CR64[cpu][n], IDTR/GDTR halves).
void write_vmware(const std::filesystem::path& vmem, const std::filesystem::path& vmss,
                  const Image& image);

// Overwrites bytes of an existing file (tests' malformed variants).
void patch_file(const std::filesystem::path& path, std::uint64_t offset,
                std::span<const std::byte> bytes);
template <class T>
void patch_value(const std::filesystem::path& path, std::uint64_t offset, const T& value) {
  patch_file(path, offset, std::as_bytes(std::span(&value, 1)));
}

}  // namespace pagedump::test::images
