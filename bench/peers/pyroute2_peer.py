#!/usr/bin/python3
# The pyroute2 peer: the bridge-mode sandbox as a Python runtime builds it
# with pyroute2 (Debian's python3-pyroute2), timed in-process.
#   pyroute2_peer.py N [prefix]   -> JSON on stdout
# Run inside a private network + mount namespace (it uses /run/netns).
import json
import sys
import time

from pyroute2 import IPRoute, netns

n = int(sys.argv[1])
prefix = sys.argv[2] if len(sys.argv) > 2 else 'nsp'

ipr = IPRoute()
ipr.link('add', ifname='nsbr0', kind='bridge')
br = ipr.link_lookup(ifname='nsbr0')[0]
ipr.addr('add', index=br, address='10.200.0.1', prefixlen=16)
ipr.link('set', index=br, state='up')

setup, teardown = [], []
for i in range(n):
    h = i + 2
    name = f'{prefix}{i}'
    t0 = time.perf_counter()
    netns.create(name)
    ipr.link('add', ifname=f'nsv{i}', kind='veth', peer={'ifname': 'eth0', 'net_ns_fd': name})
    v = ipr.link_lookup(ifname=f'nsv{i}')[0]
    ipr.link('set', index=v, master=br, state='up')
    # A socket opened inside the namespace (pushns/popns switch this thread),
    # rather than NetNS(), which forks a helper process per namespace.
    netns.pushns(name)
    try:
        ns = IPRoute()
    finally:
        netns.popns()
    lo = ns.link_lookup(ifname='lo')[0]
    ns.link('set', index=lo, state='up')
    eth = ns.link_lookup(ifname='eth0')[0]
    ns.addr('add', index=eth, address=f'10.200.{h >> 8}.{h & 255}', prefixlen=16)
    ns.link('set', index=eth, state='up')
    ns.route('add', dst='default', gateway='10.200.0.1')
    ns.close()
    setup.append((time.perf_counter() - t0) * 1e3)
for i in range(n):
    t0 = time.perf_counter()
    netns.remove(f'{prefix}{i}')
    teardown.append((time.perf_counter() - t0) * 1e3)
ipr.link('del', index=br)
ipr.close()
print(json.dumps({'peer': 'pyroute2', 'n': n, 'setupMs': setup, 'teardownMs': teardown, 'teardown': 'release'}))
