#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "pagedump/format/bitmap.h"
#include "pagedump/format/bugcheck.h"
#include "pagedump/format/dump_header.h"
#include "pagedump/format/kdbg.h"
#include "pagedump/format/triage.h"

using namespace pagedump::format;

TEST(Format, TagsReadAsOnDisk) {
  EXPECT_EQ(kKdbgOwnerTag, 0x4742444Bu);
  EXPECT_EQ(kSignaturePage, 0x45474150u);
  EXPECT_EQ(kFill32, kSignaturePage);
  EXPECT_EQ(kValidDump64, 0x34365544u);
  EXPECT_EQ(kSummaryDumpSignature, 0x504D4453u);
  EXPECT_EQ(kFullDumpSignature, 0x504D4446u);
  EXPECT_EQ(kTriageValid, 0x44475254u);
}

TEST(Format, FillPatternIsAlignedToRangeStart) {
  std::array<std::byte, 10> b{};
  fill_page_pattern(b);
  EXPECT_EQ(std::memcmp(b.data(), "PAGEPAGEPA", 10), 0);
  EXPECT_TRUE(is_fill(load<std::uint32_t>(b)));
  EXPECT_TRUE(is_fill(load<std::uint64_t>(b)));
  EXPECT_TRUE(is_fill_at(std::uint8_t{'A'}, 0x104D));  // KdSecondaryVersion's byte of the fill
  EXPECT_FALSE(is_fill_at(std::uint8_t{'P'}, 0x104D));
  EXPECT_TRUE(is_fill_at(std::uint8_t{'P'}, 0x104C));
  EXPECT_TRUE(is_fill_at(std::uint16_t{0x4547}, 0x104E));  // "GE"
  EXPECT_FALSE(is_fill_at(std::uint16_t{0x4150}, 0x104E));
}

// Vectors computed independently from the formula in reference §6.3.
TEST(Kdbg, DecodeMatchesReferenceFormula) {
  KdbgKeys keys{0x1122334455667788ull, 0x99AABBCCDDEEFF00ull, 0xfffff8047c6ff2d8ull};
  EXPECT_EQ(kdbg_decode_word(0, keys), 0x50d0a3d68c5233ddull);
  EXPECT_EQ(kdbg_decode_word(0x000003804742444Bull, keys), 0x509be794cbd230ddull);
  EXPECT_EQ(kdbg_decode_word(0xfffff8047ba00000ull, keys), 0xafd0a376f756cb22ull);
}

TEST(Kdbg, EncodeIsTheInverseOfDecode) {
  KdbgKeys keys{0x0123456789abcdefull, 0xfedcba9876543210ull, 0xfffff80000001234ull};
  for (std::uint64_t v : {0ull, 1ull, 0x4742444Bull, 0xffffffffffffffffull, 0xfffff8047ba00000ull}) {
    EXPECT_EQ(kdbg_decode_word(kdbg_encode_word(v, keys), keys), v);
  }
  // Rotation by zero (WN a multiple of 64) is a valid key too.
  keys.wait_never = 0x40;
  EXPECT_EQ(kdbg_decode_word(kdbg_encode_word(0x1234, keys), keys), 0x1234u);
}

TEST(Kdbg, BlockEncodingRoundTripsAndLeavesPartialWord) {
  KdbgKeys keys{0x5555aaaa5555aaaaull, 0x1234ull, 0xfffff80412345678ull};
  std::array<std::byte, 0x1B> block{};
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = std::byte(i * 7);
  auto original = block;
  kdbg_encode(block, keys);
  EXPECT_NE(std::memcmp(block.data(), original.data(), 0x18), 0);
  EXPECT_EQ(std::memcmp(block.data() + 0x18, original.data() + 0x18, 3), 0);
  kdbg_decode(block, keys);
  EXPECT_EQ(block, original);
}

TEST(Kdbg, PlausibleSizes) {
  EXPECT_TRUE(plausible_kdbg_size(0x380));
  EXPECT_TRUE(plausible_kdbg_size(0x290));
  EXPECT_FALSE(plausible_kdbg_size(0x381));
  EXPECT_FALSE(plausible_kdbg_size(0x10));
  EXPECT_FALSE(plausible_kdbg_size(0x808));
}

TEST(Format, BugcheckNamesRequiredByTheFoundation) {
  EXPECT_EQ(bugcheck_name(0xE2), "MANUALLY_INITIATED_CRASH");
  EXPECT_EQ(bugcheck_name(0x161), "LIVE_SYSTEM_DUMP");
  EXPECT_EQ(bugcheck_name(0x1C8), "MANUALLY_INITIATED_POWER_BUTTON_HOLD");
  EXPECT_EQ(bugcheck_name(0x1000007E), "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M");
  EXPECT_EQ(bugcheck_name(0x7E), "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED");
  EXPECT_EQ(bugcheck_name(0x3B), "SYSTEM_SERVICE_EXCEPTION");
  EXPECT_EQ(bugcheck_name(0x50), "PAGE_FAULT_IN_NONPAGED_AREA");
  EXPECT_EQ(bugcheck_name(0xA), "IRQL_NOT_LESS_OR_EQUAL");
  EXPECT_EQ(bugcheck_name(0xD1), "DRIVER_IRQL_NOT_LESS_OR_EQUAL");
  EXPECT_EQ(bugcheck_name(0x133), "DPC_WATCHDOG_VIOLATION");
  EXPECT_EQ(bugcheck_name(0xEF), "CRITICAL_PROCESS_DIED");
  EXPECT_EQ(bugcheck_name(0x139), "KERNEL_SECURITY_CHECK_FAILURE");
  EXPECT_EQ(bugcheck_name(0x1E), "KMODE_EXCEPTION_NOT_HANDLED");
  EXPECT_EQ(bugcheck_name(0x12345), "");
}

TEST(Format, NamesOfTypesArchitecturesAndAttributes) {
  EXPECT_EQ(dump_type_name(1), "full");
  EXPECT_EQ(dump_type_name(4), "triage");
  EXPECT_EQ(dump_type_name(6), "bitmap-kernel");
  EXPECT_EQ(dump_type_name(0xA), "rdmp-full");
  EXPECT_EQ(dump_type_name(0x45474150), "unknown");
  EXPECT_EQ(architecture_name(0x8664), "x64");
  EXPECT_EQ(architecture_name(0x14C), "x86");
  EXPECT_EQ(architecture_name(0xAA64), "arm64");
  EXPECT_EQ(architecture_name(0x1C4), "arm");
  EXPECT_EQ(attribute_names(0x18), "KernelGeneratedTriageDump|LiveDumpGeneratedDump");
  EXPECT_EQ(attribute_names(0x1800), "bit11|bit12");
  EXPECT_EQ(dump_string_record_size(0), 8u);
  EXPECT_EQ(dump_string_record_size(1), 8u);
  EXPECT_EQ(dump_string_record_size(2), 16u);
}
