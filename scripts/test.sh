#!/usr/bin/env bash
# Builds everything and runs all tests (the README's second command).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
cd build && ctest --output-on-failure -j"$(nproc)"
