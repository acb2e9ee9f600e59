# Project-wide compile flags: strict warnings everywhere, sanitizers on request.
add_library(pagedump_flags INTERFACE)
target_compile_options(pagedump_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(PAGEDUMP_WERROR)
  target_compile_options(pagedump_flags INTERFACE -Werror)
endif()
if(PAGEDUMP_SANITIZE)
  target_compile_options(pagedump_flags INTERFACE -fsanitize=address,undefined
                         -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(pagedump_flags INTERFACE -fsanitize=address,undefined)
endif()
