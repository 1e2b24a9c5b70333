#!/usr/bin/env bash
# The iproute2 peer: the bridge-mode sandbox as an admin scripts it, one `ip`
# command per step, timed in-process with bash's EPOCHREALTIME so the figure
# is ip's cost, not the cost of starting a shell from Node.
#   ip.sh N release|explicit [prefix]   -> JSON on stdout
# `ip netns` always uses /run/netns; run it inside a private mount namespace.
set -euo pipefail
n=$1 mode=$2 prefix=${3:-nsb}
now() { local t=${EPOCHREALTIME/./}; echo "$t"; }  # microseconds
ip link add nsbr0 type bridge
ip addr add 10.200.0.1/16 dev nsbr0
ip link set nsbr0 up
setup=() teardown=()
for ((i = 0; i < n; i++)); do
  h=$((i + 2)) ns=$prefix$i
  t0=$(now)
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "nsv$i" type veth peer name eth0 netns "$ns"
  ip link set "nsv$i" addrgenmode none
  ip link set "nsv$i" master nsbr0 up
  ip -n "$ns" addr add "10.200.$((h >> 8)).$((h & 255))/16" dev eth0
  ip -n "$ns" link set eth0 addrgenmode none
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via 10.200.0.1
  setup+=($(($(now) - t0)))
done
for ((i = 0; i < n; i++)); do
  t0=$(now)
  [[ $mode == explicit ]] && ip link del "nsv$i"
  ip netns del "$prefix$i"
  teardown+=($(($(now) - t0)))
done
ip link del nsbr0
us() { local IFS=,; echo "$*"; }
printf '{"peer":"ip","n":%d,"teardown":"%s","setup_us":[%s],"teardown_us":[%s]}\n' "$n" "$mode" "$(us "${setup[@]}")" "$(us "${teardown[@]}")"
