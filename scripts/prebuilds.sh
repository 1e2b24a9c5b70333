#!/usr/bin/env bash
# Prebuilt, stripped, libc-tagged N-API binaries in prebuilds/<platform>-<arch>/,
# which node-gyp-build loads at run time on any Node >= 20, and beside each
# the native CNI shim (nsnet-cni, the binding's second target: prebuildify
# builds it and copies only the .node). linux-arm64 is cross-compiled when
# Debian's g++-aarch64-linux-gnu is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() { "$@" >"$log" 2>&1 || { cat "$log"; exit 1; }; }
if command -v aarch64-linux-gnu-g++ >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    quiet npx prebuildify --napi --strip --strip-bin aarch64-linux-gnu-strip --tag-libc --arch arm64
  aarch64-linux-gnu-strip -o prebuilds/linux-arm64/nsnet-cni build/Release/nsnet-cni
  echo "prebuilds: linux-arm64 $(file -b prebuilds/linux-arm64/nsnet.glibc.node | cut -d, -f1-2); shim $(file -b prebuilds/linux-arm64/nsnet-cni | cut -d, -f1-2)"
else
  echo "prebuilds: no aarch64 cross compiler (apt-get install g++-aarch64-linux-gnu): linux-arm64 skipped"
fi
quiet npx prebuildify --napi --strip --tag-libc
strip -o prebuilds/linux-x64/nsnet-cni build/Release/nsnet-cni
echo "prebuilds: linux-x64 $(file -b prebuilds/linux-x64/nsnet.glibc.node | cut -d, -f1-2); shim $(file -b prebuilds/linux-x64/nsnet-cni | cut -d, -f1-2)"
