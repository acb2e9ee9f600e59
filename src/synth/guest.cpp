#include "pagedump/synth/guest.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "pagedump/error.h"

namespace pagedump::synth {

ReadResult Guest::read_physical(std::uint64_t pa, std::span<std::byte> out) const {
  std::uint64_t at = pa;
  std::size_t done = 0;
  while (done < out.size()) {
    if (!contains(at)) return {ReadStatus::not_present, at, 0};
    std::size_t n = std::min<std::size_t>(out.size() - done, kPageSize - at % kPageSize);
    memory.read(at, out.subspan(done, n));
    done += n;
    at += n;
  }
  return {};
}

void Guest::write_raw(const std::filesystem::path& path,
                      const std::optional<std::filesystem::path>& map_path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(ErrorKind::io, fmt::format("cannot create {}", path.string()));
  std::uint64_t end = truth.memory_map.empty() ? 0 : truth.memory_map.back().end();
  bool ok = ::ftruncate(fd, static_cast<off_t>(end)) == 0;  // holes stay sparse in the file
  for (const auto& [page, bytes] : memory.pages()) {
    std::uint64_t pa = page * SparseMemory::kPage;
    if (!ok) break;
    if (!contains(pa)) continue;  // a hole of the map holds nothing in a raw image
    ok = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(pa)) ==
         static_cast<ssize_t>(bytes.size());
  }
  ::close(fd);
  if (!ok) throw Error(ErrorKind::io, fmt::format("cannot write {}", path.string()));
  if (map_path) {
    std::ofstream m(*map_path);
    for (const auto& r : truth.memory_map) m << fmt::format("{:#x} {:#x}\n", r.base, r.end());
    if (!m) throw Error(ErrorKind::io, fmt::format("cannot write {}", map_path->string()));
  }
}

void Guest::emit(ImageFormat format, const std::filesystem::path& path) const {
  switch (format) {
    case ImageFormat::raw: {
      auto map = path;
      map += ".map";
      write_raw(path, map);
      return;
    }
  }
  throw Error(ErrorKind::usage, "unknown guest image format");
}

}  // namespace pagedump::synth
