// Real QEMU: a TCG guest (no display, started paused) runs a tiny BIOS of our own that loads
// known values into the registers and halts; known bytes sit at known physical addresses
// (-device loader). dump-guest-memory (paging off) over QMP captures it, and pagedump must
// read back every placed byte and the registers. Skips with a message when QEMU is absent.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "pagedump/sources/open_image.h"
#include "sources_test_util.h"
#include "support/temp_dir.h"

extern char** environ;

namespace pagedump::test {
namespace {

std::optional<std::string> find_qemu() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/qemu-system-x86_64";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return std::nullopt;
}

#define REQUIRE_QEMU(var)                                                                   \
  auto var##_opt = find_qemu();                                                             \
  if (!var##_opt) {                                                                         \
    GTEST_SKIP() << "qemu-system-x86_64 not found in PATH (apt-get install qemu-system-x86)"; \
  }                                                                                         \
  const std::string var = *var##_opt

// The guest's code: 32-bit immediates into every general register (operand-size prefix in
// real mode), then HLT. EIP after the HLT is kCodeAt + 8 * 6 + 1.
constexpr std::uint32_t kCodeAt = 0xf000;
constexpr std::uint32_t kHaltedEip = kCodeAt + 49;
struct RegValue {
  std::uint8_t opcode;
  int gpr;
  std::uint32_t value;
};
constexpr RegValue kRegs[] = {
    {0xb8, CpuState::rax, 0x11223344}, {0xbb, CpuState::rbx, 0x55667788},
    {0xb9, CpuState::rcx, 0x99aabbcc}, {0xba, CpuState::rdx, 0xddeeff01},
    {0xbe, CpuState::rsi, 0x01020304}, {0xbf, CpuState::rdi, 0x05060708},
    {0xbd, CpuState::rbp, 0x090a0b0c}, {0xbc, CpuState::rsp, 0x00007c00},
};

std::vector<std::byte> make_bios() {
  std::vector<std::byte> bios(0x10000, std::byte{0xf4});
  std::size_t at = kCodeAt;
  for (const auto& r : kRegs) {
    bios[at++] = std::byte{0x66};
    bios[at++] = std::byte{r.opcode};
    for (int i = 0; i < 4; ++i) bios[at++] = std::byte(std::uint8_t(r.value >> (8 * i)));
  }
  bios[at++] = std::byte{0xf4};  // hlt
  bios[at++] = std::byte{0xeb};  // jmp back to the hlt
  bios[at++] = std::byte{0xfd};
  // Reset vector (CS base 0xffff0000, IP 0xfff0): near jump to the code.
  const std::uint16_t rel = std::uint16_t(kCodeAt - (0xfff0 + 3));
  bios[0xfff0] = std::byte{0xe9};
  bios[0xfff1] = std::byte(std::uint8_t(rel));
  bios[0xfff2] = std::byte(std::uint8_t(rel >> 8));
  return bios;
}

void write_file(const std::filesystem::path& p, std::span<const std::byte> bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

struct Blob {
  std::uint64_t address;
  std::vector<std::byte> bytes;
};

// One QEMU process and its QMP connection.
class Qemu {
 public:
  Qemu(const std::string& binary, const TempDir& dir, const std::string& memory, const std::vector<Blob>& blobs) {
    const auto bios = dir / "bios.bin";
    write_file(bios, make_bios());
    socket_path_ = (dir / "qmp.sock").string();
    std::vector<std::string> args = {binary, "-machine", "pc", "-accel", "tcg", "-m", memory,
                                     "-nodefaults", "-display", "none", "-S", "-bios", bios.string(),
                                     "-qmp", "unix:" + socket_path_ + ",server=on,wait=off"};
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      const auto f = dir / ("blob" + std::to_string(i));
      write_file(f, blobs[i].bytes);
      args.push_back("-device");
      args.push_back("loader,file=" + f.string() + ",addr=" + std::to_string(blobs[i].address) + ",force-raw=on");
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = (dir / "qemu.log").string();
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
    connect();
    read_line();  // greeting
    command("qmp_capabilities");
  }
  ~Qemu() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  nlohmann::json command(const std::string& name, const nlohmann::json& args = nullptr) {
    nlohmann::json msg{{"execute", name}};
    if (!args.is_null()) msg["arguments"] = args;
    const std::string line = msg.dump() + "\n";
    if (::write(fd_, line.data(), line.size()) != ssize_t(line.size())) throw std::runtime_error("QMP write failed");
    for (;;) {
      auto reply = nlohmann::json::parse(read_line());
      if (reply.contains("error")) throw std::runtime_error("QMP " + name + ": " + reply["error"].dump());
      if (reply.contains("return")) return reply["return"];
    }
  }
  std::string hmp(const std::string& cmd) {
    return command("human-monitor-command", {{"command-line", cmd}}).get<std::string>();
  }
  // Runs the guest until its CPU reports the HLT, then stops it.
  void run_until_halted() {
    command("cont");
    for (int i = 0; i < 200; ++i) {
      if (hmp("info registers").find("HLT=1") != std::string::npos) {
        command("stop");
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("the guest never reached its HLT");
  }
  void quit() {
    try {
      command("quit");
    } catch (const std::exception&) {
    }
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  void connect() {
    for (int i = 0; i < 400; ++i) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, socket_path_.c_str(), sizeof a.sun_path - 1);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return;
      ::close(fd_);
      fd_ = -1;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("QEMU exited before its QMP socket opened (see qemu.log)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("no QMP socket at " + socket_path_);
  }
  std::string read_line() {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("QMP connection closed");
      buffer_.append(buf, std::size_t(n));
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string socket_path_;
  std::string buffer_;
};

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(std::uint8_t(seed + i * 7 + (i >> 8)));
  return v;
}

void expect_registers(const PhysicalMemory& m) {
  ASSERT_EQ(m.cpus().size(), 1u);
  const CpuState& c = m.cpus()[0];
  for (const auto& r : kRegs) EXPECT_EQ(c.gpr[std::size_t(r.gpr)], r.value) << "gpr " << r.gpr;
  EXPECT_EQ(c.rip, kHaltedEip);
  EXPECT_EQ(c.seg[CpuState::cs].selector, 0xf000);
  EXPECT_EQ(c.seg[CpuState::cs].base, 0xffff0000u);
  EXPECT_EQ(c.cr0 & 1, 0u);                     // real mode
  EXPECT_EQ(c.cr0, 0x60000010u);                // the reset value QEMU gives
  EXPECT_EQ(c.idtr.limit, 0xffffu);
  EXPECT_EQ(c.rflags & 2, 2u);
}

TEST(QemuCapture, SmallGuestBytesAndRegistersReadBack) {
  REQUIRE_QEMU(qemu);
  TempDir dir;
  const std::vector<Blob> blobs{{0x100000, pattern(0x3000, 1)},
                                {0x2345671, pattern(0x1234, 9)},
                                {0x3fff000, pattern(0x1000, 77)}};
  Qemu vm(qemu, dir, "64M", blobs);
  vm.run_until_halted();
  const auto dump = dir / "guest.elf";
  vm.command("dump-guest-memory", {{"paging", false}, {"protocol", "file:" + dump.string()}});
  vm.quit();

  auto m = open_image(dump.string());
  EXPECT_EQ(m->format_name(), "elf-qemu");
  for (const auto& b : blobs) {
    SCOPED_TRACE(b.address);
    EXPECT_EQ(read_bytes(*m, b.address, b.bytes.size()), b.bytes);
  }
  // Our BIOS, as the guest saw it at the top of the 4 GiB space.
  const auto bios = make_bios();
  EXPECT_EQ(read_bytes(*m, 0xffff0000u, bios.size()), bios);
  // 64 MiB of RAM: every byte of it is in a range, and nothing between RAM and the BIOS.
  std::uint64_t ram = 0;
  for (const auto& r : m->ranges()) {
    if (r.end() <= 64u << 20) ram += r.size;
  }
  EXPECT_EQ(ram, 64u << 20);
  EXPECT_FALSE(m->contains(64u << 20));
  expect_registers(*m);
}

// Copies a stream to `out`, leaving all-zero 1 MiB chunks as file holes.
void sparse_copy(int in, const std::filesystem::path& out) {
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char> buf(1u << 20);
  const std::vector<char> zeros(buf.size(), 0);
  off_t pos = 0;
  for (;;) {
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::read(in, buf.data() + got, buf.size() - got);
      if (n <= 0) break;
      got += std::size_t(n);
    }
    if (got == 0) break;
    const bool zero = std::memcmp(buf.data(), zeros.data(), got) == 0;
    if (!zero && ::pwrite(fd, buf.data(), got, pos) != ssize_t(got)) break;
    pos += off_t(got);
  }
  if (::ftruncate(fd, pos) != 0) ADD_FAILURE() << "ftruncate";
  ::close(fd);
}

TEST(QemuCapture, FiveGiBGuestSplitsAroundThePciHole) {
  REQUIRE_QEMU(qemu);
  TempDir dir;
  const std::vector<Blob> blobs{{0xbffff000u, pattern(0x1000, 3)}, {0x17ffff000ull, pattern(0x1000, 5)}};
  Qemu vm(qemu, dir, "5G", blobs);
  vm.run_until_halted();
  // The capture goes through a FIFO into a sparse file, so the test costs no 5 GiB of disk.
  const auto fifo = dir / "dump.fifo";
  const auto dump = dir / "guest.elf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread reader([&] {
    const int in = ::open(fifo.c_str(), O_RDONLY);
    sparse_copy(in, dump);
    ::close(in);
  });
  try {
    vm.command("dump-guest-memory", {{"paging", false}, {"protocol", "file:" + fifo.string()}});
  } catch (...) {
    const int unblock = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (unblock >= 0) ::close(unblock);
    reader.join();
    throw;
  }
  reader.join();
  vm.quit();

  auto m = open_image(dump.string());
  EXPECT_EQ(m->format_name(), "elf-qemu");
  // pc with more than 3.5 GiB: 3 GiB below the PCI hole, the remaining 2 GiB from 4 GiB.
  const PhysicalRange high{0x100000000ull, 0x80000000ull};
  bool found_high = false;
  std::uint64_t low_end = 0, low_ram = 0;
  for (const auto& r : m->ranges()) {
    found_high |= r == high;
    if (r.end() <= 0xc0000000u) low_end = std::max(low_end, r.end()), low_ram += r.size;
  }
  EXPECT_TRUE(found_high);
  EXPECT_EQ(low_end, 0xc0000000u);
  EXPECT_EQ(low_ram, 0xc0000000u);
  EXPECT_FALSE(m->contains(0xc0000000u));
  EXPECT_FALSE(m->contains(0x180000000ull));
  EXPECT_EQ(m->total_bytes(), (5ull << 30) + 0x10000);  // RAM plus the 64 KiB BIOS
  for (const auto& b : blobs) {
    SCOPED_TRACE(b.address);
    EXPECT_EQ(read_bytes(*m, b.address, b.bytes.size()), b.bytes);
  }
  expect_registers(*m);
}

}  // namespace
}  // namespace pagedump::test
