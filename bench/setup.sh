#!/usr/bin/env bash
# Installs the peers the benchmark compares against, from Debian's packages,
# when they are missing: iproute2 (ip), the CNI reference plugins, netavark
# (with iptables, its default firewall) and pyroute2.
set -euo pipefail
packages=(iproute2 containernetworking-plugins netavark iptables nftables python3-pyroute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bench: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
