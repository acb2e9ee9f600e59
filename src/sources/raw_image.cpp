#include "pagedump/sources/raw_image.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pagedump/error.h"
#include "pagedump/sources/segmented_image.h"

namespace pagedump {
namespace {

// A memory map is a few lines; anything much larger is not one.
constexpr std::uintmax_t kMaxMemoryMapBytes = 16u << 20;

std::uint64_t parse_hex(const std::string& text, const std::string& where) {
  std::string t = text;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t = t.substr(2);
  if (t.empty() || t.size() > 16 || t.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: '{}' is not a hexadecimal address", where, text));
  }
  return std::stoull(t, nullptr, 16);
}

std::uint64_t json_number(const nlohmann::json& v, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  if (v.is_string()) return parse_hex(v.get<std::string>(), where);
  throw Error(ErrorKind::inconsistent,
              fmt::format("{}: expected a non-negative number or a hex string", where));
}

std::vector<PhysicalRange> parse_json_map(const std::string& text, const std::string& path) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  const nlohmann::json* list = &doc;
  if (doc.is_object()) {
    if (!doc.contains("ranges")) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: JSON memory map has no \"ranges\" array", path));
    }
    list = &doc["ranges"];
  }
  if (!list->is_array()) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: \"ranges\" is not an array", path));
  }
  std::vector<PhysicalRange> out;
  std::size_t i = 0;
  for (const auto& r : *list) {
    const std::string where = fmt::format("{}: ranges[{}]", path, i++);
    if (!r.is_object() || !r.contains("base") || !r.contains("size")) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: expected an object with \"base\" and \"size\"", where));
    }
    out.push_back({json_number(r["base"], where + ".base"), json_number(r["size"], where + ".size")});
    if (out.size() > kMaxImageSegments) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: more than {} ranges", path, kMaxImageSegments));
    }
  }
  return out;
}

std::vector<PhysicalRange> parse_text_map(const std::string& text, const std::string& path) {
  std::vector<PhysicalRange> out;
  std::istringstream in(text);
  std::string line;
  for (std::size_t lineno = 1; std::getline(in, line); ++lineno) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string a, b, extra;
    if (!(words >> a)) continue;
    const std::string where = fmt::format("{}:{}", path, lineno);
    if (!(words >> b) || (words >> extra)) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: expected two hexadecimal numbers, START END (END exclusive)",
                              where));
    }
    const std::uint64_t start = parse_hex(a, where), end = parse_hex(b, where);
    if (end <= start) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: END {:#x} is not above START {:#x}", where, end, start));
    }
    out.push_back({start, end - start});
    if (out.size() > kMaxImageSegments) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: more than {} ranges", path, kMaxImageSegments));
    }
  }
  return out;
}

}  // namespace

std::vector<PhysicalRange> parse_memory_map(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, fmt::format("{}: cannot open the memory map", path));
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxMemoryMapBytes) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: larger than {} bytes; not a memory map", path, kMaxMemoryMapBytes));
    }
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  std::vector<PhysicalRange> ranges = first != std::string::npos && (text[first] == '{' || text[first] == '[')
                                          ? parse_json_map(text, path)
                                          : parse_text_map(text, path);
  if (ranges.empty()) {
    throw Error(ErrorKind::inconsistent, fmt::format("{}: the memory map lists no ranges", path));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const PhysicalRange& a, const PhysicalRange& b) { return a.base < b.base; });
  for (const auto& r : ranges) {
    if (r.size == 0 || r.base + r.size < r.base) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: range at {:#x} of size {:#x} is empty or wraps", path, r.base,
                              r.size));
    }
  }
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].base < ranges[i - 1].end()) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: ranges {:#x}-{:#x} and {:#x}-{:#x} overlap", path,
                              ranges[i - 1].base, ranges[i - 1].end(), ranges[i].base,
                              ranges[i].end()));
    }
  }
  return ranges;
}

std::unique_ptr<PhysicalMemory> open_raw_image(const std::string& path,
                                               std::vector<PhysicalRange> ranges,
                                               std::string format_name) {
  InputFile file(path);
  std::vector<ImageSegment> segments;
  if (ranges.empty()) {
    if (file.size() == 0) {
      throw Error(ErrorKind::inconsistent, fmt::format("{}: the image is empty", path));
    }
    segments.push_back({{0, file.size()}, 0});
  } else {
    if (ranges.size() > kMaxImageSegments) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: more than {} memory map ranges", path, kMaxImageSegments));
    }
    segments.reserve(ranges.size());
    for (const auto& r : ranges) segments.push_back({r, r.base});
  }
  return std::make_unique<SegmentedImage>(std::move(file), std::move(format_name),
                                          std::move(segments), std::vector<CpuState>{},
                                          "memory map range");
}

}  // namespace pagedump
