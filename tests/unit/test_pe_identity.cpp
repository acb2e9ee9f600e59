// Discovery's PE identity of a module (src/discovery/pe_identity.cpp): an image that is not in
// the capture, the usual case for paged-out drivers, is reported as such, with the address and
// the translation that failed.
#include <gtest/gtest.h>

#include <string>

#include "discovery_context.h"
#include "pagedump/translate/address_space.h"
#include "support/memory_image.h"
#include "support/page_table_builder.h"

namespace pagedump::test {
namespace {

TEST(PeIdentity, AnImageNotInTheCaptureSaysWhichReadFailed) {
  MemoryImage image;
  PageTableBuilder pt{image, PagingMode::x64_4level, 0x1ad000, 0x40000};
  // A driver whose header page is mapped but not captured, one whose VA is not mapped at all,
  // and a captured page that is not a PE image.
  pt.map(0xfffff80412340000, 0x7000000, 0x1000);
  pt.map(0xfffff80412350000, 0x5000, 0x1000);
  image.map(0x5000, 0x1000);
  image.write(0x5000, "ZM");
  AddressSpace space(image, PagingMode::x64_4level, pt.dtb());

  std::string why;
  EXPECT_FALSE(discovery::read_image_identity(space, 0xfffff80412340000, why));
  EXPECT_EQ(why,
            "image at 0xfffff80412340000: cannot read DOS header (rva 0x0, 0x40 bytes): "
            "virtual address 0xfffff80412340000 is not in the image");
  EXPECT_FALSE(discovery::read_image_identity(space, 0xfffff80412360000, why));
  EXPECT_EQ(why,
            "image at 0xfffff80412360000: cannot read DOS header (rva 0x0, 0x40 bytes): "
            "virtual address 0xfffff80412360000 is not mapped");
  EXPECT_FALSE(discovery::read_image_identity(space, 0xfffff80412350000, why));
  EXPECT_EQ(why, "image at 0xfffff80412350000: no \"MZ\" signature (found 0x4d5a)");
}

}  // namespace
}  // namespace pagedump::test
