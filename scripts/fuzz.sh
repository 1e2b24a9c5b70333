#!/usr/bin/env bash
# Builds the netlink codec fuzzer (native/fuzz/fuzz_codec.cc) with clang,
# libFuzzer, ASan and UBSan into native/fuzz/build and runs it for $1 seconds
# (default 30) on a temporary copy of native/fuzz/corpus. Exits non-zero on
# any crash, sanitizer report or broken invariant; the reproducer is left in
# native/fuzz/build/ (crash-*, leak-*, timeout-*, oom-*).
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# Needs: cmake, clang, libfuzzer-14-dev, libclang-rt-14-dev (Debian packages).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-30}"
shift || true
case "$secs" in
  ''|*[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

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
cmake --build "$build" --target fuzz_codec -j "$(nproc 2>/dev/null || echo 2)"

corpus="$(mktemp -d "${TMPDIR:-/tmp}/nsnet-fuzz-corpus.XXXXXX")"
trap 'rm -rf "$corpus"' EXIT
cp "$root"/native/fuzz/corpus/* "$corpus"/

log="$build/fuzz.log"
echo "fuzz.sh: running fuzz_codec for ${secs}s (log: $log)"
set +e
"$build/fuzz_codec" \
  -max_total_time="$secs" \
  -max_len=4096 \
  -timeout=10 \
  -print_final_stats=1 \
  -artifact_prefix="$build/" \
  "$@" \
  "$corpus" >"$log" 2>&1
rc=$?
set -e

# The last status line carries coverage (cov: edges, ft: features, corp: units).
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
if [ "$rc" -ne 0 ]; then
  echo "fuzz.sh: fuzz_codec failed (exit $rc); last lines of $log:" >&2
  tail -n 60 "$log" >&2
  ls -1 "$build"/crash-* "$build"/leak-* "$build"/timeout-* "$build"/oom-* 2>/dev/null >&2 || true
  exit "$rc"
fi
echo "fuzz.sh: no crashes in ${secs}s"
