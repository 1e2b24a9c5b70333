#!/usr/bin/env bash
# Runs the whole vitest suite against the addon built with AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer (CMake target nsnet_addon in
# native/CMakeLists.txt, built into build/sanitize), loaded through
# NSNET_ADDON. Node itself is not instrumented, and the runtime must be the
# first library a process loads, so the run uses a copy of node that names
# the runtime as its first dependency (patchelf --add-needed) and is first
# on PATH. Node processes the tests start (process.execPath) are that copy
# too; the programs they exec (ip, nft, date ...) are not touched, as
# LD_PRELOAD would: their own leaks and bugs are not nsnet's.
#
# Every report of any process goes to a file under build/sanitize/reports;
# the run fails if there is one, or if the suite fails. LeakSanitizer runs
# when each process exits; scripts/lsan.supp lists the leaks that are not
# nsnet's (each with its reason).
#
#   scripts/sanitize.sh [vitest args...]      e.g. scripts/sanitize.sh test/netns.test.ts
# Needs: cmake, patchelf, a C++ compiler with libasan/libubsan (g++ has them), root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build/sanitize"
reports="$build/reports"
t0=$(date +%s)

cmake -S native -B "$build" -DNSNET_ADDON=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log" >&2; exit 2; }
cmake --build "$build" --target nsnet_addon -j "$(nproc 2>/dev/null || echo 2)" >"$build.build.log" 2>&1 \
  || { tail -n 40 "$build.build.log" >&2; exit 2; }
addon="$build/nsnet.node"
# The runtime the addon was linked against: gcc's libasan or clang's.
runtime=$(ldd "$addon" | awk '/libasan|libclang_rt\.asan/ { print $3; exit }')
if [ -z "$runtime" ] || [ ! -e "$runtime" ]; then
  echo "sanitize.sh: $addon names no ASan runtime (ldd):" >&2
  ldd "$addon" >&2
  exit 2
fi
mkdir -p "$build/bin"
node_bin="$build/bin/node"
cp "$(command -v node)" "$node_bin.tmp"
patchelf --add-needed "$runtime" "$node_bin.tmp"
mv "$node_bin.tmp" "$node_bin"
t1=$(date +%s)
echo "sanitize.sh: built $addon in $((t1 - t0))s; node with $runtime: $node_bin"

npx tsc -p tsconfig.json

rm -rf "$reports"
mkdir -p "$reports"
export NSNET_ADDON="$addon" NSNET_SANITIZE=1 PATH="$build/bin:$PATH"
# detect_leaks: LeakSanitizer at each process's exit (test workers exit on
# SIGTERM for it: test/sanitize-setup.ts). Stacks of 30 frames reach from
# an allocation through the addon to the N-API call that made it.
export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan:malloc_context_size=30:strict_init_order=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0${LSAN_EXTRA:+:$LSAN_EXTRA}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"

# The loader must really take the sanitized build, or the run proves nothing.
[ "$(command -v node)" = "$node_bin" ] || { echo "sanitize.sh: node on PATH is not $node_bin" >&2; exit 2; }
node -e "
  import('./dist/native.js').then(() => {
    const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
    if (!maps.includes(process.env.NSNET_ADDON)) { console.error('sanitize.sh: dist/native.js did not load ' + process.env.NSNET_ADDON); process.exit(1); }
  });"

set +e
node scripts/sandbox.mjs node_modules/.bin/vitest run "$@"
rc=$?
set -e
t2=$(date +%s)

found=$(find "$reports" -type f | sort)
echo "sanitize.sh: suite exit $rc in $((t2 - t1))s (build $((t1 - t0))s); sanitizer reports: $(echo -n "$found" | grep -c . || true)"
if [ -n "$found" ]; then
  for f in $found; do
    echo "==== $f" >&2
    cat "$f" >&2
  done
  exit 1
fi
exit "$rc"
