// Inputs the fuzz targets (fuzz/) found crashing, rebuilt by code, with the behaviour now
// expected. Run under UBSan + ASan in CI (the Clang build), where each one failed before its fix.
#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <vector>

#include "pagedump/format/kdbg.h"

using namespace pagedump;

// fuzz_kdbg, 2026-11-22: an image whose page records all have length 0 left the target's first
// block empty, and load_kdbg passed the empty vector's null data() to memcpy (UBSan:
// "null pointer passed as argument 2"). An empty or short block loads as zeros past its end.
TEST(FuzzRegressions, LoadKdbgOfAnEmptyBlockIsAllZeros) {
  const std::span<const std::byte> empty;  // data() is nullptr, as for an empty vector
  const format::KdDebuggerData64 k = format::load_kdbg(empty);
  EXPECT_EQ(k.Header.OwnerTag, 0u);
  EXPECT_EQ(k.Header.Size, 0u);
  EXPECT_EQ(k.KernBase, 0u);

  std::vector<std::byte> eight(8, std::byte{0x11});
  const format::KdDebuggerData64 s = format::load_kdbg(eight);
  EXPECT_EQ(s.Header.ListFlink, 0x1111111111111111ull);
  EXPECT_EQ(s.KernBase, 0u);
}
