// How the tool's process takes its memory.
//
// A small command (converting a sparse image, inspect, small) is mostly start-up, and its
// start-up is mostly page faults: on virtual machines with shadow or paravirtual paging a fault
// costs microseconds (9 us on the machine of docs/performance.md, where a system call costs 1),
// so touching some 90 fresh heap pages one at a time cost as much as discovery's own work.
// Neither function changes what a command computes or reports; both only change when pages
// are committed.
#pragma once

#include <cstddef>

namespace pagedump::cli {

// Buffers of up to 4 MiB come from the heap and go back to it when freed (glibc would map and
// unmap each one over 128 KiB), so a buffer one stage frees (discovery's scan blocks, a
// translation cache) is reused by the next instead of being faulted in again; up to 8 MiB
// freed at the top of the heap stays. Call once, before anything is allocated in earnest.
void keep_freed_buffers() noexcept;

// Commits `bytes` of heap in one call (MADV_POPULATE_WRITE, Linux 5.14+; a no-op elsewhere)
// and frees them for the allocations that follow: one system call instead of a fault per
// page. For commands about to use that much, since it costs a command that does not (about
// 2 us a page here). Needs keep_freed_buffers() first, or the block would be unmapped at free.
void commit_heap(std::size_t bytes) noexcept;

// Heap that image discovery and the first megabytes of a conversion touch: a conversion of the
// benchmark's 1 GiB sparse image took 226 page faults without committing, 169 with 256 KiB
// committed, 143 with 512 KiB and 141 with 1 MiB.
inline constexpr std::size_t kDiscoveryHeapBytes = std::size_t(512) << 10;

}  // namespace pagedump::cli
