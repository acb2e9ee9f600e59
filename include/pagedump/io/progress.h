// A one-line progress display on stderr for long work. Silent when stderr is not a terminal
// or when quiet; redraws at most a few times a second so it never slows the work down.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pagedump {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total_bytes, bool quiet);
  ~Progress();
  void update(std::uint64_t done_bytes);
  void finish();
  bool active() const noexcept { return active_; }

 private:
  void draw(std::uint64_t done, bool final);
  std::string label_;
  std::uint64_t total_;
  bool active_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace pagedump
