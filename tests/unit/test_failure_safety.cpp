// Failure without loss (docs/robustness.md): the source is never written, an interrupted or
// failed convert leaves nothing at the output path, stray temporary files of dead writers are
// removed by the next run while a live writer's are kept, and planted links are not followed.
// The writer is stopped at a known output offset (PAGEDUMP_TEST_STOP_AFTER: it raises SIGSTOP
// there) and then killed or interrupted: no timing is involved.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pagedump/discovery/system.h"
#include "pagedump/error.h"
#include "pagedump/io/input_file.h"
#include "pagedump/io/output_file.h"
#include "pagedump/synth/guest.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"
#include "support/samples.h"
#include "support/temp_dir.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
namespace fs = std::filesystem;

namespace {

// One small guest raw image (192 MiB, sparse) shared by the tests of this file.
class FailureSafety : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    GuestSpec spec;
    spec.ram_mib = 192;
    Guest g = build_guest(spec);
    g.write_raw(image(), map());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path image() { return *dir_ / "guest.raw"; }
  static fs::path map() { return *dir_ / "guest.map"; }
  static std::string convert_args(const fs::path& out) {
    return "convert " + image().string() + " --memory-map " + map().string() + " -q -o " +
           out.string();
  }
  static TempDir* dir_;
};
TempDir* FailureSafety::dir_ = nullptr;

std::vector<std::string> temporaries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) {
    const auto n = e.path().filename().string();
    if (n.find(".pagedump-") != std::string::npos) names.push_back(n);
  }
  return names;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Child {
  pid_t pid = -1;
  fs::path err;
};

// Starts `pagedump ARGS` (split on spaces) with stderr to `err`, optionally stopping itself
// after `stop_after` bytes of output and under a file-size limit.
Child spawn(const std::string& args, const fs::path& err, std::uint64_t stop_after,
            std::uint64_t fsize_limit = 0, const std::string& write_error = {}) {
  std::vector<std::string> argv = {cli_path()};
  std::stringstream ss(args);
  for (std::string w; ss >> w;) argv.push_back(w);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    if (stop_after) ::setenv("PAGEDUMP_TEST_STOP_AFTER", std::to_string(stop_after).c_str(), 1);
    if (!write_error.empty()) ::setenv("PAGEDUMP_TEST_WRITE_ERROR", write_error.c_str(), 1);
    if (fsize_limit) {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit rl{fsize_limit, fsize_limit};
      ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return {pid, err};
}

// Waits until the child stops itself (the test hook) and returns true, or false if it ended.
bool wait_stopped(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WUNTRACED) != pid) return false;
  return WIFSTOPPED(status);
}

int wait_end(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::string cli(const std::string& args) { return std::string(cli_path()) + " " + args; }

}  // namespace

// --- The source is never the output --------------------------------------------------------

TEST_F(FailureSafety, OutputEqualToTheInputIsRefusedBeforeAnyWrite) {
  struct stat before {};
  ASSERT_EQ(::stat(image().c_str(), &before), 0);
  TempDir dir;
  const fs::path hard = dir / "hard.raw";
  const fs::path soft = dir / "soft.raw";
  fs::create_hard_link(image(), hard);
  fs::create_symlink(image(), soft);
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {image(), "(the same file)"},
      {hard, "(the same file through a link)"},
      {soft, "(the same file through a link)"},
      {map(), "(the same file through a link)"}};
  for (const auto& [out, why] : cases) {
    for (const char* force : {"", " --force"}) {
      auto r = run_command(cli(convert_args(out) + force));
      EXPECT_EQ(r.exit_code, 2) << out << force << ": " << r.err;
      EXPECT_NE(r.err.find("pagedump never writes over its source"), std::string::npos) << r.err;
      if (out != map()) {
        EXPECT_NE(r.err.find(out.string() + ": this is the input file " + image().string() + " " + why),
                  std::string::npos)
            << r.err;
      }
      EXPECT_TRUE(temporaries(out.parent_path()).empty());
    }
  }
  struct stat after {};
  ASSERT_EQ(::stat(image().c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_TRUE(fs::is_symlink(soft));
}

TEST(RefuseOutputOverInput, ComparesDeviceAndInode) {
  TempDir dir;
  std::ofstream(dir / "in") << "x";
  std::ofstream(dir / "other") << "y";
  fs::create_hard_link(dir / "in", dir / "link");
  const std::vector<std::string> inputs = {(dir / "in").string(), "", (dir / "absent").string()};
  EXPECT_THROW(refuse_output_over_input((dir / "link").string(), inputs), Error);
  EXPECT_NO_THROW(refuse_output_over_input((dir / "other").string(), inputs));
  EXPECT_NO_THROW(refuse_output_over_input((dir / "new").string(), inputs));
  try {
    refuse_output_over_input((dir / "in").string(), inputs);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
  }
}

// --- Killed, interrupted, limited ----------------------------------------------------------

TEST_F(FailureSafety, KillMidWriteLeavesNoOutputAndTheNextRunRemovesTheStrayTemp) {
  TempDir dir;
  const fs::path out = dir / "out.dmp";
  Child c = spawn(convert_args(out), dir / "err", 16ull << 20);
  ASSERT_TRUE(wait_stopped(c.pid)) << read_text(c.err);
  auto temps = temporaries(dir.path());
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(temps[0].rfind(".out.dmp.pagedump-" + std::to_string(c.pid) + "-", 0), 0u) << temps[0];
  EXPECT_GE(fs::file_size(dir / temps[0]), 16ull << 20);  // it was mid-copy
  EXPECT_FALSE(fs::exists(out));

  ::kill(c.pid, SIGKILL);
  const int status = wait_end(c.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(temporaries(dir.path()), temps);  // SIGKILL cannot be caught: the temp stays...

  auto r = run_command(cli(convert_args(out)));  // ...until the next run to that folder
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(out));
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

TEST_F(FailureSafety, ALiveWritersTempIsNeverRemoved) {
  TempDir dir;
  const fs::path out = dir / "out.dmp";
  Child a = spawn(convert_args(out), dir / "err", 8ull << 20);
  ASSERT_TRUE(wait_stopped(a.pid)) << read_text(a.err);
  const auto temps = temporaries(dir.path());
  ASSERT_EQ(temps.size(), 1u);

  EXPECT_EQ(OutputFile::remove_stale_temporaries(out.string()), 0u);
  auto r = run_command(cli(convert_args(dir / "other.dmp")));  // same folder, other target
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / temps[0]));

  ::kill(a.pid, SIGKILL);
  wait_end(a.pid);
  EXPECT_EQ(OutputFile::remove_stale_temporaries(out.string()), 1u);
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

class Interrupt : public FailureSafety, public ::testing::WithParamInterface<int> {};

TEST_P(Interrupt, RemovesTheTempAndDiesOfTheSignalWithAMessage) {
  const int sig = GetParam();
  TempDir dir;
  const fs::path out = dir / "out.dmp";
  Child c = spawn(convert_args(out), dir / "err", 8ull << 20);
  ASSERT_TRUE(wait_stopped(c.pid)) << read_text(c.err);
  ASSERT_EQ(temporaries(dir.path()).size(), 1u);
  ::kill(c.pid, sig);
  ::kill(c.pid, SIGCONT);
  const int status = wait_end(c.pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), sig);  // the shell sees 128 + sig: non-zero
  EXPECT_NE(read_text(c.err).find("pagedump: interrupted; the unfinished output was removed"),
            std::string::npos)
      << read_text(c.err);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

INSTANTIATE_TEST_SUITE_P(Signals, Interrupt, ::testing::Values(SIGINT, SIGTERM, SIGHUP));

TEST_F(FailureSafety, FileSizeLimitGivesAClearErrorAndLeavesNothing) {
  TempDir dir;
  const fs::path out = dir / "out.dmp";
  Child c = spawn(convert_args(out), dir / "err", 0, 4ull << 20);
  const int status = wait_end(c.pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = read_text(c.err);
  EXPECT_NE(err.find("pagedump: error: " + out.string() + ": write at offset"), std::string::npos)
      << err;
  EXPECT_NE(err.find("File too large (the file-size limit was reached); nothing was written"),
            std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

// --- Write errors --------------------------------------------------------------------------

// A write that fails (EIO from a dying disk, ENOSPC) through the CLI, complete and kernel dumps:
// the error names the output, the offset and the errno text; exit 1; nothing is left. The
// failure is injected by OutputFile's test seam (PAGEDUMP_TEST_WRITE_ERROR=OFFSET:ERRNO), as no
// real disk fails on demand; the real full disk is the next test.
TEST_F(FailureSafety, WriteErrorsGiveTheErrnoTextAndLeaveNothing) {
  struct Case {
    const char* type;
    std::uint64_t at;
    int err;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"full", 16ull << 20, EIO, "failed: Input/output error; nothing was written"},
      {"full", 16ull << 20, ENOSPC,
       "failed: No space left on device (the disk is full); nothing was written"},
      {"kernel", 0x10000, EIO, "failed: Input/output error; nothing was written"},
      {"kernel", 0x10000, ENOSPC,
       "failed: No space left on device (the disk is full); nothing was written"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.type) + " " + std::strerror(c.err));
    TempDir dir;
    const fs::path out = dir / "out.dmp";
    Child child = spawn(convert_args(out) + " --type " + c.type, dir / "err", 0, 0,
                        fmt::format("{:#x}:{}", c.at, c.err));
    const int status = wait_end(child.pid);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 1);
    const std::string err = read_text(child.err);
    const std::string head = "pagedump: error: " + out.string() + ": write at offset 0x";
    const auto at = err.find(head);
    ASSERT_NE(at, std::string::npos) << err;
    // The offset named is the failed write's: pages, after the header (written last, at 0).
    const std::uint64_t offset = std::stoull(err.substr(at + head.size()), nullptr, 16);
    EXPECT_GT(offset, 0u) << err;
    EXPECT_EQ(offset % 0x1000, 0u) << err;
    EXPECT_NE(err.find(c.text), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_TRUE(temporaries(dir.path()).empty());
  }
}

namespace {

// In a forked child: a private mount namespace (through a user namespace when not root) with a
// tmpfs of `size` bytes at `at`. False where the system allows no namespaces (containers
// without CAP_SYS_ADMIN, unprivileged user namespaces disabled).
bool private_tmpfs(const fs::path& at, std::uint64_t size) {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (uid == 0 ? ::unshare(CLONE_NEWNS) != 0 : ::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    return false;
  }
  if (uid != 0) {
    auto put = [](const char* file, const std::string& text) {
      std::ofstream f(file);
      f << text;
      return static_cast<bool>(f.flush());
    };
    if (!put("/proc/self/setgroups", "deny") ||
        !put("/proc/self/uid_map", fmt::format("0 {} 1", uid)) ||
        !put("/proc/self/gid_map", fmt::format("0 {} 1", gid))) {
      return false;
    }
  }
  // Nothing mounted here may propagate back to the real system.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return ::mount("tmpfs", at.c_str(), "tmpfs", 0, fmt::format("size={}", size).c_str()) == 0;
}

}  // namespace

// A real full disk: the kernel dump goes to a 64 MiB tmpfs (room for it, so the free-space
// check passes); the writer is stopped once it has started, the test fills the tmpfs, and the
// writer goes on into ENOSPC from the file system itself.
TEST_F(FailureSafety, ARealFullDiskGivesAClearErrorAndLeavesNothing) {
  TempDir dir;
  const fs::path disk = dir / "disk";
  fs::create_directory(disk);
  const fs::path out = disk / "out.dmp";
  const pid_t helper = ::fork();
  if (helper == 0) {
    if (!private_tmpfs(disk, 64ull << 20)) ::_exit(77);
    Child c = spawn(convert_args(out) + " --type kernel", dir / "err", 0x10000);
    std::ofstream result(dir / "result");
    if (!wait_stopped(c.pid)) {
      result << "the writer did not stop";
      result.close();  // _exit flushes nothing
      ::_exit(1);
    }
    // Fill what is left of the disk.
    const int fd = ::open((disk / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char> block(1 << 20, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    const int fill_errno = errno;
    ::close(fd);
    ::kill(c.pid, SIGCONT);
    const int status = wait_end(c.pid);
    result << (WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + status) << "\n"
           << fill_errno << "\n";
    for (const auto& e : fs::directory_iterator(disk))
      result << e.path().filename().string() << "\n";
    result.close();
    ::_exit(0);
  }
  const int hs = wait_end(helper);
  ASSERT_TRUE(WIFEXITED(hs));
  if (WEXITSTATUS(hs) == 77)
    GTEST_SKIP() << "no private mount namespace here (needs CAP_SYS_ADMIN or user namespaces)";
  ASSERT_EQ(WEXITSTATUS(hs), 0) << read_text(dir / "result");
  std::istringstream r(read_text(dir / "result"));
  int exit_code = -1, fill_errno = 0;
  r >> exit_code >> fill_errno;
  std::vector<std::string> left;
  for (std::string n; r >> n;) left.push_back(n);
  EXPECT_EQ(fill_errno, ENOSPC);
  EXPECT_EQ(exit_code, 1);
  const std::string err = read_text(dir / "err");
  EXPECT_NE(err.find("pagedump: error: " + out.string() + ": write at offset 0x"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("failed: No space left on device (the disk is full); nothing was written"),
            std::string::npos)
      << err;
  // Only the filler: no output, no temporary file.
  EXPECT_EQ(left, std::vector<std::string>{"filler"});
}

// --- Planted links -------------------------------------------------------------------------

TEST_F(FailureSafety, LinkPlantedAtTheOutputIsReplacedNeverFollowed) {
  TempDir dir;
  const fs::path victim = dir / "victim";
  std::ofstream(victim) << "precious";
  const fs::path out = dir / "out.dmp";
  fs::create_symlink(victim, out);

  auto refused = run_command(cli(convert_args(out)));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(out.string() + ": the file exists; use --force to replace it"),
            std::string::npos)
      << refused.err;

  auto r = run_command(cli(convert_args(out) + " --force"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(victim), "precious");
  EXPECT_FALSE(fs::is_symlink(out));
  EXPECT_TRUE(fs::is_regular_file(out));
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

// A rename over /dev/null put the dump where the device was (found by doing it). The device
// itself is only reached through a link in a temporary folder, so that a regression replaces
// the link, not the machine's /dev/null.
TEST_F(FailureSafety, ADeviceOrPipeAtTheOutputIsRefusedEvenWithForce) {
  TempDir dir;
  const fs::path fifo = dir / "pipe.dmp";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = run_command(cli(convert_args(fifo) + " --force"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pagedump: error: " + fifo.string() +
                       ": is a pipe; pagedump writes its output as a new regular file and "
                       "never replaces anything else, even with --force: choose a file path"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_fifo(fifo));

  const fs::path link = dir / "null.dmp";
  fs::create_symlink("/dev/null", link);
  for (const char* force : {"", " --force"}) {  // without it, not "use --force"
    r = run_command(cli(convert_args(link) + force));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(link.string() + ": is a character device (through a link); "),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_TRUE(fs::is_character_file(link));
  }
  EXPECT_EQ(temporaries(dir.path()).size(), 0u);
}

// Opening a named pipe that no one writes to used to wait for ever; `timeout` turns a
// regression into a failure instead of a hung test.
TEST(InputSource, APipeOrACharacterDeviceIsRefusedNotWaitedOn) {
  TempDir dir;
  const fs::path fifo = dir / "image.raw";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = run_command("timeout 20 " + cli("inspect " + fifo.string()));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("pagedump: error: " + fifo.string() +
                       ": is a pipe; pagedump reads images and dumps at any offset, so only "
                       "from a regular file or a block device: save it to a file first"),
            std::string::npos)
      << r.err;
  r = run_command("timeout 20 " + cli("info /dev/zero"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("/dev/zero: is a character device; "), std::string::npos) << r.err;
  try {
    InputFile in(fifo.string());
    FAIL() << "a pipe was opened as an input";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
  }
  // A regular file still reads as before (the descriptor is blocking again).
  std::ofstream(dir / "plain") << "abcd";
  InputFile plain((dir / "plain").string());
  std::array<std::byte, 4> got{};
  EXPECT_EQ(plain.read_at(0, got), 4u);
  EXPECT_EQ(got[3], std::byte{'d'});
  EXPECT_EQ(::fcntl(plain.fd(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(OutputTarget, TheLibraryRefusesADirectoryAndAcceptsADanglingLinkWithOverwrite) {
  TempDir dir;
  fs::create_directory(dir / "d");
  try {
    OutputFile out((dir / "d").string(), true);
    FAIL() << "a directory was accepted as the output";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_EQ(std::string(e.what()),
              (dir / "d").string() +
                  ": is a directory; pagedump writes its output as a new regular file and never "
                  "replaces anything else, even with --force: choose a file path");
  }
  const fs::path dangling = dir / "dangling.dmp";
  fs::create_symlink(dir / "nowhere", dangling);
  OutputFile out(dangling.string(), true);
  out.write_at(0, std::as_bytes(std::span("dump", 4)));
  out.commit();
  EXPECT_FALSE(fs::is_symlink(dangling));
  EXPECT_EQ(fs::file_size(dangling), 4u);
  EXPECT_FALSE(fs::exists(dir / "nowhere"));
}

TEST(StaleTemporaries, OnlyDeadWritersRegularFilesAreRemovedAndLinksAreNotFollowed) {
  TempDir dir;
  const std::string target = (dir / "out.dmp").string();
  // A PID that is not running: a child that has exited and been reaped.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  wait_end(dead);
  const std::string d = std::to_string(dead);
  const fs::path victim = dir / "victim";
  std::ofstream(victim) << "precious";
  std::ofstream(dir / (".out.dmp.pagedump-" + d + "-aaaaaa")) << "stale";        // removed
  std::ofstream(dir / (".out.dmp.pagedump-" + std::to_string(::getpid()) + "-bbbbbb"))
      << "live pid";                                                                // kept
  fs::create_symlink(victim, dir / (".out.dmp.pagedump-" + d + "-cccccc"));        // kept
  std::ofstream(dir / (".other.dmp.pagedump-" + d + "-dddddd")) << "other target";  // kept
  std::ofstream(dir / (".out.dmp.pagedump-xyz-eeeeee")) << "not ours";             // kept
  fs::create_directory(dir / (".out.dmp.pagedump-" + d + "-ffffff"));              // kept

  EXPECT_EQ(OutputFile::remove_stale_temporaries(target), 1u);
  EXPECT_FALSE(fs::exists(dir / (".out.dmp.pagedump-" + d + "-aaaaaa")));
  EXPECT_EQ(read_text(victim), "precious");
  EXPECT_TRUE(fs::is_symlink(dir / (".out.dmp.pagedump-" + d + "-cccccc")));
  EXPECT_EQ(temporaries(dir.path()).size(), 5u);
}

TEST(StaleTemporaries, TheTempIsNamedForTheWriterAndLockedWhileItWrites) {
  TempDir dir;
  const std::string target = (dir / "out.dmp").string();
  OutputFile out(target, false);
  const auto name = fs::path(out.temp_path()).filename().string();
  EXPECT_EQ(name.rfind(".out.dmp.pagedump-" + std::to_string(::getpid()) + "-", 0), 0u) << name;
  // Another open file description cannot take the writer's lock.
  const int fd = ::open(out.temp_path().c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ::close(fd);
  out.write_at(0, std::as_bytes(std::span("abc", 3)));
  out.commit();
  EXPECT_FALSE(fs::exists(out.temp_path()));
  EXPECT_EQ(fs::file_size(target), 3u);
}

// --- Pathological page tables do not hang discovery ----------------------------------------

namespace {

// `count` pages from PA 0x10000, each a table whose every entry points at itself (present,
// writable, supervisor): a self-reference at every index and, through it, at every level. Every
// VA of every root translates, to the table page itself.
MemoryImage self_referencing_roots(std::size_t count) {
  MemoryImage m("hostile");
  m.map(0, 0x10000 + count * kPageSize);
  for (std::size_t p = 0; p < count; ++p) {
    const std::uint64_t pa = 0x10000 + p * kPageSize;
    for (std::size_t i = 0; i < 512; ++i) m.write_u64(pa + i * 8, pa | 0x3);
  }
  return m;
}

std::string discovery_error(const MemoryImage& m, const DiscoveryOptions& o) {
  try {
    (void)discover_system(m, o);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_present);
    return e.what();
  }
  ADD_FAILURE() << "discovery found a kernel in a hostile image";
  return "";
}

}  // namespace

TEST(DiscoveryHostile, SelfReferencesAtEveryLevelAreRejectedWithBoundedReads) {
  auto m = self_referencing_roots(64);
  const std::string err = discovery_error(m, {});
  EXPECT_NE(err.find("no Windows kernel found: no page-table root leads to ntoskrnl"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("dtb: PML4 self-reference scan (index 0x100) gives 0x4f000: rejected, "
                     "KUSER_SHARED_DATA does not map"),
            std::string::npos)
      << err;
  // Each root costs a few walks, not a scan of what the loops claim to map.
  EXPECT_LT(m.read_calls(), 64u * 64u) << m.read_calls();
}

TEST(DiscoveryHostile, TheReadBudgetEndsDiscoveryWithAClearError) {
  auto m = self_referencing_roots(64);
  DiscoveryOptions o;
  o.read_budget = 0x8000;
  const std::string err = discovery_error(m, o);
  EXPECT_NE(err.find("(discovery gave up after reading 0x8000 bytes of the image, its budget: "
                     "the page tables or structures loop or alias)"),
            std::string::npos)
      << err;
  // Past the budget reads fail before reaching the image.
  EXPECT_LE(m.read_calls(), 0x8000u / 8) << m.read_calls();
}

// 4 MiB of memory with one x64 root (self-map at 0x1ED) that maps KUSER_SHARED_DATA with
// NtMajorVersion 10, so that it passes discovery's first check of a root, and nothing else.
PageTableBuilder root_passing_the_kuser_check(MemoryImage& m) {
  m.map(0, 4ull << 20);
  PageTableBuilder pt(m, PagingMode::x64_4level, 0x100000, 0x40000);
  pt.add_self_map(0x1ED);
  pt.map(0xFFFFF78000000000ull, 0x300000, kPageSize);
  m.write_u32(0x300000 + 0x26C, 10);  // NtMajorVersion
  return pt;
}

// Forty page-table roots that each pass the KUSER_SHARED_DATA check and lead to no kernel (a
// hostile or damaged image can hold thousands): discovery tries max_roots_without_kernel of
// them, 32 by default, and then stops with an error that says so.
MemoryImage roots_without_kernel(std::size_t count) {
  MemoryImage m("roots without a kernel");
  const PageTableBuilder pt = root_passing_the_kuser_check(m);
  // Copies of the first root, each with its self-reference pointing at itself; they share
  // the lower tables.
  const std::uint64_t first = pt.dtb();
  const std::uint64_t self_entry = m.read_u64(first + 0x1ED * 8);
  for (std::size_t k = 1; k < count; ++k) {
    const std::uint64_t root = 0x200000 + k * kPageSize;
    for (std::size_t i = 0; i < 512; ++i) m.write_u64(root + i * 8, m.read_u64(first + i * 8));
    m.write_u64(root + 0x1ED * 8, (self_entry & ~0x000FFFFFFFFFF000ull) | root);
  }
  return m;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DiscoveryHostile, RootsThatLeadToNoKernelAreTriedUpToTheCap) {
  const auto m = roots_without_kernel(40);
  const std::string err = discovery_error(m, {});
  EXPECT_NE(err.find("dtb: giving up after 32 page-table roots that lead to no kernel"),
            std::string::npos)
      << err;
  EXPECT_EQ(count_of(err, "kernel: not found through"), 32u) << err;
  DiscoveryOptions o;
  o.max_roots_without_kernel = 3;
  const std::string err3 = discovery_error(m, o);
  EXPECT_NE(err3.find("dtb: giving up after 3 page-table roots that lead to no kernel"),
            std::string::npos)
      << err3;
  EXPECT_EQ(count_of(err3, "kernel: not found through"), 3u) << err3;
}

// A root that passes the KUSER_SHARED_DATA check and maps four other pages: the kernel scans
// (32 GiB at 2 MiB steps, then 256 MiB at 4 KiB: 81,920 VAs, each probe reading at least one
// entry) step over each PML4E, PDPTE and PDE that is not valid instead of probing every VA
// under it. What remains is one walk per entry of the tables that exist (one PD, one PT).
TEST(DiscoveryHostile, KernelScansStepOverWhatIsNotMapped) {
  MemoryImage m("sparse");
  PageTableBuilder pt = root_passing_the_kuser_check(m);
  pt.map(0xFFFFF80000201000ull, 0x200000, 4 * kPageSize);  // probed, no MZ
  const std::string err = discovery_error(m, {});
  EXPECT_NE(err.find("no page-table root leads to ntoskrnl"), std::string::npos) << err;
  EXPECT_NE(err.find("maps KUSER_SHARED_DATA"), std::string::npos) << err;
  EXPECT_LT(m.read_calls(), 8000u) << m.read_calls();
}
