#!/usr/bin/env bash
# Whole-command measurements against the machine's own copy speed, and the micro-benchmarks
# (issue: conversion at disk speed with flat memory). Builds synthetic Windows guest images of
# the given sizes in GiB (default: 1 4 16) and prints, with the machine and the date, each
# target as a ratio or a bound (docs/performance.md has the table and what each line means):
#   - convert --type full vs cp followed by sync of the copy (convert's output is on disk when
#     it returns), and convert --no-sync vs cp (both leave it to the page cache), sparse and
#     dense, medians of alternating runs;
#   - peak memory (max RSS) of convert, inspect and verify per size;
#   - convert --type bitmap of half-zero images (every byte written; unused areas as holes) vs
#     cp, and the output's size;
#   - convert --type small and inspect of the largest image: wall time and bytes read;
#   - convert --type kernel of the largest image: bytes read vs bytes written;
#   - the reader: a sequential read of a complete dump vs cat, and random 4 KiB virtual reads
#     (bench/random_reads; OTHER_READER="CMD" replays the same VA list with another reader,
#     invoked as `CMD DUMP LIST`), many reads a page and first reads, with pread and through
#     a mapping of the dump (random_reads --map).
# Usage: scripts/bench.sh [--smoke] [SIZE_GIB...]
#   --smoke: a 1 GiB sparse and a 1 GiB dense image, one run each, micro-benchmarks briefly: it
#   checks that every measurement runs (CI does this); its figures are not the record.
#   BENCH_DIR=... chooses where images go (kept when given); RUNS=3 runs per median.
# A command that fails, or too little free disk for the next output, ends the run with the
# command's message: no figure is ever printed for a command that did not succeed.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
# /usr/bin/time for peak memory, strace for bytes read, procps for free.
PAGEDUMP_EXTRA_PACKAGES="time strace procps" bash scripts/build.sh build >/dev/null
sizes=("$@")
((${#sizes[@]})) || { if ((smoke)); then sizes=(1); else sizes=(1 4 16); fi; }
runs=${RUNS:-3}
((smoke)) && runs=1
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/pagedump-bench-XXXXXX)}
mkdir -p "$dir"
pd=./build/tools/pagedump/pagedump
mk=./build/bench/make_bench_image
rr=./build/bench/random_reads
cleanup() {
  rm -f "$dir"/copy.raw "$dir"/*.dmp "$dir"/cmd.err "$dir"/time.out "$dir"/strace.log "$dir"/vas.txt
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

# A command that fails is not a measurement: every helper below that runs one ends the whole
# run with the command's own message instead of recording its time, memory or reads.
fail_run() { echo "bench.sh: '$1' failed:" >&2; cat "$dir/cmd.err" >&2; exit 1; }
run_ok() { "$@" >/dev/null 2>"$dir/cmd.err" || fail_run "$*"; }
# timed ARRAY CMD...: runs CMD and appends its wall time in seconds to ARRAY. The clock is
# bash's own $EPOCHREALTIME: `date` before and after, two more processes, added some 9 ms to
# every figure on a machine where a process costs 2 ms to start, which hid half of the
# difference between a small command and cp.
timed() {
  local -n into_=$1; shift
  local s e; s=${EPOCHREALTIME/,/.}; run_ok "$@"; e=${EPOCHREALTIME/,/.}
  # Tenths of a millisecond: a sparse conversion takes a few milliseconds, and ratios of
  # whole milliseconds (0.008 against 0.011) moved by a tenth with one digit.
  into_+=("$(awk -v a="$s" -v b="$e" 'BEGIN {printf "%.4f", b - a}')")
}
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "-"; else printf "%.2f", a / b}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# CMD's peak memory in MiB (call as x=$(maxrss_mib CMD...) || exit 1).
maxrss_mib() {
  /usr/bin/time -o "$dir/time.out" -f %M "$@" >/dev/null 2>"$dir/cmd.err" || fail_run "$*"
  awk '{printf "%.1f", $1/1024}' "$dir/time.out"
}
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
# The bytes CMD reads from files (read + pread64 return values), "-" without strace (call as
# x=$(bytes_read CMD...) || exit 1).
bytes_read() {
  command -v strace >/dev/null || { echo "-"; return; }
  local log="$dir/strace.log"
  strace -f -qq -e trace=read,pread64 -o "$log" "$@" >/dev/null 2>"$dir/cmd.err" || fail_run "$*"
  awk '/= [0-9]+$/ {s += $NF} END {printf "%d", s}' "$log"
  rm -f "$log"
}
# need_space BYTES WHAT: ends the run before a conversion could meet a full disk.
need_space() {
  local avail; avail=$(df -B1 --output=avail "$dir" | tail -1)
  if ((avail < $1)); then
    echo "bench.sh: $2 needs $(mib "$1") MiB free in $dir; $(mib "$avail") MiB are" >&2
    exit 1
  fi
}
on_disk() { du -B1 "$1" | cut -f1; }
image() {  # image SIZE KIND -> path (built once)
  local img="$dir/img-$1-$2.raw"
  [ -f "$img" ] || "$mk" "$img" "$1" "$2"
  echo "$img"
}
convert() { "$pd" convert "$1" --memory-map "$1.map" -o "$2" --force --quiet "${@:3}"; }

echo "# pagedump benchmark$( ((smoke)) && echo ' (smoke run: figures not for the record)')"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r); date: $(date -u +%Y-%m-%d)"
echo "folder: $dir ($(df -T "$dir" | awk 'NR==2 {print $1 ", " $2}')); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
# The tool's start-up depends on its link placing the everyday functions first
# (tools/pagedump/hot_functions.txt): a list that no longer matches the code, or a link without
# lld, shows here before it shows in the sparse conversions.
hot=tools/pagedump/hot_functions.txt
listed=$(grep -vc '^#' "$hot")
present=$(nm --defined-only "$pd" | awk '{print $3}' | sort -u | grep -cxF -f <(grep -v '^#' "$hot") || true)
echo "tool: linked by $(readelf -p .comment "$pd" | sed -n 's/.*Linker: \(.*\)/\1/p' | head -1 | grep . || echo 'GNU ld'); $present of the $listed functions of $hot are in it"
echo
echo "## Micro-benchmarks (bench/micro_benchmarks.cpp)"
echo '```'
./build/bench/pagedump_bench --benchmark_min_time="$( ((smoke)) && echo 0.01 || echo 0.5)" 2>/dev/null \
  | sed -n '/^Benchmark/,$p'
echo '```'
echo
echo "## convert --type full vs cp (medians of $runs alternating runs; the cache is written back before each)"
echo
echo "| image | cp (s) | convert --no-sync (s) | ratio | cp + sync (s) | convert (s) | ratio | max RSS convert / inspect / verify (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
kinds=(sparse dense)
for size in "${sizes[@]}"; do
  for kind in "${kinds[@]}"; do
    img=$(image "$size" "$kind")
    need_space "$(on_disk "$img")" "copying the $size GiB $kind image"
    cps=(); css=(); cvs=(); cns=()
    for ((i = 0; i < runs; i++)); do
      sync; timed cps cp "$img" "$dir/copy.raw"; rm -f "$dir/copy.raw"
      sync; timed css sh -c "cp '$img' '$dir/copy.raw' && sync '$dir/copy.raw'"; rm -f "$dir/copy.raw"
      # A new file each time, as cp's: replacing one costs ext4 a flush at the rename.
      sync; timed cns convert "$img" "$dir/out.dmp" --no-sync; rm -f "$dir/out.dmp"
      sync; timed cvs convert "$img" "$dir/out.dmp"
      ((i + 1 < runs)) && rm -f "$dir/out.dmp"
    done
    cp_m=$(median "${cps[@]}"); cs_m=$(median "${css[@]}"); cv_m=$(median "${cvs[@]}")
    cn_m=$(median "${cns[@]}")
    rss_v=$(maxrss_mib "$pd" verify "$dir/out.dmp") || exit 1; rm -f "$dir/out.dmp"
    rss_c=$(maxrss_mib "$pd" convert "$img" --memory-map "$img.map" -o "$dir/out.dmp" --quiet) ||
      exit 1
    rm -f "$dir/out.dmp"
    rss_i=$(maxrss_mib "$pd" inspect "$img" --memory-map "$img.map") || exit 1
    printf '| %s GiB %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n' "$size" "$kind" \
      "$cp_m" "$cn_m" "$(div "$cn_m" "$cp_m")" "$cs_m" "$cv_m" "$(div "$cv_m" "$cs_m")" \
      "$rss_c" "$rss_i" "$rss_v"
  done
done
echo
big=${sizes[-1]}
echo "## The ${big} GiB images"
echo
# Half the RAM zero pages: once with every byte of the file written (as a capture tool writes
# memory: cp then copies it all), once with the guest's unused areas and the gap left as file
# holes (cp then switches to its sparse mode and skips zero blocks as well).
for hz in half-zero half-zero-holes; do
  img=$(image "$big" "$hz")
  # The complete dump of the same image too: "sparse" read as RAM mostly unused (zero pages
  # the capture wrote out), where the sparse rows above read it as a sparse file.
  # One output at a time, sized before it goes: the copy, the bitmap and the complete dump
  # of a 16 GiB image would not fit a disk together with the images.
  need_space "$(on_disk "$img")" "copying the $hz image"
  cps=(); bms=(); fus=()
  for ((i = 0; i < runs; i++)); do
    sync; timed cps cp "$img" "$dir/copy.raw"
    cp_disk=$(on_disk "$dir/copy.raw"); rm -f "$dir/copy.raw"
    sync; timed bms convert "$img" "$dir/bitmap.dmp" --type bitmap --no-sync
    bm_size=$(stat -c %s "$dir/bitmap.dmp"); bm_disk=$(on_disk "$dir/bitmap.dmp")
    rm -f "$dir/bitmap.dmp"
    sync; timed fus convert "$img" "$dir/full.dmp" --no-sync; rm -f "$dir/full.dmp"
  done
  cp_t=$(median "${cps[@]}"); bm_t=$(median "${bms[@]}"); fu_t=$(median "${fus[@]}")
  data=0; while read -r a b; do data=$((data + b - a)); done < "$img.map"
  echo "- convert --type bitmap --no-sync of the $hz image, medians of $runs: $bm_t s vs cp $cp_t s (ratio $(div "$bm_t" "$cp_t")); output $(div "$bm_size" "$data") of the image's RAM, $(mib "$bm_disk") MiB on disk; cp's copy $(mib "$cp_disk") MiB on disk"
  echo "  - convert --type full --no-sync of it: $fu_t s (ratio to cp $(div "$fu_t" "$cp_t"))"
  [ -n "${BENCH_DIR:-}" ] || rm -f "$img" "$img.map"  # 16 GiB images fill a disk fast
done
sparse=$(image "$big" sparse)
in_t=(); timed in_t "$pd" inspect "$sparse" --memory-map "$sparse.map"
in_b=$(bytes_read "$pd" inspect "$sparse" --memory-map "$sparse.map") || exit 1
sm_t=(); timed sm_t convert "$sparse" "$dir/small.dmp" --type small
sm_b=$(bytes_read "$pd" convert "$sparse" --memory-map "$sparse.map" -o "$dir/small.dmp" \
  --type small --force --quiet) || exit 1
rm -f "$dir/small.dmp"
echo "- inspect: ${in_t[0]} s, $(mib "$in_b") MiB read; convert --type small: ${sm_t[0]} s, $(mib "$sm_b") MiB read (image: $big GiB)"
dense=$(image "$big" dense)
ke_b=$(bytes_read "$pd" convert "$dense" --memory-map "$dense.map" -o "$dir/kernel.dmp" \
  --type kernel --force --quiet) || exit 1
ke_pages=$("$pd" info --json "$dir/kernel.dmp" | grep -o '"present_pages": *[0-9]*' | grep -o '[0-9]*$')
echo "- convert --type kernel of the dense image: $(mib "$ke_b") MiB read for $ke_pages pages written ($(mib $((ke_pages * 4096))) MiB): $(div "$ke_b" $((ke_pages * 4096))) x what it writes"
need_space "$(on_disk "$dense")" "the complete dump of the dense image"
convert "$dense" "$dir/full.dmp" >/dev/null
cat_t=(); timed cat_t sh -c "cat '$dir/full.dmp' > /dev/null"
read -r r_start r_end < <(sed -n 2p "$dense.map")
rd_t=(); timed rd_t sh -c "'$pd' read '$dir/full.dmp' --pa $r_start --length $((r_end - r_start)) --raw > /dev/null"
rd_bytes=$((r_end - r_start)); cat_bytes=$(stat -c %s "$dir/full.dmp")
echo "- sequential read of the complete dump (page cache warm): pagedump read $(div "$rd_bytes" "${rd_t[0]}" | awk '{printf "%.0f", $1/1048576}') MiB/s, cat $(div "$cat_bytes" "${cat_t[0]}" | awk '{printf "%.0f", $1/1048576}') MiB/s: $(awk -v a="$rd_bytes" -v b="${rd_t[0]}" -v c="$cat_bytes" -v d="${cat_t[0]}" 'BEGIN {printf "%.2f", (a / b) / (c / d)}') x cat's speed"
# Both readers on the same CPU, alternating, at least 11 pairs: single runs of a second vary
# by a third on a shared machine, and the two runs of a pair share its conditions, so the
# figure is the median of the pairs' ratios (the medians of each reader's rates are printed
# too, and the spread of the ratios).
rate() {
  local r; r=$(sed -n 's/.* \([0-9][0-9]*\) reads\/s.*/\1/p')
  [ -n "$r" ] || { echo "bench.sh: no 'N reads/s' in a random-read line" >&2; return 1; }
  echo "$r"
}
pin=(); command -v taskset >/dev/null && pin=(taskset -c 0)
rr_runs=$(( runs < 11 ? 11 : runs )); ((smoke)) && rr_runs=1
# compare DUMP COUNT WHAT [FLAG]: COUNT random reads of DUMP by both readers, the same VAs in the
# same order (random_reads writes the list, OTHER_READER replays it); FLAG (--map) is given to
# random_reads.
compare() {
  local i o t ours=() theirs=() ratios=() spread line flag=("${@:4}")
  # One run before the pairs, not counted, writes the list of VAs (the same seed: the same VAs
  # in every run) and brings the pages they touch into the page cache: a dump larger than the
  # free memory is not all cached after it is written, and the first of a pair would read from
  # the disk what the second then finds cached.
  "${pin[@]}" "$rr" "${flag[@]}" "$1" "$2" 7 "$dir/vas.txt" >/dev/null 2>"$dir/cmd.err" ||
    fail_run "$rr ${flag[*]} $1"
  for ((i = 0; i < rr_runs; i++)); do
    line=$("${pin[@]}" "$rr" "${flag[@]}" "$1" "$2" 7 2>"$dir/cmd.err") ||
      fail_run "$rr ${flag[*]} $1"
    o=$(rate <<<"$line") || exit 1
    line=$("${pin[@]}" $OTHER_READER "$1" "$dir/vas.txt" 2>"$dir/cmd.err") ||
      fail_run "$OTHER_READER $1"
    t=$(rate <<<"$line") || exit 1
    ours+=("$o"); theirs+=("$t"); ratios+=("$(div "$o" "$t")")
  done
  spread=$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n '1p;$p' | paste -sd' ')
  echo "  - $3, alternating pairs of runs: $rr_runs; pagedump $(median "${ours[@]}") reads/s, OTHER_READER $(median "${theirs[@]}") reads/s (medians); the pairs' ratios $(median "${ratios[@]}") x (median; from ${spread/ / to })"
}
for d in full kernel; do
  n=$( ((smoke)) && echo 20000 || echo 2000000)
  line=$("${pin[@]}" "$rr" "$dir/$d.dmp" "$n" 7 2>"$dir/cmd.err") || fail_run "$rr $d"
  echo "- random 4 KiB virtual reads, $d dump: $line"
  mapped=$("${pin[@]}" "$rr" --map "$dir/$d.dmp" "$n" 7 2>"$dir/cmd.err") || fail_run "$rr --map $d"
  echo "  - the same through a mapping of the dump (--map): $mapped"
  if [ -n "${OTHER_READER:-}" ]; then
    pages=$(sed -n 's/.* from \([0-9][0-9]*\) mapped kernel pages.*/\1/p' <<<"$line")
    [ -n "$pages" ] || { echo "bench.sh: no page count in '$line'" >&2; exit 1; }
    compare "$dir/$d.dmp" "$n" "$n reads, $((n / pages)) a page on average"
    # As many reads as the kernel has pages: most pages are read once, by a process that
    # starts with nothing cached (the file itself is in the page cache).
    compare "$dir/$d.dmp" "$pages" "$pages reads, first reads (most pages read once)"
    # The same two through a mapping of the dump (DumpOpenOptions::map_file), as OTHER_READER
    # reads it.
    compare "$dir/$d.dmp" "$n" "mapped (--map), $n reads" --map
    compare "$dir/$d.dmp" "$pages" "mapped (--map), $pages reads, first reads" --map
  fi
done
rm -f "$dir/full.dmp" "$dir/kernel.dmp" "$dir/vas.txt"
