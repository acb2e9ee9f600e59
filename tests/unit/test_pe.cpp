// The PE reader on images built in code (PE32+ and PE32), on junk and fragments, and on a
// real driver file from the samples' symbol store.
#include <gtest/gtest.h>

#include <algorithm>

#include <cstring>
#include <fstream>
#include <random>

#include "pagedump/error.h"
#include "pagedump/format/pe.h"
#include "pagedump/io/input_file.h"
#include "pagedump/pe/pe_image.h"
#include "pagedump/synth/pe_builder.h"
#include "support/samples.h"

using namespace pagedump;
using namespace pagedump::test;
using namespace pagedump::synth;
using pagedump::format::load;
using pagedump::format::store;

namespace {

constexpr std::uint64_t kBase = 0xfffff80412340000ull;

pe::CodeViewPdb known_pdb() {
  pe::CodeViewPdb cv;
  cv.pdb_name = "ntkrnlmp.pdb";
  cv.guid_data1 = 0x12345678;
  cv.guid_data2 = 0x9ABC;
  cv.guid_data3 = 0xDEF0;
  cv.guid_data4 = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  cv.age = 0x2A;
  return cv;
}

PeSpec kernel_like_spec(bool pe32_plus = true) {
  PeSpec s;
  s.pe32_plus = pe32_plus;
  s.machine = pe32_plus ? 0x8664 : 0x14C;
  s.image_base = pe32_plus ? 0x140000000ull : 0x400000;
  s.size_of_image = 0x9000;
  s.time_date_stamp = 0x0D8333E6;
  s.checksum = 0x00A5938C;
  s.entry_point_rva = 0x1010;
  using namespace pagedump::format::section_flags;
  s.sections = {{".text", 0x1000, 0x2000, kCode | kExecute | kRead},
                {"POOLCODE", 0x3000, 0x1000, kCode | kExecute | kRead},
                {".rdata", 0x4000, 0x2000, kInitializedData | kRead},
                {".data", 0x6000, 0x1000, kInitializedData | kRead | kWrite},
                {"ALMOSTRO", 0x7000, 0x1000, kInitializedData | kRead | kWrite},
                {"INIT", 0x8000, 0x1000, kCode | kExecute | kDiscardable}};
  s.export_rva = 0x4800;
  s.dll_name = "ntoskrnl.exe";
  s.exports = {{"PsLoadedModuleList", 0x6100}, {"KeBugCheckEx", 0x1200}, {"NtBuildNumber", 0x6008}};
  s.debug_rva = 0x4100;
  s.codeview = known_pdb();
  return s;
}

pe::RvaReader buffer_reader(const std::vector<std::byte>& image) {
  return [&image](std::uint32_t rva, std::span<std::byte> out) -> ReadResult {
    if (rva > image.size() || out.size() > image.size() - rva) {
      return {ReadStatus::not_mapped, kBase + std::max<std::uint64_t>(rva, image.size()), 0};
    }
    std::memcpy(out.data(), image.data() + rva, out.size());
    return {};
  };
}

// The error a read of `image` gives, or "" when it reads fine (headers, exports, CodeView).
std::string error_of(const std::vector<std::byte>& image) {
  try {
    auto img = pe::PeImage::read(buffer_reader(image), kBase, "kernel image");
    img.read_exports();
    img.read_codeview();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PeImage, ReadsHeadersSectionsOfPe32Plus) {
  auto image = build_pe(kernel_like_spec());
  auto img = pe::PeImage::read(buffer_reader(image), kBase);
  EXPECT_TRUE(img.pe32_plus());
  EXPECT_EQ(img.machine(), 0x8664);
  EXPECT_EQ(img.size_of_image(), 0x9000u);
  EXPECT_EQ(img.time_date_stamp(), 0x0D8333E6u);
  EXPECT_EQ(img.checksum(), 0x00A5938Cu);
  EXPECT_EQ(img.entry_point_rva(), 0x1010u);
  EXPECT_EQ(img.preferred_image_base(), 0x140000000u);
  EXPECT_EQ(img.e_lfanew(), 0x108u);
  ASSERT_EQ(img.sections().size(), 6u);
  EXPECT_EQ(img.sections()[1].name, "POOLCODE");
  EXPECT_EQ(img.sections()[1].rva, 0x3000u);
  EXPECT_EQ(img.sections()[1].virtual_size, 0x1000u);
  EXPECT_EQ(img.sections()[1].characteristics, 0x60000020u);
  ASSERT_NE(img.find_section("ALMOSTRO"), nullptr);
  EXPECT_EQ(img.find_section("ALMOSTRO")->rva, 0x7000u);
  EXPECT_TRUE(img.find_section("ALMOSTRO")->contains(0x7FFF));
  EXPECT_FALSE(img.find_section("ALMOSTRO")->contains(0x8000));
  EXPECT_EQ(img.find_section("PAGE"), nullptr);
  EXPECT_EQ(img.image_key(), "0D8333E69000");
}

TEST(PeImage, ReadsExportsSortedWithDllName) {
  auto image = build_pe(kernel_like_spec());
  auto img = pe::PeImage::read(buffer_reader(image), kBase);
  auto ex = img.read_exports();
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->dll_name, "ntoskrnl.exe");
  ASSERT_EQ(ex->exports.size(), 3u);
  EXPECT_EQ(ex->exports[0].name, "KeBugCheckEx");  // the name table is sorted
  EXPECT_EQ(ex->exports[0].rva, 0x1200u);
  EXPECT_EQ(ex->exports[0].ordinal, 1u);
  EXPECT_FALSE(ex->exports[0].forwarder);
  EXPECT_EQ(ex->find("PsLoadedModuleList"), 0x6100u);
  EXPECT_EQ(ex->find("NtBuildNumber"), 0x6008u);
  EXPECT_EQ(ex->find("KdDebuggerDataBlock"), std::nullopt);
}

TEST(PeImage, ReadsCodeViewIdentityInSymbolStoreOrder) {
  auto image = build_pe(kernel_like_spec());
  auto img = pe::PeImage::read(buffer_reader(image), kBase);
  auto cv = img.read_codeview();
  ASSERT_TRUE(cv);
  EXPECT_EQ(cv->pdb_name, "ntkrnlmp.pdb");
  EXPECT_EQ(cv->guid_string(), "123456789ABCDEF00102030405060708");
  EXPECT_EQ(cv->age, 0x2Au);
  EXPECT_EQ(cv->symbol_key(), "123456789ABCDEF001020304050607082A");
  EXPECT_EQ(cv->symbol_path(), "ntkrnlmp.pdb/123456789ABCDEF001020304050607082A/ntkrnlmp.pdb");
}

TEST(PeImage, PdbPathKeepsOnlyTheFileNameInTheSymbolPath) {
  auto spec = kernel_like_spec();
  spec.codeview->pdb_name = "d:\\os\\obj\\amd64fre\\ntkrnlmp.pdb";
  auto image = build_pe(spec);
  auto cv = pe::PeImage::read(buffer_reader(image), kBase).read_codeview();
  ASSERT_TRUE(cv);
  EXPECT_EQ(cv->pdb_file_name(), "ntkrnlmp.pdb");
  EXPECT_EQ(cv->symbol_path(), "ntkrnlmp.pdb/123456789ABCDEF001020304050607082A/ntkrnlmp.pdb");
}

TEST(PeImage, ReadsPe32) {
  auto spec = kernel_like_spec(false);
  spec.dll_name = "ntkrnlpa.exe";
  spec.codeview->pdb_name = "ntkrpamp.pdb";
  auto image = build_pe(spec);
  auto img = pe::PeImage::read(buffer_reader(image), 0x82a4d000);
  EXPECT_FALSE(img.pe32_plus());
  EXPECT_EQ(img.machine(), 0x14C);
  EXPECT_EQ(img.preferred_image_base(), 0x400000u);
  EXPECT_EQ(img.size_of_image(), 0x9000u);
  EXPECT_EQ(img.read_exports()->dll_name, "ntkrnlpa.exe");
  EXPECT_EQ(img.read_codeview()->pdb_name, "ntkrpamp.pdb");
}

TEST(PeImage, NoDirectoriesGiveNothingNotErrors) {
  auto spec = kernel_like_spec();
  spec.export_rva = 0;
  spec.debug_rva = 0;
  auto image = build_pe(spec);
  auto img = pe::PeImage::read(buffer_reader(image), kBase);
  EXPECT_EQ(img.read_exports(), std::nullopt);
  EXPECT_EQ(img.read_codeview(), std::nullopt);
}

TEST(PeImageJunk, NoMzSignature) {
  std::vector<std::byte> image(0x2000);
  image[0] = std::byte{'Z'};
  image[1] = std::byte{'M'};
  auto err = error_of(image);
  EXPECT_NE(err.find("kernel image at 0xfffff80412340000: no \"MZ\" signature (found 0x4d5a)"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, MzWithoutPe) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint32_t>(image, 0x108, 0x00004E45);  // "EN\0\0"
  auto err = error_of(image);
  EXPECT_NE(err.find("no \"PE\\0\\0\" signature at e_lfanew 0x108 (found 0x00004e45)"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, ELfanewOutOfBounds) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint32_t>(image, 0x3C, 0x7FFFFFF0);
  auto err = error_of(image);
  EXPECT_NE(err.find("e_lfanew 0x7ffffff0 (DOS header +0x3c) is not a 4-aligned offset in "
                     "[0x4, 0xfe8]"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, TruncatedHeadersNameTheFieldAndAddress) {
  auto image = build_pe(kernel_like_spec());
  image.resize(0x130);  // the optional header is cut
  auto err = error_of(image);
  EXPECT_NE(err.find("cannot read optional header (rva 0x120, 0x70 bytes)"), std::string::npos)
      << err;
  EXPECT_NE(err.find(": image address 0xfffff80412340130 is not mapped"), std::string::npos) << err;
}

TEST(PeImageJunk, TruncatedSectionTable) {
  auto image = build_pe(kernel_like_spec());
  image.resize(0x108 + 0x18 + 0xF0 + 0x28 * 2);  // two of six section headers present
  auto err = error_of(image);
  EXPECT_NE(err.find("cannot read section table"), std::string::npos) << err;
}

TEST(PeImageJunk, BadOptionalHeaderMagic) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint16_t>(image, 0x108 + 0x18, 0x107);
  auto err = error_of(image);
  EXPECT_NE(err.find("optional header magic 0x107 at 0x120 is neither PE32 (0x10b) nor PE32+"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, TooManySections) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint16_t>(image, 0x108 + 4 + 2, 97);
  auto err = error_of(image);
  EXPECT_NE(err.find("NumberOfSections 97 is not in [1, 96]"), std::string::npos) << err;
}

TEST(PeImageJunk, SectionBeyondImage) {
  auto spec = kernel_like_spec();
  spec.sections[5].virtual_size = 0x2000;  // INIT runs to 0xA000 > SizeOfImage 0x9000
  auto err = error_of(build_pe(spec));
  EXPECT_NE(err.find("section 5 \"INIT\" [rva 0x8000, +0x2000) extends beyond SizeOfImage 0x9000"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, ExportDirectoryOutsideTheImage) {
  auto image = build_pe(kernel_like_spec());
  // DataDirectory[0] of the PE32+ optional header: e_lfanew + 0x18 + 0x70.
  store<std::uint32_t>(image, 0x108 + 0x18 + 0x70, 0x8FF0);
  auto err = error_of(image);
  EXPECT_NE(err.find("export directory [rva 0x8ff0, +0x"), std::string::npos) << err;
  EXPECT_NE(err.find("is not inside the image (SizeOfImage 0x9000)"), std::string::npos) << err;
}

TEST(PeImageJunk, ExportNameTableOutsideTheImage) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint32_t>(image, 0x4800 + 0x20, 0x8FFC);  // AddressOfNames: 3 entries from 0x8ffc
  auto err = error_of(image);
  EXPECT_NE(err.find("export directory AddressOfNames (rva 0x8ffc, 3 entries of 4 bytes) lies "
                     "outside the image"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, ExportCountsBoundedBeforeAnyAllocation) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint32_t>(image, 0x4800 + 0x14, 0xFFFFFFFF);  // NumberOfFunctions
  store<std::uint32_t>(image, 0x4800 + 0x18, 0xFFFFFFFF);  // NumberOfNames
  auto err = error_of(image);
  EXPECT_NE(err.find("export directory NumberOfNames 4294967295 exceeds 65536"), std::string::npos)
      << err;
}

TEST(PeImageJunk, ExportOrdinalBeyondFunctions) {
  auto image = build_pe(kernel_like_spec());
  std::uint32_t ordinals = load<std::uint32_t>(image, 0x4800 + 0x24);
  store<std::uint16_t>(image, ordinals + 2, 7);
  auto err = error_of(image);
  EXPECT_NE(err.find("export name 1 has ordinal index 7 beyond NumberOfFunctions 3"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, UnterminatedDllNameRunsPastTheImage) {
  auto spec = kernel_like_spec();
  spec.size_of_image = 0x9000;
  auto image = build_pe(spec);
  store<std::uint32_t>(image, 0x4800 + 0x0C, 0x8FF8);  // Name: 8 bytes before the end
  std::memset(image.data() + 0x8FF8, 'A', 8);
  auto err = error_of(image);
  EXPECT_NE(err.find("export DLL name at rva 0x8ff8 runs past the end of the image"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, AbsentPageInTheExportTablesIsNamed) {
  auto image = build_pe(kernel_like_spec());
  auto reader = buffer_reader(image);
  pe::RvaReader holey = [&](std::uint32_t rva, std::span<std::byte> out) -> ReadResult {
    if (rva >= 0x4840 && rva < 0x6000) {
      return {ReadStatus::not_present, kBase + rva, 0};  // names and strings are not in the image
    }
    return reader(rva, out);
  };
  auto img = pe::PeImage::read(holey, kBase, "kernel image");
  try {
    img.read_exports();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_present);
    EXPECT_NE(std::string(e.what()).find("cannot read export DLL name"), std::string::npos)
        << e.what();
  }
}

TEST(PeImageJunk, CodeViewRecordOutsideTheImage) {
  auto image = build_pe(kernel_like_spec());
  store<std::uint32_t>(image, 0x4100 + 0x14, 0x8FF0);  // AddressOfRawData
  auto err = error_of(image);
  EXPECT_NE(err.find("CodeView record [rva 0x8ff0, +0x25) is not inside the image"),
            std::string::npos)
      << err;
}

TEST(PeImageJunk, VirtualMemoryHoleAtTheBase) {
  struct Empty : VirtualMemory {
    ReadResult read_virtual(std::uint64_t va, std::span<std::byte>) const override {
      return {ReadStatus::not_mapped, va, 0};
    }
  } vm;
  try {
    pe::PeImage::read(vm, kBase);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_present);
    EXPECT_NE(std::string(e.what()).find("PE image at 0xfffff80412340000: cannot read DOS header "
                                         "(rva 0x0, 0x40 bytes): virtual address "
                                         "0xfffff80412340000 is not mapped"),
              std::string::npos)
        << e.what();
  }
}

TEST(PeImageJunk, ReadIfPresentReportsAnAbsentImageWithoutThrowingAndThrowsForJunk) {
  struct Empty : VirtualMemory {
    ReadResult read_virtual(std::uint64_t va, std::span<std::byte>) const override {
      return {ReadStatus::not_mapped, va, 0};
    }
  } empty;
  std::string why;
  EXPECT_FALSE(pe::PeImage::read_if_present(empty, kBase, "image", why));
  EXPECT_EQ(why,
            "image at 0xfffff80412340000: cannot read DOS header (rva 0x0, 0x40 bytes): virtual "
            "address 0xfffff80412340000 is not mapped");
  // A readable page that is not an image is junk, not absence: the error read() throws.
  struct Zeros : VirtualMemory {
    ReadResult read_virtual(std::uint64_t, std::span<std::byte> out) const override {
      std::fill(out.begin(), out.end(), std::byte{0});
      return {};
    }
  } zeros;
  why.clear();
  try {
    (void)pe::PeImage::read_if_present(zeros, kBase, "image", why);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "image at 0xfffff80412340000: no \"MZ\" signature (found 0x0000)");
  }
  EXPECT_EQ(why, "");
}

// A real driver from the samples' symbol store: the file layout mapped by sections, then read
// as an image. Its image key and PDB key must match the store's own folder names.
TEST(PeImageSample, RealDriverKeysMatchTheSymbolStore) {
  PAGEDUMP_REQUIRE_SAMPLE(path, "symbols/amdppm.sys/c9c030003b000/amdppm.sys");
  const auto root = samples_dir() / "symbols";
  InputFile f(path.string());
  // Section table from the file, to map RVAs to file offsets as the loader would.
  auto lfanew = f.read_struct<std::uint32_t>(0x3C, "e_lfanew");
  auto fh = f.read_struct<format::ImageFileHeader>(lfanew + 4, "file header");
  std::vector<format::ImageSectionHeader> sections(fh.NumberOfSections);
  f.read_exact(lfanew + 4 + sizeof(fh) + fh.SizeOfOptionalHeader,
               std::as_writable_bytes(std::span(sections)), "section table");
  pe::RvaReader reader = [&](std::uint32_t rva, std::span<std::byte> out) -> ReadResult {
    std::uint64_t off = rva;  // headers: RVA = file offset
    for (const auto& s : sections) {
      if (rva >= s.VirtualAddress &&
          rva < s.VirtualAddress + std::max(s.VirtualSize, s.SizeOfRawData)) {
        off = s.PointerToRawData + (rva - s.VirtualAddress);
      }
    }
    std::memset(out.data(), 0, out.size());
    f.read_at(off, out);
    return {};
  };
  auto img = pe::PeImage::read(reader, 0xfffff80480000000ull, "amdppm.sys");
  EXPECT_EQ(img.machine(), 0x8664);
  EXPECT_TRUE(img.pe32_plus());
  // The store files images under TIMESTAMP%08X SIZE%X; this store uses lower case.
  std::string key = img.image_key();
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(key, "c9c030003b000");
  auto cv = img.read_codeview();
  ASSERT_TRUE(cv);
  EXPECT_EQ(cv->pdb_file_name(), "amdppm.pdb");
  EXPECT_EQ(cv->symbol_key(), "1C19FDDB27BB3399D9B45973EFEAFCF31");
  EXPECT_TRUE(std::filesystem::exists(root / "amdppm.pdb" / cv->symbol_key() / "amdppm.pdb"));
}

// Corrupting any bytes of the headers and directories gives a pagedump::Error or a parse,
// never a crash, another exception type, or an unbounded allocation (run under ASan in CI).
TEST(PeImageJunk, RandomCorruptionsNeverCrash) {
  const auto pristine = build_pe(kernel_like_spec());
  std::mt19937 rng(20261121);
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    auto image = pristine;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) {
      // Mostly the header page and the directories, sometimes anywhere.
      std::size_t at = (rng() % 4) ? (rng() % 0x400) : (0x4000 + rng() % 0x1000);
      image[at] = static_cast<std::byte>(rng());
    }
    try {
      auto img = pe::PeImage::read(buffer_reader(image), kBase);
      img.read_exports();
      img.read_codeview();
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 100);  // the corruptions do reach the checks
}
