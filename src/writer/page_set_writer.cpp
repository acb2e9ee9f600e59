// Bitmap dumps: the bitmap header and its bits, then the present pages back to back in PFN
// order. Memory stays flat: pages come from the shared page stream a chunk at a time, and the
// bitmap is written a 4 KiB block (32768 PFNs) at a time as the PFNs go by.
#include "page_set_writer.h"

#include <algorithm>
#include <bit>
#include <chrono>

#include <fmt/format.h>

#include "dump_finishing.h"
#include "page_stream.h"
#include "pagedump/error.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/io/output_file.h"
#include "pagedump/io/progress.h"

namespace pagedump::writer {

using namespace format;

RunListPageSet::RunListPageSet(std::vector<PfnRun> sorted_runs) : runs_(std::move(sorted_runs)) {
  for (const auto& r : runs_) {
    pages_ += r.count;
    if (r.count) end_ = std::max(end_, r.first + r.count);
  }
}

void RunListPageSet::for_each_run(const std::function<void(const PfnRun&)>& visit) const {
  for (const auto& r : runs_) {
    if (r.count) visit(r);
  }
}

void PfnBitmap::add(std::uint64_t pfn) { add_range(pfn, 1); }

void PfnBitmap::add_range(std::uint64_t first, std::uint64_t count) {
  // A word (64 PFNs) at a time and one block lookup per block: a hostile page table can map
  // the same large pages under every entry of many tables, so this runs once per mapping.
  while (count) {
    auto [it, inserted] = blocks_.try_emplace(first / kBlockPfns);
    if (inserted) it->second.assign(kBlockPfns / 64, 0);
    std::uint64_t bit = first % kBlockPfns;
    const std::uint64_t in_block = std::min(count, kBlockPfns - bit);
    for (std::uint64_t left = in_block; left;) {
      const std::uint64_t low = bit % 64;
      const std::uint64_t n = std::min<std::uint64_t>(left, 64 - low);
      const std::uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << low;
      std::uint64_t& word = it->second[bit / 64];
      pages_ += static_cast<std::uint64_t>(std::popcount(mask & ~word));
      word |= mask;
      bit += n;
      left -= n;
    }
    first += in_block;
    count -= in_block;
  }
}

bool PfnBitmap::contains(std::uint64_t pfn) const {
  auto it = blocks_.find(pfn / kBlockPfns);
  if (it == blocks_.end()) return false;
  const std::uint64_t bit = pfn % kBlockPfns;
  return (it->second[bit / 64] >> (bit % 64)) & 1;
}

std::uint64_t PfnBitmap::end_pfn() const {
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    for (std::size_t w = it->second.size(); w-- > 0;) {
      if (it->second[w]) {
        return it->first * kBlockPfns + w * 64 + (64 - std::countl_zero(it->second[w]));
      }
    }
  }
  return 0;
}

void PfnBitmap::for_each_run(const std::function<void(const PfnRun&)>& visit) const {
  PfnRun run;
  for (const auto& [index, words] : blocks_) {
    for (std::size_t w = 0; w < words.size(); ++w) {
      std::uint64_t bits = words[w];
      while (bits) {
        const int low = std::countr_zero(bits);
        const std::uint64_t shifted = bits >> low;
        const int len = shifted == ~0ull ? 64 : std::countr_zero(~shifted);
        const std::uint64_t first = index * kBlockPfns + w * 64 + static_cast<std::uint64_t>(low);
        if (run.count && run.first + run.count == first) {
          run.count += static_cast<std::uint64_t>(len);
        } else {
          if (run.count) visit(run);
          run = {first, static_cast<std::uint64_t>(len)};
        }
        bits = low + len >= 64 ? 0 : bits & ~(((1ull << len) - 1) << low);
      }
    }
  }
  if (run.count) visit(run);
}

void check_free_space(const DumpTarget& target, std::uint64_t required, std::uint64_t header,
                      std::uint64_t memory) {
  const std::string& output = target.output;
  const std::uint64_t free =
      target.free_space ? target.free_space(output) : OutputFile::free_space(output);
  if (free < required) {
    throw Error(ErrorKind::io,
                fmt::format("{}: not enough free space for the dump: it needs {} bytes (physical "
                            "memory {} + header {}), the target has {} free; nothing was written",
                            output, required, memory, header, free));
  }
}

Bugcheck finish_and_commit(OutputFile& out, std::vector<std::byte>& header,
                           const DiscoveredSystem& system, std::uint32_t dump_type,
                           const DumpTarget& target, std::uint64_t file_size) {
  const std::uint32_t cpu = target.bugcheck_cpu.value_or(0);
  const Bugcheck bugcheck = choose_bugcheck(system, target.bugcheck);
  const auto ctx = header_context(system, cpu);
  finish_header(header, system, dump_type, bugcheck, ctx, file_size,
                dump_comment(target.source_format));
  out.write_at(0, header);
  out.commit();
  return bugcheck;
}

DumpWriteResult write_bitmap_dump(const PhysicalMemory& image, const DiscoveredSystem& system,
                                  std::vector<std::byte> header, const PageSet& pages,
                                  const BitmapDumpSpec& spec, const DumpTarget& target,
                                  std::vector<std::string> notes) {
  const auto start = std::chrono::steady_clock::now();
  const Overlays overlays = consistency_overlays(image, system, notes);
  DumpWriteResult result;
  result.notes = std::move(notes);
  const std::uint64_t header_size = header.size();
  const std::uint64_t page_count = pages.page_count();
  // Bits a multiple of 64 so every reader sees every page (reference §4.2).
  const std::uint64_t bits = (pages.end_pfn() + 63) / 64 * 64;
  const std::uint64_t bitmap_offset = header_size + kBitmapBitsOffset;
  const std::uint64_t first_page = (bitmap_offset + bits / 8 + kPageSize - 1) / kPageSize * kPageSize;
  check_free_space(target, first_page + page_count * kPageSize, first_page,
                   page_count * kPageSize);

  OutputFile out(target.output, target.force, target.sync);
  Progress progress("writing " + target.output, page_count * kPageSize, target.quiet);
  std::uint64_t written_pages = 0, done = 0;
  std::vector<std::byte> block(kPageSize);
  std::uint64_t block_index = 0;
  auto flush_block = [&] {
    const std::uint64_t off = block_index * kPageSize;
    const std::uint64_t len = std::min<std::uint64_t>(kPageSize, bits / 8 - off);
    if (len) out.write_at(bitmap_offset + off, std::span(block).first(len));
    std::fill(block.begin(), block.end(), std::byte{0});
  };
  PageStream stream(image, overlays);
  pages.for_each_run([&](const PfnRun& run) {
    stream.stream(run, [&](const PageSpan& span) {
      done += span.count * kPageSize;
      progress.update(done);
      // Zero pages are left out, or (when every page must be present) stay holes of the file.
      if (span.zero() && spec.omit_zero_pages) return;
      for (std::uint64_t p = span.pfn; p < span.pfn + span.count; ++p) {
        while (p / (kPageSize * 8) != block_index) {
          flush_block();
          ++block_index;
        }
        const std::uint64_t bit = p % (kPageSize * 8);
        block[bit / 8] |= std::byte(1u << (bit % 8));
      }
      if (!span.zero()) out.write_at(first_page + written_pages * kPageSize, span.bytes);
      written_pages += span.count;
    });
  });
  while (block_index * kPageSize * 8 < bits) {
    flush_block();
    ++block_index;
  }
  BitmapDumpHeader bh{};
  bh.Signature = spec.signature;
  bh.ValidDump = kBitmapValidDump;
  bh.DumpOptions = spec.dump_options;
  bh.FirstPage = first_page;
  bh.PresentPages = written_pages;
  bh.BitmapBits = bits;
  out.write_at(header_size, std::as_bytes(std::span(&bh, 1)));
  // Between the bitmap and the first page: zeroes (ftruncate-extended).
  const std::uint64_t file_size = first_page + written_pages * kPageSize;
  out.truncate(file_size);
  result.bugcheck = finish_and_commit(out, header, system, spec.dump_type, target, file_size);
  progress.finish();

  result.output = target.output;
  result.dump_type = spec.dump_type;
  result.bytes_written = file_size;
  result.pages = written_pages;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace pagedump::writer
