# Project-wide compile flags: strict warnings everywhere, sanitizers on request.
add_library(pagedump_flags INTERFACE)
target_compile_options(pagedump_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(PAGEDUMP_WERROR)
  target_compile_options(pagedump_flags INTERFACE -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 at -O3 (the Release build) reports "literal" + std::string as overlapping memcpy,
  # inside libstdc++ (GCC bug 105329): a false -Wrestrict that -Werror would make
  # a failed build.
  target_compile_options(pagedump_flags INTERFACE -Wno-restrict)
endif()
if(PAGEDUMP_SANITIZE)
  target_compile_options(pagedump_flags INTERFACE -fsanitize=address,undefined
                         -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(pagedump_flags INTERFACE -fsanitize=address,undefined)
endif()
if(PAGEDUMP_FUZZ)
  # Coverage instrumentation for libFuzzer in every object, ASan + UBSan aborting on the first
  # report; the fuzz targets themselves add -fsanitize=fuzzer at link time.
  target_compile_options(pagedump_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                         -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(pagedump_flags INTERFACE -fsanitize=address,undefined)
endif()
