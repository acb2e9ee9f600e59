#include "pagedump/sources/vmware_image.h"

#include <array>
#include <cstring>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "pagedump/error.h"
#include "pagedump/format/vmware_checkpoint.h"
#include "pagedump/sources/segmented_image.h"

namespace pagedump {
namespace {

using namespace pagedump::format;

constexpr std::uint32_t kMaxGroups = 4096;
constexpr std::uint64_t kMaxTagsPerGroup = 1u << 20;
constexpr std::uint64_t kVmPage = 4096;

struct Tag {
  std::string name;
  unsigned index_count = 0;
  std::array<std::int32_t, 3> index{-1, -1, -1};
  bool block = false;
  bool compressed = false;
  std::uint64_t value_at = 0;    // file offset of the value / block data
  std::uint64_t value_size = 0;  // bytes on disk
  std::uint64_t mem_size = 0;    // blocks: bytes once decompressed
};

// Walks the tags of one group, calling `fn` for each; stops at the null tag or the group end.
void walk_group(const InputFile& f, const VmssGroupDesc& g, const std::string& gname,
                const std::function<void(const Tag&)>& fn) {
  const std::uint64_t end = g.position + g.size;
  if (end < g.position || g.position > f.size() || g.size > f.size() - g.position) {
    throw Error(ErrorKind::truncated,
                fmt::format("{}: checkpoint group '{}' at file offset {:#x} of size {:#x} goes "
                            "past the end of the file (size {:#x})",
                            f.path(), gname, g.position, g.size, f.size()));
  }
  std::uint64_t pos = g.position;
  for (std::uint64_t count = 0;; ++count) {
    if (count > kMaxTagsPerGroup) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: checkpoint group '{}' has more than {} tags", f.path(), gname,
                              kMaxTagsPerGroup));
    }
    if (pos + 2 > end) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: checkpoint group '{}' ends at {:#x} without its end tag",
                              f.path(), gname, end));
    }
    const auto raw = f.read_struct<std::uint16_t>(pos, "checkpoint tag");
    pos += 2;
    if (raw == 0) return;
    Tag t;
    const unsigned name_len = vmss_tag_name_length(raw);
    t.index_count = vmss_tag_index_count(raw);
    const unsigned vsize = vmss_tag_value_size(raw);
    const std::uint64_t tag_at = pos - 2;
    if (pos + name_len + 4 * t.index_count > end) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: checkpoint tag at file offset {:#x} in group '{}' runs past "
                              "the group end {:#x}",
                              f.path(), tag_at, gname, end));
    }
    t.name.resize(name_len);
    f.read_exact(pos, std::as_writable_bytes(std::span(t.name.data(), t.name.size())),
                 "checkpoint tag name");
    pos += name_len;
    for (unsigned i = 0; i < t.index_count; ++i) {
      t.index[i] = f.read_struct<std::int32_t>(pos, "checkpoint tag index");
      pos += 4;
    }
    if (vsize == kVmssValueBlock || vsize == kVmssValueBlockCompressed) {
      t.block = true;
      t.compressed = vsize == kVmssValueBlockCompressed;
      if (pos + 18 > end) {
        throw Error(ErrorKind::truncated,
                    fmt::format("{}: block tag '{}' at file offset {:#x} is cut off by the group "
                                "end {:#x}",
                                f.path(), t.name, tag_at, end));
      }
      t.value_size = f.read_struct<std::uint64_t>(pos, "checkpoint block size");
      t.mem_size = f.read_struct<std::uint64_t>(pos + 8, "checkpoint block memory size");
      const auto pad = f.read_struct<std::uint16_t>(pos + 16, "checkpoint block padding");
      t.value_at = pos + 18 + pad;
    } else {
      t.value_at = pos;
      t.value_size = vsize;
    }
    if (t.value_at > end || t.value_size > end - t.value_at) {
      throw Error(ErrorKind::truncated,
                  fmt::format("{}: tag '{}' at file offset {:#x} has {:#x} bytes of value, past "
                              "the end {:#x} of group '{}'",
                              f.path(), t.name, tag_at, t.value_size, end, gname));
    }
    fn(t);
    pos = t.value_at + t.value_size;
  }
}

std::uint64_t scalar(const InputFile& f, const Tag& t) {
  std::uint64_t v = 0;
  if (t.value_size > 8) return 0;
  f.read_exact(t.value_at, std::as_writable_bytes(std::span(&v, 1)).first(t.value_size),
               "checkpoint value");
  return v;
}

struct Region {
  std::uint32_t ppn = 0, page_num = 0, size = 0;
  unsigned seen = 0;  // bit 0 ppn, bit 1 page number, bit 2 size
};

struct Checkpoint {
  std::vector<Region> regions;
  bool has_regions_count = false;
  bool embedded_memory = false;
  std::uint64_t memory_offset = 0;
  std::uint64_t memory_size = 0;
  std::vector<CpuState> cpus;
};

Checkpoint read_checkpoint(const InputFile& f) {
  const auto h = f.read_struct<VmssHeader>(0, "checkpoint header");
  if (!is_vmware_state_magic(h.id)) {
    throw Error(ErrorKind::not_a_dump,
                fmt::format("{}: not a VMware checkpoint (magic {:#010x})", f.path(), h.id));
  }
  if (h.id == kVmssMagicOld32) {
    throw Error(ErrorKind::unsupported,
                fmt::format("{}: 32-bit VMware checkpoint (magic {:#010x}), which pagedump does "
                            "not read",
                            f.path(), h.id));
  }
  if (h.numgroups == 0 || h.numgroups > kMaxGroups) {
    throw Error(ErrorKind::inconsistent,
                fmt::format("{}: checkpoint header claims {} groups (1 to {} expected)", f.path(),
                            h.numgroups, kMaxGroups));
  }
  Checkpoint cp;
  std::uint32_t cpu_count = 0;
  bool cpu_count_known = false;
  auto cpu_at = [&](const Tag& t) -> CpuState* {
    const std::int32_t i = t.index[0];
    if (i < 0 || static_cast<std::uint32_t>(i) >= kMaxImageCpus) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: cpu tag '{}' at file offset {:#x} names CPU {} (0 to {} "
                              "expected)",
                              f.path(), t.name, t.value_at, i, kMaxImageCpus - 1));
    }
    if (cpu_count_known && static_cast<std::uint32_t>(i) >= cpu_count) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: cpu tag '{}' names CPU {}, but cpu:numVCPUs is {}", f.path(),
                              t.name, i, cpu_count));
    }
    if (cp.cpus.size() <= static_cast<std::size_t>(i)) {
      const std::size_t old = cp.cpus.size();
      cp.cpus.resize(static_cast<std::size_t>(i) + 1);
      for (std::size_t k = old; k < cp.cpus.size(); ++k) cp.cpus[k].index = std::uint32_t(k);
    }
    return &cp.cpus[static_cast<std::size_t>(i)];
  };
  static constexpr std::pair<const char*, int> kGpr[] = {
      {"rax", CpuState::rax}, {"rcx", CpuState::rcx}, {"rdx", CpuState::rdx},
      {"rbx", CpuState::rbx}, {"rsp", CpuState::rsp}, {"rbp", CpuState::rbp},
      {"rsi", CpuState::rsi}, {"rdi", CpuState::rdi}, {"r8", CpuState::r8},
      {"r9", CpuState::r9},   {"r10", CpuState::r10}, {"r11", CpuState::r11},
      {"r12", CpuState::r12}, {"r13", CpuState::r13}, {"r14", CpuState::r14},
      {"r15", CpuState::r15}};

  for (std::uint32_t gi = 0; gi < h.numgroups; ++gi) {
    const auto g = f.read_struct<VmssGroupDesc>(sizeof(VmssHeader) + std::uint64_t(gi) * sizeof(VmssGroupDesc),
                                                "checkpoint group descriptor");
    std::string gname(g.name, strnlen(g.name, sizeof g.name));
    if (gname == "memory") {
      walk_group(f, g, gname, [&](const Tag& t) {
        if (t.name == "regionsCount" && !t.block) {
          const std::uint64_t n = scalar(f, t);
          if (n > kMaxImageSegments) {
            throw Error(ErrorKind::inconsistent,
                        fmt::format("{}: regionsCount {} at file offset {:#x} (at most {} "
                                    "expected)",
                                    f.path(), n, t.value_at, kMaxImageSegments));
          }
          cp.regions.resize(n);
          cp.has_regions_count = true;
        } else if ((t.name == "regionPPN" || t.name == "regionPageNum" || t.name == "regionSize") &&
                   !t.block) {
          const std::int32_t i = t.index[0];
          if (!cp.has_regions_count || i < 0 || static_cast<std::size_t>(i) >= cp.regions.size()) {
            throw Error(ErrorKind::inconsistent,
                        fmt::format("{}: {}[{}] at file offset {:#x} is outside the {} regions "
                                    "regionsCount announced",
                                    f.path(), t.name, i, t.value_at, cp.regions.size()));
          }
          Region& r = cp.regions[static_cast<std::size_t>(i)];
          const auto v = static_cast<std::uint32_t>(scalar(f, t));
          if (t.name == "regionPPN") r.ppn = v, r.seen |= 1;
          if (t.name == "regionPageNum") r.page_num = v, r.seen |= 2;
          if (t.name == "regionSize") r.size = v, r.seen |= 4;
        } else if (t.name == "Memory" && t.block) {
          if (t.compressed) {
            throw Error(ErrorKind::unsupported,
                        fmt::format("{}: the checkpoint embeds its memory compressed (block at "
                                    "file offset {:#x}), which pagedump does not read",
                                    f.path(), t.value_at));
          }
          cp.embedded_memory = true;
          cp.memory_offset = t.value_at;
          cp.memory_size = t.value_size;
        }
      });
    } else if (gname == "cpu") {
      walk_group(f, g, gname, [&](const Tag& t) {
        if (t.name == "cpu:numVCPUs" && !t.block) {
          const std::uint64_t n = scalar(f, t);
          if (n == 0 || n > kMaxImageCpus) {
            throw Error(ErrorKind::inconsistent,
                        fmt::format("{}: cpu:numVCPUs {} at file offset {:#x} (1 to {} expected)",
                                    f.path(), n, t.value_at, kMaxImageCpus));
          }
          cpu_count = static_cast<std::uint32_t>(n);
          cpu_count_known = true;
          return;
        }
        if (t.index_count == 0 || t.compressed) return;
        for (const auto& [name, idx] : kGpr) {
          if (t.name == name && !t.block) cpu_at(t)->gpr[static_cast<std::size_t>(idx)] = scalar(f, t);
        }
        if (t.name == "gpregs" && t.block) {
          CpuState* c = cpu_at(t);
          std::array<std::uint64_t, 16> regs{};
          const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(t.value_size, sizeof regs));
          f.read_exact(t.value_at, std::as_writable_bytes(std::span(regs)).first(n), "gpregs block");
          c->gpr = regs;
        } else if (t.name == "rip" && !t.block) {
          cpu_at(t)->rip = scalar(f, t);
        } else if ((t.name == "eflags" || t.name == "EFLAGS") && !t.block) {
          cpu_at(t)->rflags = scalar(f, t);
        } else if (t.name == "CR64" && !t.block && t.index_count == 2) {
          CpuState* c = cpu_at(t);
          const std::uint64_t v = scalar(f, t);
          switch (t.index[1]) {
            case 0: c->cr0 = v; break;
            case 2: c->cr2 = v; break;
            case 3: c->cr3 = v; break;
            case 4: c->cr4 = v; break;
            default: break;
          }
        } else if (t.name == "CR64" && t.block) {
          CpuState* c = cpu_at(t);
          std::array<std::uint64_t, 5> cr{};
          const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(t.value_size, sizeof cr));
          f.read_exact(t.value_at, std::as_writable_bytes(std::span(cr)).first(n), "CR64 block");
          c->cr0 = cr[0], c->cr2 = cr[2], c->cr3 = cr[3], c->cr4 = cr[4];
        } else if ((t.name == "IDTR" || t.name == "GDTR") && !t.block && t.index_count == 2) {
          // Base split in two 32-bit halves: index 1 low, index 2 high.
          CpuState* c = cpu_at(t);
          TableRegister& tr = t.name == "IDTR" ? c->idtr : c->gdtr;
          const std::uint64_t v = scalar(f, t) & 0xffffffffu;
          if (t.index[1] == 1) tr.base = (tr.base & ~0xffffffffull) | v;
          if (t.index[1] == 2) tr.base = (tr.base & 0xffffffffull) | v << 32;
        } else if ((t.name == "IDTR" || t.name == "GDTR") && t.block && t.value_size >= 10) {
          CpuState* c = cpu_at(t);
          TableRegister& tr = t.name == "IDTR" ? c->idtr : c->gdtr;
          tr.limit = f.read_struct<std::uint16_t>(t.value_at, "descriptor table limit");
          tr.base = f.read_struct<std::uint64_t>(t.value_at + 2, "descriptor table base");
        }
      });
    }
  }
  if (cpu_count_known && cp.cpus.size() < cpu_count) {
    const std::size_t old = cp.cpus.size();
    cp.cpus.resize(cpu_count);
    for (std::size_t k = old; k < cp.cpus.size(); ++k) cp.cpus[k].index = std::uint32_t(k);
  }
  for (std::size_t i = 0; i < cp.regions.size(); ++i) {
    if (cp.regions[i].seen != 7) {
      throw Error(ErrorKind::inconsistent,
                  fmt::format("{}: memory region {} lacks one of regionPPN, regionPageNum, "
                              "regionSize",
                              f.path(), i));
    }
  }
  return cp;
}

std::string with_extension(const std::string& path, const char* ext) {
  return std::filesystem::path(path).replace_extension(ext).string();
}

}  // namespace

bool is_vmware_state_magic(std::uint32_t magic) noexcept {
  return magic == kVmssMagicOld32 || magic == kVmssMagic || magic == kVmssMagicPartial ||
         magic == kVmssMagicRestored || magic == kVmssMagicNoRestore;
}

std::optional<std::string> find_vmware_state_for(const std::string& vmem_path) {
  std::error_code ec;
  for (const char* ext : {".vmss", ".vmsn"}) {
    const std::string p = with_extension(vmem_path, ext);
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return std::nullopt;
}

std::unique_ptr<PhysicalMemory> open_vmware_image(const std::string& path) {
  std::string state_path = path;
  std::optional<std::string> vmem_path;
  {
    InputFile probe(path);
    std::uint32_t magic = 0;
    if (probe.read_at(0, std::as_writable_bytes(std::span(&magic, 1))) != 4 ||
        !is_vmware_state_magic(magic)) {
      auto state = find_vmware_state_for(path);
      if (!state) {
        throw Error(ErrorKind::not_a_dump,
                    fmt::format("{}: neither a VMware checkpoint nor a .vmem with a .vmss/.vmsn "
                                "beside it (a lone .vmem opens as --format raw)",
                                path));
      }
      state_path = *state;
      vmem_path = path;
    }
  }
  InputFile state(state_path);
  Checkpoint cp = read_checkpoint(state);
  InputFile memory = [&]() -> InputFile {
    if (cp.embedded_memory) return std::move(state);
    if (!vmem_path) {
      const std::string p = with_extension(state_path, ".vmem");
      std::error_code ec;
      if (!std::filesystem::is_regular_file(p, ec)) {
        throw Error(ErrorKind::not_a_dump,
                    fmt::format("{}: the checkpoint holds no memory and its .vmem ({}) is missing",
                                state_path, p));
      }
      vmem_path = p;
    }
    return InputFile(*vmem_path);
  }();
  const std::uint64_t base_offset = cp.embedded_memory ? cp.memory_offset : 0;
  const std::uint64_t mem_size = cp.embedded_memory ? cp.memory_size : memory.size();
  std::vector<ImageSegment> segments;
  if (cp.regions.empty()) {
    if (mem_size == 0) {
      throw Error(ErrorKind::inconsistent, fmt::format("{}: the memory is empty", memory.path()));
    }
    segments.push_back({{0, mem_size}, base_offset});
  } else {
    for (const auto& r : cp.regions) {
      if (r.size == 0) continue;
      const std::uint64_t bytes = std::uint64_t(r.size) * kVmPage;
      const std::uint64_t in_mem = std::uint64_t(r.page_num) * kVmPage;
      if (in_mem > mem_size || bytes > mem_size - in_mem) {
        throw Error(ErrorKind::truncated,
                    fmt::format("{}: memory region for physical {:#x}-{:#x} starts at page {:#x} "
                                "of the memory, which holds only {:#x} bytes",
                                state_path, std::uint64_t(r.ppn) * kVmPage,
                                std::uint64_t(r.ppn) * kVmPage + bytes, r.page_num, mem_size));
      }
      segments.push_back({{std::uint64_t(r.ppn) * kVmPage, bytes}, base_offset + in_mem});
    }
  }
  return std::make_unique<SegmentedImage>(std::move(memory), "vmware", std::move(segments),
                                          std::move(cp.cpus), "VMware memory region");
}

}  // namespace pagedump
