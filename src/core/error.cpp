#include "pagedump/error.h"

namespace pagedump {

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::not_a_dump: return "not a dump";
    case ErrorKind::user_mode_dump: return "user-mode dump";
    case ErrorKind::truncated: return "truncated";
    case ErrorKind::inconsistent: return "inconsistent";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::not_present: return "not present";
    case ErrorKind::io: return "i/o error";
    case ErrorKind::usage: return "usage";
  }
  return "error";
}

}  // namespace pagedump
