// pagedump read FILE (--pa ADDR | --va ADDR) [--length N] [--raw]: bytes of a dump's memory,
// as a hex dump or raw. Memory the dump does not hold is an error (exit 1), never zeros.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "pagedump/error.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/virtual_view.h"
#include "pagedump/translate/address_space.h"

namespace pagedump::cli {

namespace {

// A failed virtual read, with the page-table entry that stopped it when there is one.
std::string describe_virtual(const VirtualMemory& view, const ReadResult& res) {
  std::string msg = describe(res, "virtual");
  if (const auto* space = dynamic_cast<const AddressSpace*>(&view)) {
    msg += " (" + describe(space->translate(res.address), space->mode()) + ")";
  }
  return msg;
}


void hex_lines(std::uint64_t address, std::span<const std::byte> bytes) {
  for (std::size_t i = 0; i < bytes.size(); i += 16) {
    std::string hex, text;
    for (std::size_t k = 0; k < 16; ++k) {
      if (k == 8) hex += ' ';
      if (i + k < bytes.size()) {
        auto c = std::to_integer<unsigned>(bytes[i + k]);
        hex += fmt::format(" {:02x}", c);
        text += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '.';
      } else {
        hex += "   ";
      }
    }
    std::cout << fmt::format("{:016x} {}  |{}|\n", address + i, hex, text);
  }
}

CLI::Validator number_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          parse_u64(s);
        } catch (const CLI::ValidationError&) {
          return "'" + s + "' is not a number (decimal or 0x-prefixed hex)";
        }
        return {};
      },
      "NUMBER");
}

}  // namespace

void register_read(Registry& r) {
  struct Options {
    std::string file, pa, va, length = "0x100";
    bool raw = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = r.app.add_subcommand("read", "Read bytes of a dump's physical or virtual memory");
  cmd->add_option("FILE", opts->file, "Kernel dump file")->required();
  auto* pa = cmd->add_option("--pa", opts->pa, "Physical address")->check(number_validator());
  auto* va = cmd->add_option("--va", opts->va, "Virtual address")->check(number_validator());
  pa->excludes(va);
  cmd->add_option("--length", opts->length, "Bytes to read (default 0x100)")
      ->check(number_validator());
  cmd->add_flag("--raw", opts->raw, "Write the raw bytes to stdout instead of a hex dump");
  r.add(cmd, [opts] {
    if (opts->pa.empty() == opts->va.empty()) {
      throw Error(ErrorKind::usage, "read needs exactly one of --pa ADDR or --va ADDR");
    }
    auto dump = DumpFile::open(opts->file);
    const bool physical = !opts->pa.empty();
    const std::uint64_t start = parse_u64(physical ? opts->pa : opts->va);
    const std::uint64_t length = parse_u64(opts->length);
    std::unique_ptr<VirtualMemory> view;
    if (!physical) view = open_virtual_view(*dump);

    // Stream in blocks, so --length never sets how much memory we hold.
    std::vector<std::byte> buf(0x10000);
    std::uint64_t done = 0;
    while (done < length) {
      std::span<std::byte> chunk(buf.data(),
                                 static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), length - done)));
      std::uint64_t at = start + done;
      ReadResult res = physical ? dump->read_physical(at, chunk) : view->read_virtual(at, chunk);
      std::size_t good = res ? chunk.size() : static_cast<std::size_t>(res.address - at);
      if (opts->raw) {
        std::fwrite(chunk.data(), 1, good, stdout);
      } else {
        hex_lines(at, chunk.first(good));
      }
      if (!res) {
        std::fflush(stdout);
        std::cout.flush();
        throw Error(res.status == ReadStatus::truncated ? ErrorKind::truncated
                                                        : ErrorKind::not_present,
                    physical ? describe_dump_read(*dump, res) : describe_virtual(*view, res));
      }
      done += chunk.size();
    }
    std::fflush(stdout);
    return kSuccess;
  });
}

}  // namespace pagedump::cli
