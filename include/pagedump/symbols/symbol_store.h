// A local symbol store (the layout `symstore` and the debuggers' symbol servers use:
// FILE/KEY/FILE), looked up case-insensitively and offline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace pagedump::symbols {

// The local folder of a symbol path: a plain folder, or the debuggers' `srv*LOCAL*URL` /
// `cache*LOCAL` forms (the first local element; URLs are never contacted). Throws
// Error(usage) when the text names no local folder.
std::filesystem::path local_store_folder(const std::string& symbol_path);

// Image key: TimeDateStamp as %08X, SizeOfImage as %X.
std::string image_store_key(std::uint32_t time_date_stamp, std::uint32_t size_of_image);
// "name/key/name".
std::string store_relative_path(const std::string& file_name, const std::string& key);

// The file at store/FILE/KEY/FILE, matching each component case-insensitively. FILE and KEY
// come from the dump (hostile input): one that is not a single plain name (empty, "." or
// "..", or holding '/', '\\' or NUL) is never looked up, so nothing outside the store is found.
std::optional<std::filesystem::path> find_in_store(const std::filesystem::path& store,
                                                   const std::string& file_name,
                                                   const std::string& key);

}  // namespace pagedump::symbols
