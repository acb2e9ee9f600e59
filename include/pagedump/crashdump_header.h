/*
 * KeInitializeCrashDumpHeader for a captured memory image.
 *
 * On Windows, KeInitializeCrashDumpHeader(DumpType, Flags, Buffer, BufferSize, BufferNeeded)
 * builds ahead of time the header of a complete memory dump; appending the machine's physical
 * memory to it gives a file a debugger opens. pagedump provides the same routine for a system
 * it discovered in a memory image (reference: ../shared/docs/dump-format.md §2, §3, §8).
 *
 * Contract (the Windows one):
 *   - DumpType must be PAGEDUMP_DUMP_TYPE_FULL (1) and Flags must be 0; otherwise the routine
 *     returns PAGEDUMP_STATUS_INVALID_PARAMETER and does not write the buffer.
 *   - BufferNeeded, when not NULL, always receives the header size: 0x2000 for a 64-bit target,
 *     0x1000 for a 32-bit one (whatever the outcome, also when Buffer is NULL or too small).
 *   - Buffer NULL or BufferSize below the header size: PAGEDUMP_STATUS_BUFFER_TOO_SMALL, and the
 *     buffer is not written.
 *   - A system whose physical memory descriptor has more runs than the header holds (42 for
 *     64-bit, 86 for 32-bit) cannot be described by a complete-dump header:
 *     PAGEDUMP_STATUS_NOT_SUPPORTED (write a bitmap dump instead).
 *   - Success: PAGEDUMP_STATUS_SUCCESS; the first header-size bytes of Buffer hold the header.
 *
 * What it fills, over the "PAGE" fill: the signatures, MajorVersion/MinorVersion, the System
 * process DirectoryTableBase, PfnDataBase (the address of nt!MmPfnDatabase, as crash-time
 * dumps hold it), PsLoadedModuleList, PsActiveProcessHead, MachineImageType,
 * NumberProcessors, KdDebuggerDataBlock, the physical memory runs of the kernel's own
 * descriptor (the pad after NumberOfRuns left as fill), DumpType, SystemTime, SystemUpTime,
 * ProductType, SuiteMask, KdSecondaryVersion and, for 32-bit targets, PaeEnabled.
 * What it leaves as fill, for the writer: RequiredDumpSpace, the bugcheck code and parameters,
 * the context record, the exception record and the comment. Like the Windows routine it must
 * be called again when the machine's memory changes.
 *
 * The routine allocates nothing and only reads the system: it is safe to call from several
 * threads at once.
 */
#ifndef PAGEDUMP_CRASHDUMP_HEADER_H
#define PAGEDUMP_CRASHDUMP_HEADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t PAGEDUMP_NTSTATUS;

#define PAGEDUMP_STATUS_SUCCESS ((PAGEDUMP_NTSTATUS)0x00000000)
#define PAGEDUMP_STATUS_INVALID_PARAMETER ((PAGEDUMP_NTSTATUS)0xC000000D)
#define PAGEDUMP_STATUS_BUFFER_TOO_SMALL ((PAGEDUMP_NTSTATUS)0xC0000023)
#define PAGEDUMP_STATUS_NOT_SUPPORTED ((PAGEDUMP_NTSTATUS)0xC00000BB)
#define PAGEDUMP_STATUS_NOT_FOUND ((PAGEDUMP_NTSTATUS)0xC0000225)

#define PAGEDUMP_DUMP_TYPE_FULL 1u

/* A Windows system discovered in a memory image. */
typedef struct pagedump_system pagedump_system;

/*
 * Opens a memory image (any format pagedump reads, recognised by content) and discovers the
 * Windows kernel in it. On failure returns PAGEDUMP_STATUS_NOT_FOUND (no kernel) or
 * PAGEDUMP_STATUS_INVALID_PARAMETER (unreadable image), and copies a NUL-terminated message
 * into `error` (truncated to error_size; may be NULL).
 */
PAGEDUMP_NTSTATUS pagedump_system_open(const char* image_path, pagedump_system** system,
                                       char* error, size_t error_size);
void pagedump_system_close(pagedump_system* system);

PAGEDUMP_NTSTATUS pagedump_ke_initialize_crash_dump_header(const pagedump_system* system,
                                                           uint32_t DumpType, uint32_t Flags,
                                                           void* Buffer, uint32_t BufferSize,
                                                           uint32_t* BufferNeeded);

#ifdef __cplusplus
}

#include <span>

namespace pagedump {

struct DiscoveredSystem;

// The routine over a discovered system (the C entry points wrap this).
PAGEDUMP_NTSTATUS ke_initialize_crash_dump_header(const DiscoveredSystem& system,
                                                  uint32_t dump_type, uint32_t flags,
                                                  void* buffer, uint32_t buffer_size,
                                                  uint32_t* buffer_needed) noexcept;

// Header size of the system's dump: 0x2000 (64-bit) or 0x1000 (32-bit).
uint32_t crash_dump_header_size(const DiscoveredSystem& system) noexcept;

// What the routine writes, for writers of other layouts: the 'PAGE' fill and the system's
// fields, with the physical memory runs (complete dumps) or without them (bitmap, kernel and
// small dumps leave the block as fill). `header` must be crash_dump_header_size() bytes.
void fill_system_header(const DiscoveredSystem& system, std::span<std::byte> header,
                        bool with_runs) noexcept;

}  // namespace pagedump
#endif

#endif /* PAGEDUMP_CRASHDUMP_HEADER_H */
