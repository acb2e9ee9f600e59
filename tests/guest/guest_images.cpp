#include "guest_images.h"

#include "image_writers.h"

namespace pagedump::test {

namespace {

images::Image as_image(const synth::Guest& guest) {
  images::Image image;
  for (const auto& r : guest.ranges()) {
    image.ranges.push_back({r.base, r.size, [&guest](std::uint64_t pa, std::span<std::byte> out) {
                              guest.read_physical(pa, out);
                            }});
  }
  image.cpus.assign(guest.cpus().begin(), guest.cpus().end());
  return image;
}

}  // namespace

std::string to_string(GuestImageFormat format) {
  switch (format) {
    case GuestImageFormat::raw: return "raw";
    case GuestImageFormat::elf_qemu: return "elf-qemu";
    case GuestImageFormat::lime: return "lime";
    case GuestImageFormat::elf_vbox: return "elf-vbox";
    case GuestImageFormat::vmware: return "vmware";
  }
  return "?";
}

std::filesystem::path write_guest_image(const synth::Guest& guest, GuestImageFormat format,
                                        const std::filesystem::path& path) {
  const auto image = as_image(guest);
  switch (format) {
    case GuestImageFormat::raw: {
      auto map = path;
      map += ".map";
      images::write_raw(path, image);
      images::write_memory_map(map, image);
      return path;
    }
    case GuestImageFormat::elf_qemu: images::write_elf_qemu(path, image); return path;
    case GuestImageFormat::lime: images::write_lime(path, image); return path;
    case GuestImageFormat::elf_vbox: images::write_elf_vbox(path, image); return path;
    case GuestImageFormat::vmware: {
      auto vmem = path;
      vmem.replace_extension(".vmem");
      auto vmss = path;
      vmss.replace_extension(".vmss");
      images::write_vmware(vmem, vmss, image);
      return vmem;
    }
  }
  return path;
}

}  // namespace pagedump::test
