// Errors raised by the library. Every error says what was wrong, where (file offset and
// field, or address), and what was expected; the kind lets callers map it to an exit code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pagedump {

enum class ErrorKind {
  not_a_dump,      // the file is not a kernel dump at all
  user_mode_dump,  // a user-mode minidump ('MDMP' / 'USERDU64')
  truncated,       // something the file claims lies beyond its end
  inconsistent,    // fields of the file disagree with each other or are out of range
  unsupported,     // recognised, but not (yet) handled
  not_present,     // the memory asked for is not in the dump or image
  io,              // the operating system refused a read or write
  usage,           // the caller asked for something meaningless
};

const char* to_string(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace pagedump
