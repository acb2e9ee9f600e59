#include "pagedump/symbols/symbol_store.h"

#include <algorithm>
#include <cctype>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "pagedump/error.h"

namespace pagedump::symbols {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The entry of `dir` named `name` regardless of case (an exact match first).
std::optional<std::filesystem::path> child(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  if (std::filesystem::exists(dir / name, ec)) return dir / name;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (iequals(it->path().filename().string(), name)) return it->path();
  }
  return std::nullopt;
}

// A store path component must be one plain name: the file and key come from the dump (module
// names, CodeView records), and "..", "/etc" or "a/b" would look outside the store.
bool is_plain_name(std::string_view s) {
  return !s.empty() && s != "." && s != ".." &&
         s.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

bool is_url(std::string_view s) { return s.find("://") != std::string_view::npos; }

}  // namespace

std::filesystem::path local_store_folder(const std::string& symbol_path) {
  // Several elements separated by ';': the first with a local folder wins.
  std::string_view rest = symbol_path;
  while (!rest.empty()) {
    const auto semi = rest.find(';');
    std::string_view element = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    std::vector<std::string_view> parts;
    for (std::size_t pos = 0;;) {
      const auto star = element.find('*', pos);
      parts.push_back(element.substr(pos, star == std::string_view::npos ? star : star - pos));
      if (star == std::string_view::npos) break;
      pos = star + 1;
    }
    const bool server = parts.size() > 1 && (iequals(parts[0], "srv") || iequals(parts[0], "symsrv") ||
                                             iequals(parts[0], "cache"));
    for (std::size_t i = server ? 1 : 0; i < parts.size(); ++i) {
      if (!parts[i].empty() && !is_url(parts[i]) && !iequals(parts[i], "symsrv.dll")) {
        return std::filesystem::path(std::string(parts[i]));
      }
    }
  }
  throw Error(ErrorKind::usage,
              fmt::format("--symbols '{}' names no local folder (expected a folder or srv*FOLDER*URL)",
                          symbol_path));
}

std::string image_store_key(std::uint32_t time_date_stamp, std::uint32_t size_of_image) {
  return fmt::format("{:08X}{:X}", time_date_stamp, size_of_image);
}

std::string store_relative_path(const std::string& file_name, const std::string& key) {
  return file_name + "/" + key + "/" + file_name;
}

std::optional<std::filesystem::path> find_in_store(const std::filesystem::path& store,
                                                   const std::string& file_name,
                                                   const std::string& key) {
  if (!is_plain_name(file_name) || !is_plain_name(key)) return std::nullopt;
  auto d1 = child(store, file_name);
  if (!d1) return std::nullopt;
  auto d2 = child(*d1, key);
  if (!d2) return std::nullopt;
  auto f = child(*d2, file_name);
  std::error_code ec;
  if (!f || !std::filesystem::is_regular_file(*f, ec)) return std::nullopt;
  return f;
}

}  // namespace pagedump::symbols
