// State the check groups share: the raw header, the opened dump (when it opens), the kernel's
// virtual memory (page tables or the triage VA map), the KDBG and the module list as far as
// earlier checks established them. Each group reads what earlier groups left and adds checks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pagedump/format/kdbg.h"
#include "pagedump/io/input_file.h"
#include "pagedump/reader/dump_file.h"
#include "pagedump/reader/triage_dump.h"
#include "pagedump/reader/triage_view.h"
#include "pagedump/translate/address_space.h"
#include "pagedump/verify/verifier.h"

namespace pagedump::verify::detail {

struct ModuleEntry {
  std::string name;  // base name
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  std::uint32_t timestamp = 0;  // 0 when unknown
  std::uint64_t entry = 0;      // KLDR_DATA_TABLE_ENTRY VA, or triage driver entry file offset
};

struct Context {
  Context(const std::string& p, const VerifyOptions& o) : path(p), options(o) {}

  std::string path;
  const VerifyOptions& options;
  std::vector<Check> checks;

  std::unique_ptr<InputFile> file;
  std::vector<std::byte> raw;  // the main header as far as the file holds it
  bool is64 = true;
  bool header_ok = false;  // signature and type are usable
  std::uint32_t dump_type = 0;
  std::uint32_t machine = 0;

  std::unique_ptr<DumpFile> dump;  // null when the reader refused the file
  std::optional<TriageDump> triage;
  std::unique_ptr<TriageView> triage_view;
  std::unique_ptr<AddressSpace> space;
  const VirtualMemory* vm = nullptr;  // space or triage view, once usable

  std::optional<format::KdDebuggerData64> kdbg;  // decoded, from the dump
  std::vector<ModuleEntry> modules;              // list order
  bool modules_complete = false;

  bool full_memory() const { return dump && dump->layout() != MemoryLayout::none; }
  bool is_triage() const { return dump_type == 4; }
  // Kernel VAs as the dump's width uses them (x86 KDBG pointers are sign-extended).
  std::uint64_t kva(std::uint64_t v) const { return is64 ? v : (v & 0xFFFFFFFFull); }

  template <class... Args>
  void add(const char* id, CheckStatus status, fmt::format_string<Args...> f, Args&&... args) {
    checks.push_back({id, status, fmt::format(f, std::forward<Args>(args)...)});
  }
  bool failed(std::string_view id_prefix) const;

  bool read(std::uint64_t va, std::span<std::byte> out) const {
    return vm && vm->read_virtual(kva(va), out).ok();
  }
  template <class T>
  std::optional<T> read_as(std::uint64_t va) const {
    T v{};
    if (!read(va, std::as_writable_bytes(std::span(&v, 1)))) return std::nullopt;
    return v;
  }
  std::optional<std::uint64_t> read_ptr(std::uint64_t va) const;
  std::optional<std::string> read_unicode_string(std::uint64_t va) const;
  // Why a read at va failed, for messages.
  std::string why_unreadable(std::uint64_t va) const;
  const ModuleEntry* module_at(std::uint64_t va) const;
  // "VA x (PA y, file offset z)" for messages about bytes of the dump.
  std::string where(std::uint64_t va) const;
};

void check_header(Context& c);
void check_layout(Context& c);
void check_memory(Context& c);
void check_lists(Context& c);
void check_processors(Context& c);
void check_bugcheck(Context& c);
void check_symbols(Context& c);

}  // namespace pagedump::verify::detail
