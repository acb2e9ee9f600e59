// The synthetic guest written in the formats users arrive with (raw + memory map, QEMU ELF
// core, LiME, VirtualBox core, VMware), through the test image writers.
#pragma once

#include <filesystem>
#include <string>

#include "pagedump/synth/guest.h"

namespace pagedump::test {

enum class GuestImageFormat { raw, elf_qemu, lime, elf_vbox, vmware };

// Writes the guest as `format` at `path` and returns the path pagedump should open (for
// VMware the .vmem; its .vmss is written beside it). Raw images get `path`.map as their
// memory map (the file spans the holes between ranges).
std::filesystem::path write_guest_image(const synth::Guest& guest, GuestImageFormat format,
                                        const std::filesystem::path& path);

std::string to_string(GuestImageFormat format);

}  // namespace pagedump::test
