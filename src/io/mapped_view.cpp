#include "mapped_view.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/io/input_file.h"

namespace pagedump::io_detail {
namespace {

// The copy in progress on this thread, if any: where the handler jumps back to, and the
// bytes of the mapping it reads (a fault elsewhere, in the caller's buffer, is not ours).
thread_local sigjmp_buf* t_recover = nullptr;
thread_local std::uintptr_t t_first = 0;
thread_local std::uintptr_t t_end = 0;
struct sigaction g_previous {};
std::once_flag g_installed;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto at = reinterpret_cast<std::uintptr_t>(info ? info->si_addr : nullptr);
  if (sigjmp_buf* recover = t_recover; recover && at >= t_first && at < t_end) {
    t_recover = nullptr;
    siglongjmp(*recover, 1);  // SA_NODEFER: SIGBUS is not blocked here, so no mask to restore
  }
  // Not a guarded copy: what the process would have done without pagedump.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) g_previous.sa_sigaction(sig, info, context);
    return;
  }
  const bool fault = info && info->si_code > 0;  // raised by a faulting access, not by kill()
  if (g_previous.sa_handler == SIG_IGN && !fault) return;
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // The default action (the kernel applies it to a fault even when the signal is ignored):
  // a fault happens again when this returns, a signal that was sent is raised again.
  ::signal(SIGBUS, SIG_DFL);
  if (!fault) ::raise(SIGBUS);
}

void install_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &g_previous);
}

}  // namespace

MappedView::MappedView(const InputFile& file) : size_(file.size()) {
  std::call_once(g_installed, install_handler);
  if (size_ == 0) return;  // nothing to map; copy() is never asked for a byte
  void* p = ::mmap(nullptr, static_cast<std::size_t>(size_), PROT_READ, MAP_SHARED, file.fd(), 0);
  if (p == MAP_FAILED) {
    throw Error(ErrorKind::io, fmt::format("{}: cannot map its {:#x} bytes for reading: {}",
                                           file.path(), size_, std::strerror(errno)));
  }
  base_ = static_cast<const std::byte*>(p);
}

MappedView::~MappedView() {
  if (base_) ::munmap(const_cast<std::byte*>(base_), static_cast<std::size_t>(size_));
}

bool MappedView::copy(std::uint64_t offset, std::span<std::byte> out) const noexcept {
  sigjmp_buf recover;
  if (sigsetjmp(recover, 0) != 0) return false;  // the handler has cleared t_recover
  t_first = reinterpret_cast<std::uintptr_t>(base_ + offset);
  t_end = t_first + out.size();
  t_recover = &recover;
  // The fences keep the compiler from moving the copy's accesses out of the guarded stretch.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(out.data(), base_ + offset, out.size());
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_recover = nullptr;
  return true;
}

}  // namespace pagedump::io_detail
