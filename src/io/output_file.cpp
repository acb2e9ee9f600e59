#include "pagedump/io/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "file_kind.h"
#include "pagedump/error.h"

namespace pagedump {
namespace {

std::string folder_of(const std::string& target) {
  auto parent = std::filesystem::path(target).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string temp_prefix(const std::string& target) {
  return "." + std::filesystem::path(target).filename().string() + ".pagedump-";
}

[[noreturn]] void fail_errno(const std::string& target, const char* what, int e) {
  std::string hint;
  if (e == ENOSPC) hint = " (the disk is full)";
  if (e == EFBIG) hint = " (the file-size limit was reached)";
  throw Error(ErrorKind::io, fmt::format("{}: {}: {}{}; nothing was written", target, what,
                                         std::strerror(e), hint));
}

// Temporary files a signal handler must remove: fixed slots of NUL-terminated paths, so the
// handler touches no heap and no lock. A slot is claimed by a compare-exchange on `used`.
// Constant-initialised: as a dynamically initialised object, each of the eight slots' pages
// was written at start-up (eight page faults, 0.07 ms, in every command).
constexpr std::size_t kSlots = 8;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> used{0};
  char path[kPathMax]{};
};
constinit std::array<Slot, kSlots> g_slots{};

int claim_slot(const std::string& path) noexcept {
  if (path.size() >= kPathMax) return -1;
  for (std::size_t i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].used.compare_exchange_strong(expected, 2)) {  // 2: being filled
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].used.store(1);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void release_slot(int slot) noexcept {
  if (slot >= 0) g_slots[static_cast<std::size_t>(slot)].used.store(0);
}

extern "C" void on_interrupt(int sig) {
  for (auto& s : g_slots) {
    if (s.used.load() == 1) ::unlink(s.path);
  }
  static const char msg[] = "pagedump: interrupted; the unfinished output was removed\n";
  [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// The output replaces the target by a rename, so a target that is not a regular file would be
// replaced, not written to: --force over /dev/null would leave a dump where the device was.
// Refused with or without --force; a link is judged by what it leads to (a link to a regular
// file is replaced by the dump, as a rename does; the file it led to is left as it was).
// `st`: the target's lstat.
void refuse_non_regular_target(const std::string& target, struct stat st) {
  std::string through;
  if (S_ISLNK(st.st_mode)) {
    if (::stat(target.c_str(), &st) != 0) return;  // a dangling link: nothing behind it
    through = " (through a link)";
  }
  if (S_ISREG(st.st_mode)) return;
  throw Error(ErrorKind::usage,
              fmt::format("{}: is {}{}; pagedump writes its output as a new regular file "
                          "and never replaces anything else, even with --force: choose a file "
                          "path",
                          target, io_detail::file_kind(st.st_mode), through));
}

bool pid_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

void install_interrupt_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
    ::signal(SIGXFSZ, SIG_IGN);
  });
}

void refuse_output_over_input(const std::string& output, std::span<const std::string> inputs) {
  struct stat out {};
  if (output.empty() || ::stat(output.c_str(), &out) != 0) return;  // does not exist (yet)
  for (const auto& in : inputs) {
    struct stat st {};
    if (in.empty() || ::stat(in.c_str(), &st) != 0) continue;
    if (st.st_dev == out.st_dev && st.st_ino == out.st_ino) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: this is the input file {} (the same file{}); pagedump never "
                              "writes over its source: choose another output",
                              output, in, output == in ? "" : " through a link"));
    }
  }
}

std::size_t OutputFile::remove_stale_temporaries(const std::string& target) {
  const std::string folder = folder_of(target);
  const std::string prefix = temp_prefix(target);
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return 0;
  const int dfd = ::dirfd(dir);
  std::size_t removed = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name(e->d_name);
    if (!name.starts_with(prefix)) continue;
    // ".NAME.pagedump-PID-XXXXXX": the writer's PID.
    const std::string_view rest = name.substr(prefix.size());
    long pid = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc{} || ptr == rest.data() + rest.size() || *ptr != '-') continue;
    if (pid_alive(pid)) continue;
    const int fd = ::openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;  // a link (ELOOP) or gone
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      // Still the same file under that name (not swapped for another meanwhile)?
      struct stat now {};
      if (::fstatat(dfd, e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
          now.st_ino == st.st_ino && ::unlinkat(dfd, e->d_name, 0) == 0) {
        ++removed;
      }
    }
    ::close(fd);
  }
  ::closedir(dir);
  return removed;
}

OutputFile::OutputFile(const std::string& target, bool overwrite, bool durable)
    : target_(target), overwrite_(overwrite), durable_(durable) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    refuse_non_regular_target(target, st);  // first: not "use --force" for a device
    if (!overwrite) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: the file exists; use --force to replace it", target));
    }
  }
  remove_stale_temporaries(target);
  std::string tmpl =
      fmt::format("{}/{}{}-XXXXXX", folder_of(target), temp_prefix(target), ::getpid());
  // mkostemp creates with O_EXCL: an attacker's link at the name is never followed.
  fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd_ < 0) fail_errno(target, "cannot create a temporary file beside it", errno);
  temp_ = tmpl;
  slot_ = claim_slot(temp_);
  // Held until the file is closed: tells remove_stale_temporaries() a writer is alive.
  ::flock(fd_, LOCK_EX | LOCK_NB);
  ::fchmod(fd_, 0644);
  if (const char* s = std::getenv("PAGEDUMP_TEST_STOP_AFTER")) {
    stop_after_ = std::strtoull(s, nullptr, 0);
  }
  if (const char* s = std::getenv("PAGEDUMP_TEST_WRITE_ERROR")) {  // "OFFSET:ERRNO"
    char* end = nullptr;
    fail_at_ = std::strtoull(s, &end, 0);
    fail_errno_ = *end == ':' ? std::atoi(end + 1) : EIO;
  }
}

OutputFile::~OutputFile() {
  if (!committed_) discard();
  release_slot(slot_);
}

void OutputFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) ::unlink(temp_.c_str());
  release_slot(slot_);
  slot_ = -1;
}

// Tests stop the writer at a known point (after `PAGEDUMP_TEST_STOP_AFTER` bytes of output
// offset) to kill or interrupt it there; no timing involved.
void OutputFile::test_stop_hook(std::uint64_t end) noexcept {
  if (stop_after_ != 0 && end >= stop_after_) {
    stop_after_ = 0;
    ::raise(SIGSTOP);
  }
}

void OutputFile::write_at(std::uint64_t offset, std::span<const std::byte> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = -1;
    if (fail_errno_ != 0 && offset + bytes.size() > fail_at_) {
      errno = fail_errno_;  // test seam: PAGEDUMP_TEST_WRITE_ERROR
    } else {
      n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                   static_cast<off_t>(offset + done));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      discard();
      fail_errno(target_, fmt::format("write at offset {:#x} failed", offset + done).c_str(), e);
    }
    if (n == 0) {
      discard();
      fail_errno(target_, "write made no progress", ENOSPC);
    }
    done += static_cast<std::size_t>(n);
  }
  write_behind(offset + bytes.size());
  test_stop_hook(offset + bytes.size());
}

// Dumps are written front to back. Starting the disk writes of each finished stretch while the
// next one is copied leaves little for the fsync in commit(): the output is on disk about when
// `cp` would have only filled the page cache. Best effort: commit()'s fsync is the guarantee.
void OutputFile::write_behind(std::uint64_t end) noexcept {
  constexpr std::uint64_t kStretch = 32ull << 20;
  if (!durable_) return;
  written_end_ = std::max(written_end_, end);
  if (written_end_ - writeback_to_ < kStretch) return;
  ::sync_file_range(fd_, static_cast<off_t>(writeback_to_),
                    static_cast<off_t>(written_end_ - writeback_to_), SYNC_FILE_RANGE_WRITE);
  writeback_to_ = written_end_;
}

void OutputFile::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    discard();
    fail_errno(target_, "cannot set the file size", e);
  }
  test_stop_hook(size);
}

void OutputFile::commit() {
  if (durable_ && ::fsync(fd_) != 0) {
    const int e = errno;
    discard();
    fail_errno(target_, "cannot flush the file to disk", e);
  }
  int rc;
  if (overwrite_) {
    rc = ::rename(temp_.c_str(), target_.c_str());
  } else {
    // link() fails if the target appeared meanwhile: never replace what someone else wrote.
    rc = ::link(temp_.c_str(), target_.c_str());
    if (rc == 0) ::unlink(temp_.c_str());
  }
  if (rc != 0) {
    const int e = errno;
    discard();
    if (e == EEXIST) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: the file appeared while writing; nothing was replaced (use "
                              "--force to replace it)",
                              target_));
    }
    fail_errno(target_, "cannot move the finished file into place", e);
  }
  // Closed (and unlocked) only once the name is gone: a cleaner never sees it unlocked.
  ::close(fd_);
  fd_ = -1;
  release_slot(slot_);
  slot_ = -1;
  committed_ = true;
}

std::uint64_t OutputFile::free_space(const std::string& target) {
  struct statvfs vfs {};
  if (::statvfs(folder_of(target).c_str(), &vfs) != 0) {
    throw Error(ErrorKind::io, fmt::format("{}: cannot query free space: {}", folder_of(target),
                                           std::strerror(errno)));
  }
  return std::uint64_t(vfs.f_bavail) * vfs.f_frsize;
}

}  // namespace pagedump
