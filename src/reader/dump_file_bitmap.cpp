// Bitmap layouts (DumpType 5/6, and the legacy summary dump 2): which PFNs are present is one
// bit each, and the n-th present page is stored n pages after FirstPage. The bitmap is never
// held whole: a rank index (one count per 32768 PFNs) plus a few cached chunks answer lookups.
#include <algorithm>
#include <bit>
#include <cstring>

#include "dump_file_internal.h"
#include "page_cache.h"
#include "pagedump/format/bitmap.h"
#include "pagedump/reader/dump_file.h"

namespace pagedump {

using reader_detail::fail;
using reader_detail::printable_tag;


namespace {

// Clears the bits of the last bitmap byte that lie past bit_count: they describe no PFN.
void mask_tail(std::span<std::byte> bytes, std::uint64_t first_bit, std::uint64_t bit_count) {
  std::uint64_t bits_here = bytes.size() * 8;
  if (first_bit + bits_here <= bit_count) return;
  std::uint64_t valid = bit_count - first_bit;
  for (std::uint64_t k = valid; k < bits_here; ++k) {
    bytes[k / 8] &= std::byte(~(1u << (k % 8)));
  }
}

std::uint64_t popcount_bytes(std::span<const std::byte> bytes, std::uint64_t nbits) {
  std::uint64_t count = 0;
  std::uint64_t whole = nbits / 64;
  for (std::uint64_t w = 0; w < whole; ++w) {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + w * 8, 8);
    count += static_cast<std::uint64_t>(std::popcount(v));
  }
  for (std::uint64_t k = whole * 64; k < nbits; ++k) {
    if (std::to_integer<unsigned>(bytes[k / 8]) & (1u << (k % 8))) ++count;
  }
  return count;
}

}  // namespace

void DumpFile::parse_bitmap(bool legacy) {
  layout_ = MemoryLayout::bitmap;
  BitmapSummary s;
  s.legacy_summary = legacy;
  s.header_offset = header_.header_size();
  const std::uint64_t at = s.header_offset;
  std::uint64_t header_bytes = legacy ? (header_.is64 ? sizeof(format::SummaryDump64)
                                                      : sizeof(format::SummaryDump32))
                                      : sizeof(format::BitmapDumpHeader);
  if (file_.size() < at + header_bytes) {
    fail(ErrorKind::truncated, path(),
         "the {} header at file offset {:#x} ({:#x} bytes) is beyond the end of the file "
         "(size {:#x})",
         legacy ? "summary dump" : "bitmap dump", at, header_bytes, file_.size());
  }
  std::uint32_t valid;
  if (legacy) {
    // SUMMARY_DUMP64 and SUMMARY_DUMP32 agree up to 0x18; only where the bits start differs.
    auto h = file_.read_struct<format::SummaryDump32>(at, "summary dump header");
    s.signature = h.Signature;
    valid = h.ValidDump;
    s.dump_options = h.DumpOptions;
    s.first_page_offset = h.HeaderSize;
    s.bitmap_bits = h.BitmapSize;
    s.present_pages = h.Pages;
    s.bits_offset = at + header_bytes;
  } else {
    auto h = file_.read_struct<format::BitmapDumpHeader>(at, "bitmap dump header");
    s.signature = h.Signature;
    valid = h.ValidDump;
    s.dump_options = h.DumpOptions;
    s.first_page_offset = h.FirstPage;
    s.bitmap_bits = h.BitmapBits;
    s.present_pages = h.PresentPages;
    s.bits_offset = at + format::kBitmapBitsOffset;
  }
  bool sig_ok = s.signature == format::kSummaryDumpSignature ||
                (!legacy && s.signature == format::kFullDumpSignature);
  if (!sig_ok || valid != format::kBitmapValidDump) {
    fail(ErrorKind::inconsistent, path(),
         "{} header at file offset {:#x} reads '{}{}'; expected {}", legacy ? "summary" : "bitmap",
         at, printable_tag(s.signature), printable_tag(valid),
         legacy ? "'SDMPDUMP'" : "'SDMPDUMP' or 'FDMPDUMP'");
  }
  const char* field_bits = legacy ? "BitmapSize" : "BitmapBits";
  const char* field_first = legacy ? "HeaderSize" : "FirstPage";
  const char* field_present = legacy ? "Pages" : "PresentPages";
  const std::uint64_t off_bits = at + (legacy ? offsetof(format::SummaryDump32, BitmapSize)
                                              : offsetof(format::BitmapDumpHeader, BitmapBits));
  const std::uint64_t off_first = at + (legacy ? offsetof(format::SummaryDump32, HeaderSize)
                                               : offsetof(format::BitmapDumpHeader, FirstPage));
  const std::uint64_t off_present =
      at + (legacy ? offsetof(format::SummaryDump32, Pages)
                   : offsetof(format::BitmapDumpHeader, PresentPages));

  // The whole bitmap must be in the file: without it no page can be located.
  const std::uint64_t avail = file_.size() - s.bits_offset;
  const std::uint64_t bitmap_bytes = s.bitmap_bits / 8 + (s.bitmap_bits % 8 != 0);
  if (bitmap_bytes > avail) {
    fail(ErrorKind::truncated, path(),
         "{} at file offset {:#x} is {:#x} bits: the bitmap at {:#x} would need {:#x} bytes, "
         "beyond the end of the file (size {:#x})",
         field_bits, off_bits, s.bitmap_bits, s.bits_offset, bitmap_bytes, file_.size());
  }
  if (s.bitmap_bits > reader_detail::kMaxPfnEnd) {
    fail(ErrorKind::inconsistent, path(), "{} at file offset {:#x} is {:#x}: too many pages",
         field_bits, off_bits, s.bitmap_bits);
  }
  if (s.first_page_offset < s.bits_offset + bitmap_bytes) {
    fail(ErrorKind::inconsistent, path(),
         "{} at file offset {:#x} is {:#x}, before the end of the bitmap ({:#x}); expected the "
         "first page after the bitmap",
         field_first, off_first, s.first_page_offset, s.bits_offset + bitmap_bytes);
  }

  auto index = std::make_unique<BitmapIndex>();
  index->bits_offset = s.bits_offset;
  index->bit_count = s.bitmap_bits;
  const std::uint64_t chunks = index->chunks();
  index->rank.reserve(chunks + 1);
  index->rank.push_back(0);
  // Stream the bitmap once, 16 chunks per read, counting set bits per chunk.
  constexpr std::uint64_t kPerRead = 16;
  std::vector<std::byte> buf(kPerRead * BitmapIndex::kChunkBytes);
  std::uint64_t total = 0;
  for (std::uint64_t c = 0; c < chunks; c += kPerRead) {
    std::uint64_t first_byte = c * BitmapIndex::kChunkBytes;
    std::uint64_t n = std::min<std::uint64_t>(buf.size(), bitmap_bytes - first_byte);
    std::span<std::byte> bytes(buf.data(), n);
    file_.read_exact(s.bits_offset + first_byte, bytes, "bitmap");
    mask_tail(bytes, first_byte * 8, s.bitmap_bits);
    for (std::uint64_t k = 0; k < kPerRead && c + k < chunks; ++k) {
      std::uint64_t from = k * BitmapIndex::kChunkBytes;
      std::uint64_t len = std::min<std::uint64_t>(BitmapIndex::kChunkBytes, n - from);
      total += popcount_bytes(bytes.subspan(from, len), len * 8);
      index->rank.push_back(total);
    }
  }
  if (total != s.present_pages) {
    fail(ErrorKind::inconsistent, path(),
         "{} at file offset {:#x} is {:#x} ({}), but the bitmap has {:#x} ({}) bits set",
         field_present, off_present, s.present_pages, s.present_pages, total, total);
  }
  bitmap_index_ = std::move(index);
  bitmap_ = s;
  stored_pages_ = total;
}

const DumpFile::BitmapIndex::Chunk& DumpFile::BitmapIndex::load(std::uint64_t c,
                                                                const InputFile& file) const {
  for (const auto& k : cache) {
    if (k.index == c) return k;
  }
  Chunk& k = cache[next_victim];
  next_victim = (next_victim + 1) % kCachedChunks;
  k.index = ~std::uint64_t(0);
  std::array<std::byte, kChunkBytes> bytes{};
  auto part = std::span(bytes).first(chunk_bytes(c));
  file.read_exact(bits_offset + c * kChunkBytes, part, "bitmap");
  mask_tail(part, c * kChunkBits, bit_count);
  std::memcpy(k.words.data(), bytes.data(), kChunkBytes);
  std::uint16_t before = 0;
  for (std::size_t w = 0; w < kWords; ++w) {
    k.before[w] = before;
    before = static_cast<std::uint16_t>(before + std::popcount(k.words[w]));
  }
  k.index = c;
  return k;
}

std::optional<std::uint64_t> DumpFile::bitmap_page_index(std::uint64_t pfn) const {
  const BitmapIndex& ix = *bitmap_index_;
  if (pfn >= ix.bit_count) return std::nullopt;
  const std::uint64_t c = pfn / BitmapIndex::kChunkBits;
  const std::uint64_t bit = pfn % BitmapIndex::kChunkBits;
  if (ix.rank[c + 1] == ix.rank[c]) return std::nullopt;  // an empty chunk: no read needed
  const auto& k = ix.load(c, file_);
  const std::uint64_t word = k.words[bit / 64];
  const std::uint64_t b = bit % 64;
  if (!((word >> b) & 1)) return std::nullopt;
  return ix.rank[c] + k.before[bit / 64] +
         static_cast<std::uint64_t>(std::popcount(word & ((std::uint64_t(1) << b) - 1)));
}

std::uint64_t DumpFile::bitmap_select(std::uint64_t n) const {
  const BitmapIndex& ix = *bitmap_index_;
  // The chunk c with rank[c] <= n < rank[c + 1].
  auto it = std::upper_bound(ix.rank.begin(), ix.rank.end(), n);
  const std::uint64_t c = static_cast<std::uint64_t>(it - ix.rank.begin()) - 1;
  std::lock_guard lock(cache_->lock);
  const auto& k = ix.load(c, file_);
  std::uint64_t left = n - ix.rank[c];
  // The last word with fewer than `left + 1` pages before it holds the page.
  auto w_it = std::upper_bound(k.before.begin(), k.before.end(), left);
  const std::size_t w = static_cast<std::size_t>(w_it - k.before.begin()) - 1;
  left -= k.before[w];
  std::uint64_t word = k.words[w];
  for (; word; word &= word - 1) {
    if (left-- == 0) return c * BitmapIndex::kChunkBits + w * 64 + std::countr_zero(word);
  }
  return ix.bit_count;  // not reached when n < total
}

}  // namespace pagedump
