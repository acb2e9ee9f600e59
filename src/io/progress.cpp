#include "pagedump/io/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace pagedump {

Progress::Progress(std::string label, std::uint64_t total_bytes, bool quiet)
    : label_(std::move(label)),
      total_(total_bytes),
      active_(!quiet && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (active_ && !finished_) std::fputs("\n", stderr);
}

void Progress::update(std::uint64_t done) {
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  draw(done, false);
}

void Progress::finish() {
  if (!active_ || finished_) return;
  draw(total_, true);
  finished_ = true;
}

void Progress::draw(std::uint64_t done, bool final) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double mib = double(done) / (1 << 20);
  const double pct = total_ ? 100.0 * double(done) / double(total_) : 100.0;
  std::string line = fmt::format("\r{}: {:5.1f}% ({:.0f} of {:.0f} MiB, {:.0f} MiB/s)", label_,
                                 pct, mib, double(total_) / (1 << 20),
                                 secs > 0 ? mib / secs : 0.0);
  std::fputs(line.c_str(), stderr);
  if (final) std::fputs("\n", stderr);
  std::fflush(stderr);
}

}  // namespace pagedump
