#!/usr/bin/env bash
# Whole-command measurements against the machine's own copy speed (issue: conversion at disk
# speed). Builds images of the given sizes in GiB (default: 1 4), then prints, as ratios or
# bounds with the machine and the date:
#   - convert --type full vs cp of the same image (sparse and dense), medians of alternating runs;
#   - peak memory (max RSS) of convert and inspect per size;
#   - convert --type bitmap of a half-zero image vs cp, and the output size;
#   - inspect of the largest image: wall time and bytes read;
#   - a sequential read of a complete dump vs cat.
# Usage: scripts/bench.sh [SIZE_GIB...]   (BENCH_DIR=... to choose where images go; RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build >/dev/null
sizes=("$@")
((${#sizes[@]})) || sizes=(1 4)
runs=${RUNS:-3}
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/pagedump-bench-XXXXXX)}
mkdir -p "$dir"
pd=./build/tools/pagedump/pagedump
mk=./build/bench/make_bench_image

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN {printf "%.3f", b - a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxrss_mib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'; }

echo "# pagedump whole-command benchmark"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; date: $(date -u +%Y-%m-%d)"
echo "folder: $dir ($(df -h "$dir" | awk 'NR==2 {print $1}'))"
echo
echo "| image | cp (s) | convert full (s) | ratio | convert max RSS (MiB) | inspect max RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
  for kind in sparse dense; do
    img="$dir/img-$size-$kind.raw"
    [ -f "$img" ] || "$mk" "$img" "$size" "$kind"
    cps=(); cvs=()
    for ((i = 0; i < runs; i++)); do
      sync; cps+=("$(secs cp "$img" "$dir/copy.raw")"); rm -f "$dir/copy.raw"
      sync; cvs+=("$(secs "$pd" convert "$img" --memory-map "$img.map" -o "$dir/out.dmp" --force --quiet)"); rm -f "$dir/out.dmp"
    done
    cp_m=$(median "${cps[@]}"); cv_m=$(median "${cvs[@]}")
    rss_c=$(maxrss_mib "$pd" convert "$img" --memory-map "$img.map" -o "$dir/out.dmp" --force --quiet); rm -f "$dir/out.dmp"
    rss_i=$(maxrss_mib "$pd" inspect "$img" --memory-map "$img.map")
    printf '| %s GiB %s | %s | %s | %s | %s | %s |\n' "$size" "$kind" "$cp_m" "$cv_m" \
      "$(div "$cv_m" "$cp_m")" "$rss_c" "$rss_i"
  done
done
echo
big=${sizes[-1]}
img="$dir/img-$big-half.raw"
[ -f "$img" ] || "$mk" "$img" "$big" half-zero
cp_t=$(secs cp "$img" "$dir/copy.raw"); rm -f "$dir/copy.raw"
bm_t=$(secs "$pd" convert "$img" --memory-map "$img.map" -o "$dir/bitmap.dmp" --type bitmap --force --quiet)
echo "convert --type bitmap of a $big GiB half-zero image: $bm_t s vs cp $cp_t s (ratio $(div "$bm_t" "$cp_t")); output $(div "$(stat -c %s "$dir/bitmap.dmp")" "$(du -B1 "$img" | cut -f1)") of the image's allocated bytes"
rm -f "$dir/bitmap.dmp"
sparse="$dir/img-$big-sparse.raw"
in_t=$(secs "$pd" inspect "$sparse" --memory-map "$sparse.map")
read_b=$("$pd" inspect --json --verbose "$sparse" --memory-map "$sparse.map" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_read"])')
echo "inspect of the $big GiB sparse image: $in_t s, $read_b bytes read"
dense="$dir/img-$big-dense.raw"
"$pd" convert "$dense" --memory-map "$dense.map" -o "$dir/full.dmp" --force --quiet
cat_t=$(secs sh -c "cat '$dir/full.dmp' > /dev/null")
read -r r_start r_end < <(sed -n 2p "$dense.map")
rd_t=$(secs sh -c "'$pd' read '$dir/full.dmp' --pa $r_start --length $((r_end - r_start)) --raw > /dev/null")
echo "sequential read of the $big GiB complete dump (page cache warm): pagedump read $rd_t s, cat $cat_t s (ratio $(div "$cat_t" "$rd_t") of cat's speed)"
rm -f "$dir/full.dmp"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$dir"
