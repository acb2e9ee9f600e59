#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, on the seed
# corpora (regenerated from the builders of tests/, plus ../shared/samples when present).
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# Corpora grow in BUILD_DIR/fuzz-corpus/<target>; crashes land in BUILD_DIR/fuzz-artifacts/.
# Exit status: non-zero as soon as a target finds a crash, leak, timeout or OOM.
set -euo pipefail
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_dump_file fuzz_triage fuzz_elf fuzz_lime fuzz_vmware fuzz_pe fuzz_kdbg fuzz_symbols)
fi
here=$(cd "$(dirname "$0")" && pwd)
samples="$here/../../shared/samples"
seeds="$build/fuzz-seeds-$$"
rm -rf "$seeds"
"$build/fuzz/pagedump-fuzz-seeds" "$seeds" 2>/dev/null
# The real samples are copied at run time, never committed. Only their first 256 KiB: the
# headers and the sections the parsers look at (the targets' -max_len is below that anyway).
if [ -d "$samples" ]; then
  for f in "$samples"/*.dmp; do
    [ -f "$f" ] || continue
    head -c 262144 "$f" > "$seeds/dump/sample-$(basename "$f")"
    { printf '\0'; head -c 262144 "$f"; } > "$seeds/triage/sample-$(basename "$f")"
  done
  # The symbol store's PDB and images whole (the largest is 808 KiB, under -max_len).
  if [ -d "$samples/symbols" ]; then
    find "$samples/symbols" -type f -size -1000k | while read -r f; do
      cp "$f" "$seeds/symbols/sample-$(basename "$f")"
    done
  fi
fi
mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
  corpus_name=${t#fuzz_}
  [ "$corpus_name" = dump_file ] && corpus_name=dump
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "== $t: ${seconds}s =="
  log="$build/fuzz-artifacts/$t.log"
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/$t" "$corpus" "$seeds/$corpus_name" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=1100000 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" -print_final_stats=1 > "$log" 2>&1; then
    tail -n 60 "$log"
    echo "$t: FAILED (log $log, inputs in $build/fuzz-artifacts)"
    exit 1
  fi
  grep -E '^#[0-9]+.*(DONE|pulse)|stat::' "$log" | tail -n 8
done
rm -rf "$seeds"
