#include "pagedump/io/output_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "pagedump/error.h"

namespace pagedump {
namespace {

std::string folder_of(const std::string& target) {
  auto parent = std::filesystem::path(target).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

[[noreturn]] void fail_errno(const std::string& target, const char* what, int e) {
  std::string hint;
  if (e == ENOSPC) hint = " (the disk is full)";
  if (e == EFBIG) hint = " (the file-size limit was reached)";
  throw Error(ErrorKind::io, fmt::format("{}: {}: {}{}; nothing was written", target, what,
                                         std::strerror(e), hint));
}

}  // namespace

OutputFile::OutputFile(const std::string& target, bool overwrite)
    : target_(target), overwrite_(overwrite) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    if (!overwrite) {
      throw Error(ErrorKind::usage,
                  fmt::format("{}: the file exists; use --force to replace it", target));
    }
    if (S_ISDIR(st.st_mode)) {
      throw Error(ErrorKind::usage, fmt::format("{}: is a directory", target));
    }
  }
  std::string name = std::filesystem::path(target).filename().string();
  std::string tmpl = folder_of(target) + "/." + name + ".pagedump-XXXXXX";
  // mkostemp creates with O_EXCL: an attacker's link at the name is never followed.
  fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd_ < 0) fail_errno(target, "cannot create a temporary file beside it", errno);
  temp_ = tmpl;
  ::fchmod(fd_, 0644);
}

OutputFile::~OutputFile() {
  if (!committed_) discard();
}

void OutputFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::write_at(std::uint64_t offset, std::span<const std::byte> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(offset + done));
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
}

void OutputFile::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    discard();
    fail_errno(target_, "cannot set the file size", e);
  }
}

void OutputFile::commit() {
  if (::fsync(fd_) != 0) {
    const int e = errno;
    discard();
    fail_errno(target_, "cannot flush the file to disk", e);
  }
  ::close(fd_);
  fd_ = -1;
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
