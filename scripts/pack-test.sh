#!/usr/bin/env bash
# Proves `npm pack` yields a package that installs and works where there is
# no C++ compiler: compilers are hidden from PATH, the install must take the
# prebuilt binary, and the CLI and a script that builds a bridge-mode sandbox
# must work (inside a private network namespace: scripts/sandbox.mjs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/nsnet-pack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cd "$root"
tarball=$(npm pack --silent --pack-destination "$tmp" | tail -1)
echo "pack-test: packed $tarball ($(du -h "$tmp/$tarball" | cut -f1))"

# What the tarball holds: what users need and nothing else.
tar -tzf "$tmp/$tarball" > "$tmp/files"
for must in package/dist/index.js package/dist/index.d.ts package/dist/cli/main.js package/binding.gyp \
  package/native/nl/nl.cc package/native/addon/addon.cc package/prebuilds/linux-x64/nsnet.glibc.node; do
  grep -qx "$must" "$tmp/files" || { echo "pack-test: $must missing from the tarball"; exit 1; }
done
if grep -E '^package/(test|bench|scripts|native/test|native/fuzz|\.ci)/' "$tmp/files"; then
  echo "pack-test: the tarball ships files users do not need"; exit 1
fi

# No compiler: each one fails loudly if anything tries to build.
mkdir "$tmp/nocc"
for t in g++ gcc cc c++ make clang clang++ aarch64-linux-gnu-g++; do
  printf '#!/bin/sh\necho "pack-test: %s is hidden: something tried to compile" >&2\nexit 127\n' "$t" > "$tmp/nocc/$t"
  chmod +x "$tmp/nocc/$t"
done
mkdir "$tmp/app"
cd "$tmp/app"
npm init -y >/dev/null
PATH="$tmp/nocc:$PATH" npm install --no-audit --no-fund "$tmp/$tarball" >/dev/null
test ! -e node_modules/nsnet/build || { echo "pack-test: the install compiled the addon"; exit 1; }
echo "pack-test: installed without a compiler (prebuilt binary)"

PATH="$tmp/nocc:$PATH" npx --no-install nsnet version
cat > app.mjs <<'JS'
import { Netns } from 'nsnet';
const host = await Netns.host();
await host.links.addBridge({ name: 'pk0', up: true });
await host.addresses.add('pk0', '10.199.0.1/24');
const sb = await Netns.create('pack-test', {
  then: (ns) => host.batch()
    .addVeth({ name: 'pkv0', master: 'pk0', up: true, peer: { name: 'eth0', netns: ns } })
    .in(ns).setUp('eth0').addAddress('eth0', '10.199.0.2/24').addRoute({ dst: 'default', gateway: '10.199.0.1' }),
});
const routes = await sb.routes.list();
if (!routes.some((r) => r.dst === 'default' && r.gateway === '10.199.0.1')) throw new Error('no default route in the sandbox');
await sb.delete();
await host.links.delete('pk0');
console.log('pack-test: sandbox created and removed through the installed package');
JS
PATH="$tmp/nocc:$PATH" node "$root/scripts/sandbox.mjs" node app.mjs

# Asked to build from source (with the compilers back), the install does.
mkdir "$tmp/src-app"
cd "$tmp/src-app"
npm init -y >/dev/null
npm_config_build_from_source=true npm install --no-audit --no-fund --foreground-scripts "$tmp/$tarball" >"$tmp/src-install.log" 2>&1 || { tail -30 "$tmp/src-install.log"; exit 1; }
test -f node_modules/nsnet/build/Release/nsnet.node || { echo "pack-test: npm_config_build_from_source did not build"; tail -30 "$tmp/src-install.log"; exit 1; }
node -e "import('nsnet').then(() => console.log('pack-test: source build on request works'))"
