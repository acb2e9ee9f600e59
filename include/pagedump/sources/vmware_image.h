// VMware suspended states and snapshots: a .vmem (guest memory) with its .vmss/.vmsn
// checkpoint, whose "memory" group maps the .vmem onto physical addresses (regions leave the
// PCI hole below 4 GiB out) and whose "cpu" group carries per-CPU registers. A checkpoint
// that embeds its memory (an uncompressed "Memory" block) is read in place.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pagedump/physical_memory.h"

namespace pagedump {

bool is_vmware_state_magic(std::uint32_t magic) noexcept;

// The checkpoint beside a .vmem ("x.vmem" -> "x.vmss", else "x.vmsn"), if there is one.
std::optional<std::string> find_vmware_state_for(const std::string& vmem_path);

// `path` is either the checkpoint or the .vmem. Format name "vmware".
std::unique_ptr<PhysicalMemory> open_vmware_image(const std::string& path);

}  // namespace pagedump
