// VMware checkpoints: the input is [u32 LE length of the .vmss][.vmss bytes][.vmem bytes],
// written as x.vmss and x.vmem in a per-process folder (the reader pairs them by name).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "exercise_memory.h"
#include "fuzz_input.h"
#include "pagedump/error.h"
#include "pagedump/sources/vmware_image.h"

using namespace pagedump;

namespace {

std::string make_folder() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/pagedump-fuzz-vmware-XXXXXX";
  if (!::mkdtemp(tmpl.data())) std::abort();
  return tmpl;
}

struct Folder {
  std::string path = make_folder();
  ~Folder() {
    std::remove((path + "/x.vmss").c_str());
    std::remove((path + "/x.vmem").c_str());
    ::rmdir(path.c_str());
  }
};

void write(const std::string& p, const std::uint8_t* d, std::size_t n) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(d), static_cast<std::streamsize>(n));
  if (!out) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Folder folder;
  if (size < 4) return 0;
  std::size_t state = fuzz::le({data, size}, 0, 4);
  if (state > size - 4) state = size - 4;
  write(folder.path + "/x.vmss", data + 4, state);
  write(folder.path + "/x.vmem", data + 4 + state, size - 4 - state);
  try {
    auto m = open_vmware_image(folder.path + "/x.vmem");
    fuzz::exercise_memory(*m);
  } catch (const Error&) {
  }
  return 0;
}
