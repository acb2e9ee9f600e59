// One entry point for every memory image pagedump takes: the format is recognised by content
// (or named by the user), and the result is a PhysicalMemory.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pagedump/io/input_file.h"
#include "pagedump/physical_memory.h"

namespace pagedump {

struct OpenImageOptions {
  std::string format;      // empty: recognise by content; else a name from image_formats()
  std::string memory_map;  // raw images only: a memory map file (see parse_memory_map)
};

struct ImageFormatInfo {
  std::string_view name;
  std::string_view description;
  bool supported;  // false: recognised so the user gets a clear message, not read
};

// Every format name open_image knows, supported or not.
std::span<const ImageFormatInfo> image_formats();

// The format name the content of `file` shows ("raw" when nothing else matches). Recognised
// but unsupported formats return their name too (open_image then explains).
std::string detect_image_format(const InputFile& file);

// Opens `path` read-only. Throws Error(usage) for an unknown --format name or a memory map on
// a format that has its own, Error(unsupported / user_mode_dump) naming a recognised format
// pagedump does not read, and the parser's error for malformed input.
std::unique_ptr<PhysicalMemory> open_image(const std::string& path,
                                           const OpenImageOptions& options = {});

}  // namespace pagedump
