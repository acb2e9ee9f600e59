// ELF core files holding guest-physical memory: QEMU's dump-guest-memory (also what
// `virsh dump --memory-only` produces), and VirtualBox's `debugvm dumpvmcore`. Each PT_LOAD's
// p_paddr is a physical address; the notes carry per-CPU state (NT_PRSTATUS + "QEMU" notes,
// or "VBCORE" + "VBCPU" notes).
#pragma once

#include <memory>
#include <string>

#include "pagedump/physical_memory.h"

namespace pagedump {

// Format names: "elf-qemu" (QEMU notes), "elf-vbox" (VirtualBox notes), "elf" (a physical
// ELF core with neither).
std::unique_ptr<PhysicalMemory> open_elf_core(const std::string& path);

}  // namespace pagedump
