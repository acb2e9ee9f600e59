#include "pagedump/synth/guest.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>

#include "pagedump/error.h"
#include "pagedump/io/output_file.h"

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
                      const std::optional<std::filesystem::path>& map_path, bool overwrite) const {
  // Both outputs are claimed before either is written, so a refused map leaves no image, and
  // each appears only when complete. Not flushed to disk: a test image, rebuilt at will.
  OutputFile image(path.string(), overwrite, /*durable=*/false);
  std::optional<OutputFile> map;
  if (map_path) map.emplace(map_path->string(), overwrite, /*durable=*/false);
  const std::uint64_t end = truth.memory_map.empty() ? 0 : truth.memory_map.back().end();
  image.truncate(end);  // holes stay sparse in the file
  for (const auto& [page, bytes] : memory.pages()) {
    const std::uint64_t pa = page * SparseMemory::kPage;
    if (contains(pa)) image.write_at(pa, bytes);  // a hole of the map holds nothing in a raw image
  }
  if (map) {
    std::string text;
    for (const auto& r : truth.memory_map) text += fmt::format("{:#x} {:#x}\n", r.base, r.end());
    map->write_at(0, std::as_bytes(std::span(text)));
  }
  image.commit();
  if (map) map->commit();
}

void Guest::emit(ImageFormat format, const std::filesystem::path& path, bool overwrite) const {
  switch (format) {
    case ImageFormat::raw: {
      auto map = path;
      map += ".map";
      write_raw(path, map, overwrite);
      return;
    }
  }
  throw Error(ErrorKind::usage, "unknown guest image format");
}

}  // namespace pagedump::synth
