#!/usr/bin/env bash
# Builds pagedump and runs its main job on a bundled default (the README's first command):
# writes a small synthetic x64 complete memory dump and shows what `pagedump info` reads in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
mkdir -p build/demo
./build/tests/builders/dump/pagedump-fixture build/demo/fixture.dmp
./build/tools/pagedump/pagedump info build/demo/fixture.dmp
echo
echo "First bytes of physical page 0x100 (pagedump read build/demo/fixture.dmp --pa 0x100000 --length 0x40):"
./build/tools/pagedump/pagedump read build/demo/fixture.dmp --pa 0x100000 --length 0x40
