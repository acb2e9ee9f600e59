// The bytes of a small dump from its content and layout: the triage header, each section as
// Windows writes it (driver entries zero except DllBase, SizeOfImage, CheckSum and
// TimeDateStamp; unloaded names truncated to 12 characters), zero padding and 'TRGD'.
#include <algorithm>
#include <cstring>

#include "pagedump/format/pointer_width.h"
#include "small_dump_plan.h"

namespace pagedump::writer {
namespace {

using namespace format;

template <typename T>
void store(std::vector<std::byte>& out, std::uint64_t off, const T& v) {
  std::memcpy(out.data() + off, &v, sizeof v);
}

void copy(std::vector<std::byte>& out, std::uint64_t off, std::span<const std::byte> bytes) {
  if (!bytes.empty()) std::memcpy(out.data() + off, bytes.data(), bytes.size());
}

std::u16string utf16_ascii(const std::string& s) {
  std::u16string out;
  for (char ch : s) out.push_back(static_cast<char16_t>(static_cast<unsigned char>(ch)));
  return out;
}

std::uint64_t sign_extend32(std::uint64_t v) {
  return (v & 0x80000000ull) ? (v | 0xFFFFFFFF00000000ull) : v;
}

// Everything of one pointer width: the structures differ in field sizes and offsets, not in
// what is written into them.
template <class W>
std::vector<std::byte> produce(const SmallDumpContent& c, const SmallDumpLayout& l,
                               std::span<const std::byte> header) {
  using Header = typename W::DumpHeader;
  using Ptr = typename W::Pointer;
  std::vector<std::byte> out(l.size_of_dump);
  std::memcpy(out.data(), header.data(), std::min<std::size_t>(header.size(), l.triage_offset));
  // Windows 10 writes 0xFFFFFFFF (the sample), which has TRIAGE_OPTION_OVERFLOWED set; the
  // bit is kept only when something was left out, so that it means what it says.
  const std::uint32_t options =
      l.overflowed ? 0xFFFFFFFFu : (0xFFFFFFFFu & ~kTriageOptionOverflowed);
  const std::uint32_t fields =
      triage_fields::kWindows & (l.block_count ? ~0u : ~triage_fields::kDataBlocks);

  typename W::TriageDump t{};
  t.SizeOfDump = l.size_of_dump;
  t.ValidOffset = l.valid_offset;
  t.ContextOffset = offsetof(Header, ContextRecord);
  t.ExceptionOffset = offsetof(Header, Exception);
  t.MmOffset = l.mm_offset;
  t.UnloadedDriversOffset = l.unloaded_offset;
  t.PrcbOffset = l.prcb_offset;
  t.ProcessOffset = l.process_offset;
  t.ThreadOffset = l.thread_offset;
  t.CallStackOffset = l.stack_offset;
  t.SizeOfCallStack = l.stack_size;
  t.DriverListOffset = l.driver_list_offset;
  t.DriverCount = l.driver_count;
  t.StringPoolOffset = l.string_pool_offset;
  t.StringPoolSize = l.string_pool_size;
  t.TriageOptions = options;
  t.TopOfStack = static_cast<Ptr>(c.stack_top);
  t.DebuggerDataOffset = l.kdbg_offset;
  t.DebuggerDataSize = static_cast<std::uint32_t>(c.kdbg.size());
  t.DataBlocksOffset = l.blocks_table_offset;
  t.DataBlocksCount = l.block_count;
  store(out, l.triage_offset, t);
  std::memcpy(out.data() + offsetof(Header, MiniDumpFields), &fields, 4);

  // MM storage: Windows' own values are not in a captured image's reach; version and size.
  typename W::MmStorage mm{};
  mm.Version = 1;
  mm.Size = sizeof mm;
  store(out, l.mm_offset, mm);

  // Unloaded drivers.
  const std::size_t names = 12;
  store(out, l.unloaded_offset, static_cast<std::uint32_t>(c.unloaded.size()));
  std::uint64_t off = l.unloaded_offset + W::kUnloadedDriversHeader;
  for (const auto& u : c.unloaded) {
    typename W::UnloadedDriver e{};
    const auto name = utf16_ascii(u.name);
    e.NameLength = static_cast<std::uint16_t>(std::min<std::size_t>(name.size() * 2, 0xFFFE));
    e.NameMaximumLength = e.NameLength;
    std::copy_n(name.begin(), std::min(names, name.size()), e.DriverName);
    e.StartAddress = static_cast<Ptr>(u.start);
    e.EndAddress = static_cast<Ptr>(u.end);
    store(out, off, e);
    off += sizeof e;
  }

  copy(out, l.prcb_offset, c.prcb);
  copy(out, l.process_offset, c.eprocess);
  copy(out, l.thread_offset, c.ethread);
  copy(out, l.stack_offset, std::span(c.stack).first(l.stack_size));
  copy(out, l.kdbg_offset, c.kdbg);

  // Driver list and the DUMP_STRING pool, in driver-list order.
  std::uint64_t str = l.string_pool_offset;
  for (std::uint32_t i = 0; i < l.driver_count; ++i) {
    const auto& d = c.drivers[i];
    typename W::DriverEntry e{};
    e.DriverNameOffset = static_cast<std::uint32_t>(str);
    e.DllBase = static_cast<Ptr>(d.base);
    e.SizeOfImage = d.size;
    e.CheckSum = d.checksum;
    e.TimeDateStamp = d.timestamp;
    store(out, l.driver_list_offset + std::uint64_t(i) * l.driver_stride, e);
    const auto chars = static_cast<std::uint32_t>(d.path.size());
    store(out, str, chars);
    std::memcpy(out.data() + str + 4, d.path.data(), d.path.size() * 2);
    str += dump_string_record_size(chars);  // the NUL and the padding stay zero
  }

  for (std::uint32_t i = 0; i < l.block_count; ++i) {
    const auto& b = c.blocks[l.blocks[i]];
    TriageDataBlock e{};
    e.Address = c.is64 ? b.va : sign_extend32(b.va);
    e.Offset = l.block_offsets[i];
    e.Size = static_cast<std::uint32_t>(b.bytes.size());
    store(out, l.blocks_table_offset + 16 * std::uint64_t(i), e);
    copy(out, l.block_offsets[i], b.bytes);
  }
  store(out, l.valid_offset, kTriageValid);
  return out;
}

}  // namespace

std::vector<std::byte> produce_small_dump(const SmallDumpContent& c, const SmallDumpLayout& l,
                                          std::vector<std::byte> header) {
  return with_width(c.is64, [&](auto width) { return produce<decltype(width)>(c, l, header); });
}

}  // namespace pagedump::writer
