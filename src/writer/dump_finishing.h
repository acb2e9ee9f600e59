// What every writer does to a header the routine built and to the output's pages: the
// bugcheck, the header context and exception record, the comment, and the overlays that make
// the memory consistent for a debugger (decoded KDBG, cleared KdpDataBlockEncoded, every
// processor's CONTEXT where debuggers look for it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "overlays.h"
#include "pagedump/discovery/system.h"

namespace pagedump::writer {

// The bugcheck a dump records: the override, else the machine's own (it crashed), else 0xE2
// MANUALLY_INITIATED_CRASH (the capture was initiated by hand).
Bugcheck choose_bugcheck(const DiscoveredSystem& system, const std::optional<Bugcheck>& override_);

// The CONTEXT for the header: the given processor's, with ContextFlags set and MxCsr equal in
// the record and its FltSave copy; a minimal kernel-mode one when nothing is known.
std::vector<std::byte> header_context(const DiscoveredSystem& system, std::uint32_t cpu);

// Stores DumpType, bugcheck, context, exception record (STATUS_BREAKPOINT, non-continuable, at
// the context's instruction pointer), RequiredDumpSpace and the comment.
void finish_header(std::span<std::byte> header, const DiscoveredSystem& system,
                   std::uint32_t dump_type, const Bugcheck& bugcheck,
                   std::span<const std::byte> context, std::uint64_t required_dump_space,
                   const std::string& comment);

// The overlays for the output's pages. Notes say what could not be placed.
Overlays consistency_overlays(const PhysicalMemory& image, const DiscoveredSystem& system,
                              std::vector<std::string>& notes);

std::string dump_comment(const std::string& source_format);

// Reads pages [pfn, pfn + out.size() / 4 KiB) of the image into `out` with the overlays applied;
// throws Error (truncated / not_present) naming the first address that could not be read.
void read_corrected_pages(const PhysicalMemory& image, const Overlays& overlays, std::uint64_t pfn,
                          std::span<std::byte> out);

// True for a 4 KiB page of zeros.
bool is_zero_page(std::span<const std::byte> page) noexcept;

}  // namespace pagedump::writer
