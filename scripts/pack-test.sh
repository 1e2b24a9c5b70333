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
for must in package/bin/nsnet.js package/dist/index.js package/dist/index.d.ts package/dist/cli/main.js package/binding.gyp \
  package/native/nl/nl.cc package/native/addon/addon.cc package/prebuilds/linux-x64/nsnet.glibc.node \
  package/native/shim/shim.c package/prebuilds/linux-x64/nsnet-cni package/dist/cni/plugin/main.js \
  package/contrib/systemd/nsnet.service; do
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
# better-sqlite3 (the default store) publishes its binaries on GitHub, which
# this machine cannot reach. Its installer (prebuild-install) also takes them
# from a local directory, so hand it the one `npm ci` built here, under the
# name its release asset has: the same path a user's install takes.
bsq_version=$(node -p "require('$root/node_modules/better-sqlite3/package.json').version")
mkdir "$tmp/bsq"
tar -czf "$tmp/bsq/better-sqlite3-v$bsq_version-node-v$(node -p process.versions.modules)-linux-x64.tar.gz" \
  -C "$root/node_modules/better-sqlite3" build/Release/better_sqlite3.node
export npm_config_better_sqlite3_local_prebuilds="$tmp/bsq"

mkdir "$tmp/app"
cd "$tmp/app"
npm init -y >/dev/null
PATH="$tmp/nocc:$PATH" npm install --no-audit --no-fund "$tmp/$tarball" >/dev/null
test ! -e node_modules/nsnet/build || { echo "pack-test: the install compiled the addon"; exit 1; }
echo "pack-test: installed without a compiler (prebuilt binary)"

PATH="$tmp/nocc:$PATH" npx --no-install nsnet version
cat > app.mjs <<'JS'
import { Controller, createSandbox } from 'nsnet';
const c = await Controller.open({ stateDir: '/var/lib/nsnet/pack-test' });
const sb = await createSandbox(c, { name: 'pack-test', mode: 'bridge' });
const { endpoints: [ep] } = await sb.info();
const routes = await (await sb.netns()).routes.list();
if (!routes.some((r) => r.dst === 'default' && r.gateway === ep.gateways[0])) throw new Error('no default route in the sandbox');
await sb.delete();
await (await c.network('bridge')).delete();
c.close();
console.log(`pack-test: bridge-mode sandbox (${ep.addresses[0]}) created and removed through the installed package`);
JS
PATH="$tmp/nocc:$PATH" node "$root/scripts/sandbox.mjs" node app.mjs

# The CNI plugins: the prebuilt shim installed where runtimes look, answering
# VERSION itself, and (no daemon running) an ADD and a DEL through the slow
# path, whose node and script paths the install recorded.
PATH="$tmp/nocc:$PATH" npx --no-install nsnet cni install --dir "$tmp/cni-bin" --state-dir /var/lib/nsnet/pack-cni >/dev/null
CNI_COMMAND=VERSION "$tmp/cni-bin/nsnet" | grep -q '"1.1.0"' || { echo "pack-test: the installed shim does not answer VERSION"; exit 1; }
cat > cni.sh <<SH
set -e
ip netns add pack-cni
conf='{"cniVersion":"1.0.0","name":"pack-cni","type":"nsnet","subnet":"10.254.0.0/24"}'
export CNI_CONTAINERID=pack CNI_NETNS=/run/netns/pack-cni CNI_IFNAME=eth0 CNI_PATH=$tmp/cni-bin
echo "\$conf" | CNI_COMMAND=ADD $tmp/cni-bin/nsnet | grep -q '10.254.0.2/24'
ip -n pack-cni -br addr show eth0 | grep -q 10.254.0.2
echo "\$conf" | CNI_COMMAND=DEL $tmp/cni-bin/nsnet
ip netns del pack-cni
SH
PATH="$tmp/nocc:$PATH" node "$root/scripts/sandbox.mjs" bash cni.sh
echo "pack-test: the installed CNI plugin (prebuilt shim, slow path) attached and detached a namespace"

# Asked to build from source (with the compilers back), the install does.
mkdir "$tmp/src-app"
cd "$tmp/src-app"
npm init -y >/dev/null
npm_config_build_from_source=true npm install --no-audit --no-fund --foreground-scripts "$tmp/$tarball" >"$tmp/src-install.log" 2>&1 || { tail -30 "$tmp/src-install.log"; exit 1; }
test -f node_modules/nsnet/build/Release/nsnet.node || { echo "pack-test: npm_config_build_from_source did not build"; tail -30 "$tmp/src-install.log"; exit 1; }
node -e "import('nsnet').then(() => console.log('pack-test: source build on request works'))"
