#!/usr/bin/env bash
# Builds the libFuzzer targets in native/fuzz with clang, ASan and UBSan into
# native/fuzz/build and runs each for $1 seconds (default 30) on a temporary
# copy of its corpus, native/fuzz/corpus/<target>:
#   codec    the netlink codec (native/nl)
#   replies  a socket's reply matching: seq/port checks, batches, dumps (native/io/match)
#   resync   an event stream's dump and resync state machine (native/io/resync)
# (The N-API layer above them is fuzzed from JS: test/addon-fuzz.test.ts.)
# Exits non-zero on any crash, sanitizer report or broken invariant; the
# reproducer is left in native/fuzz/build/<target>/ (crash-*, leak-*, timeout-*, oom-*).
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#   NSNET_FUZZ_TARGETS="replies resync" scripts/fuzz.sh 600   # some targets only
#   NSNET_FUZZ_SAVE=1 scripts/fuzz.sh 600    # then merge what grew the coverage into the corpus
# Needs: cmake, clang, libfuzzer-14-dev, libclang-rt-14-dev (Debian packages).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-30}"
shift || true
case "$secs" in
  ''|*[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$secs'" >&2; exit 2 ;;
esac
targets=(${NSNET_FUZZ_TARGETS:-codec replies resync})

cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz.sh: clang++ not found (apt-get install -y clang libfuzzer-14-dev libclang-rt-14-dev)" >&2
  exit 2
fi

build="$root/native/fuzz/build"
mkdir -p "$build"
cmake -S "$root/native" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; exit 2; }
if ! grep -q 'NSNET_HAVE_LIBFUZZER:INTERNAL=1' "$build/CMakeCache.txt"; then
  echo "fuzz.sh: $cxx cannot link -fsanitize=fuzzer (apt-get install -y libfuzzer-14-dev libclang-rt-14-dev)" >&2
  exit 2
fi
cmake --build "$build" --target "${targets[@]/#/fuzz_}" -j "$(nproc 2>/dev/null || echo 2)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nsnet-fuzz.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for t in "${targets[@]}"; do
  seeds="$root/native/fuzz/corpus/$t"
  corpus="$tmp/$t"
  out="$build/$t"
  mkdir -p "$seeds" "$corpus" "$out"
  cp -r "$seeds"/. "$corpus"/
  log="$out/fuzz.log"
  echo "fuzz.sh: running fuzz_$t for ${secs}s on $(ls "$seeds" | wc -l) seeds (log: $log)"
  set +e
  "$build/fuzz_$t" \
    -max_total_time="$secs" \
    -max_len=4096 \
    -timeout=10 \
    -print_final_stats=1 \
    -artifact_prefix="$out/" \
    "$@" \
    "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  # The last status line carries coverage (cov: edges, ft: features, corp: units).
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$t failed (exit $rc); last lines of $log:" >&2
    tail -n 60 "$log" >&2
    ls -1 "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
    exit "$rc"
  fi
  if [ "${NSNET_FUZZ_SAVE:-}" = 1 ]; then
    # Adds to the committed corpus only inputs that reach new edges (not
    # new hit counts), which keeps it to a few dozen small files.
    "$build/fuzz_$t" -merge=1 -use_counters=0 "$seeds" "$corpus" >"$out/merge.log" 2>&1
    echo "fuzz.sh: corpus/$t now holds $(ls "$seeds" | wc -l) inputs ($(du -sk "$seeds" | cut -f1) KiB)"
  fi
  echo "fuzz.sh: fuzz_$t: no crashes in ${secs}s"
done
