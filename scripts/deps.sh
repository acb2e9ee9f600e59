#!/usr/bin/env bash
# Installs the Debian packages pagedump needs, only those missing. Sourced by the other scripts.
set -euo pipefail
PAGEDUMP_PACKAGES=(
  cmake ninja-build g++ clang-14 libclang-rt-14-dev lld
  libcli11-dev libfmt-dev nlohmann-json3-dev libzydis-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  qemu-system-x86   # real QEMU captures in the image-source tests
)
# Callers add their own (scripts/bench.sh: time, strace, procps).
read -r -a extra <<<"${PAGEDUMP_EXTRA_PACKAGES:-}"
PAGEDUMP_PACKAGES+=("${extra[@]}")
missing=()
for p in "${PAGEDUMP_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "pagedump: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
