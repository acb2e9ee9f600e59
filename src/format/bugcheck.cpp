#include "pagedump/format/bugcheck.h"

namespace pagedump::format {

std::string_view bugcheck_name(std::uint32_t code) noexcept {
  switch (code) {
    case 0x0A: return "IRQL_NOT_LESS_OR_EQUAL";
    case 0x1A: return "MEMORY_MANAGEMENT";
    case 0x1E: return "KMODE_EXCEPTION_NOT_HANDLED";
    case 0x24: return "NTFS_FILE_SYSTEM";
    case 0x3B: return "SYSTEM_SERVICE_EXCEPTION";
    case 0x4A: return "IRQL_GT_ZERO_AT_SYSTEM_SERVICE";
    case 0x50: return "PAGE_FAULT_IN_NONPAGED_AREA";
    case 0x7A: return "KERNEL_DATA_INPAGE_ERROR";
    case 0x7B: return "INACCESSIBLE_BOOT_DEVICE";
    case 0x7E: return "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED";
    case 0x7F: return "UNEXPECTED_KERNEL_MODE_TRAP";
    case 0x9F: return "DRIVER_POWER_STATE_FAILURE";
    case 0xA0: return "INTERNAL_POWER_ERROR";
    case 0xBE: return "ATTEMPTED_WRITE_TO_READONLY_MEMORY";
    case 0xC2: return "BAD_POOL_CALLER";
    case 0xC4: return "DRIVER_VERIFIER_DETECTED_VIOLATION";
    case 0xC5: return "DRIVER_CORRUPTED_EXPOOL";
    case 0xD1: return "DRIVER_IRQL_NOT_LESS_OR_EQUAL";
    case 0xE2: return "MANUALLY_INITIATED_CRASH";
    case 0xEF: return "CRITICAL_PROCESS_DIED";
    case 0xF4: return "CRITICAL_OBJECT_TERMINATION";
    case 0xFC: return "ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY";
    case 0x101: return "CLOCK_WATCHDOG_TIMEOUT";
    case 0x109: return "CRITICAL_STRUCTURE_CORRUPTION";
    case 0x116: return "VIDEO_TDR_FAILURE";
    case 0x117: return "VIDEO_TDR_TIMEOUT_DETECTED";
    case 0x124: return "WHEA_UNCORRECTABLE_ERROR";
    case 0x133: return "DPC_WATCHDOG_VIOLATION";
    case 0x139: return "KERNEL_SECURITY_CHECK_FAILURE";
    case 0x13A: return "KERNEL_MODE_HEAP_CORRUPTION";
    case 0x141: return "VIDEO_ENGINE_TIMEOUT_DETECTED";
    case 0x144: return "BUGCODE_USB3_DRIVER";
    case 0x154: return "UNEXPECTED_STORE_EXCEPTION";
    case 0x15F: return "CONNECTED_STANDBY_WATCHDOG_TIMEOUT_LIVEDUMP";
    case 0x161: return "LIVE_SYSTEM_DUMP";
    case 0x18B: return "SECURE_KERNEL_ERROR";
    case 0x1C8: return "MANUALLY_INITIATED_POWER_BUTTON_HOLD";
    case 0x1000007E: return "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M";
    case 0x1000008E: return "KERNEL_MODE_EXCEPTION_NOT_HANDLED_M";
    case 0x100000EA: return "THREAD_STUCK_IN_DEVICE_DRIVER_M";
    case 0xDEADDEAD: return "MANUALLY_INITIATED_CRASH1";
    default: return {};
  }
}

}  // namespace pagedump::format
