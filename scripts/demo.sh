#!/usr/bin/env bash
# Builds pagedump and runs its main job with nothing to provide (the README's first command):
# `pagedump demo` builds a synthetic Windows 10 x64 memory image, runs the Crashdump Support
# Test's cycle on it (write each dump type with bugcheck 0xE2, verify it) and says where the
# dumps are and how to open them in WinDbg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tools/pagedump/pagedump demo --out-dir build/demo
