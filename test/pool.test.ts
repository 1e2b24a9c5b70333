// Sandbox pools and recycling (cnm/pool.ts, netlink/pool.ts, netlink/reset.ts)
// on the real kernel: recycling refused while a socket is left, a recycled
// namespace exactly as it was when made (ip -j, nft -j, sysctl -a) for each
// kind of change a tenant can make, and a killed process's pool removed by
// reconcile.
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Batch, createSandbox, Netns, NetnsPool, type Sandbox } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { advertiseRouter, ipj, ipv6Left, readAll, uniq } from './helpers.js';

const run = promisify(execFile);

let w: World;
let net: string;
beforeEach(async () => {
  w = await world('pl', { pool: { size: 2, networks: ['*'] } });
  net = uniq('pn');
  await w.c.createNetwork(net, { subnets: ['10.97.0.0/24'] });
  await w.c.pool!.warm();
});
afterEach(async () => {
  await w.cleanup();
});

/** This process's pooled namespaces (other test files run pools of their own). */
async function pooled(): Promise<string[]> {
  const mine = `nsp-${w.c.store.id}-${process.pid}-`;
  return (await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name).filter((n) => n.startsWith(mine)).sort();
}

const sh = (ns: string, script: string) => run('ip', ['netns', 'exec', ns, 'sh', '-c', script]);

// Fields that differ between any two namespaces, however fresh: counters,
// lifetimes, the far end's index (a host-side number), and the kernel's
// random draws (the TCP Fast Open key).
const VOLATILE = new Set(['stats64', 'stats', 'link_index', 'link_netnsid', 'valid_life_time', 'preferred_life_time', 'used', 'lastuse', 'probes']);
const clean = (x: unknown): unknown =>
  Array.isArray(x) ? x.map(clean) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).filter(([k]) => !VOLATILE.has(k)).map(([k, v]) => [k, clean(v)])) : x;

/** Everything a tenant can see of a namespace's network, as iproute2, nft and sysctl print it. */
async function view(ns: string) {
  const j = async (...a: string[]) => clean(await ipj(ns, ...a));
  const nft = JSON.parse((await run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset'])).stdout).nftables.filter((e: object) => !('metainfo' in e));
  const sysctl = (await run('ip', ['netns', 'exec', ns, 'sysctl', '-a', '--pattern', '^net\\.'])).stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('net.ipv4.tcp_fastopen_key'))
    .sort();
  const text = async (...a: string[]) => (await run('ip', ['netns', 'exec', ns, ...a])).stdout;
  return {
    links: await j('-d', 'link', 'show'), addrs: await j('addr', 'show'),
    // The lifetimes themselves count down: whether each lasts forever does not.
    lifetimes: (await ipj<any[]>(ns, 'addr', 'show')).flatMap((l) =>
      l.addr_info.map((a: any) => `${l.ifname} ${a.local} ${a.valid_life_time === 4294967295} ${a.preferred_life_time === 4294967295}`)),
    qdiscs: clean(JSON.parse(await text('tc', '-j', 'qdisc', 'show'))), nexthops: await j('nexthop', 'show'), labels: await j('addrlabel', 'list'),
    ipsec: [await text('ip', 'xfrm', 'state', 'list'), await text('ip', 'xfrm', 'policy', 'list'), await text('ip', 'xfrm', 'policy', 'list', 'ptype', 'sub')],
    ipsets: await text('ipset', 'list', '-n'),
    legacyTables: await text('cat', '/proc/net/ip_tables_names', '/proc/net/ip6_tables_names', '/proc/net/arp_tables_names'),
    mptcp: [await text('ip', 'mptcp', 'endpoint', 'show'), await text('ip', 'mptcp', 'limits', 'show')],
    ipsecDefaults: await text('ip', 'xfrm', 'policy', 'getdefault'),
    tcpMetrics: await text('ip', 'tcp_metrics', 'show'),
    routes: [await j('route', 'show', 'table', 'all'), await j('-6', 'route', 'show', 'table', 'all')],
    rules: [await j('rule', 'show'), await j('-6', 'rule', 'show')], neigh: [await j('neigh', 'show'), await j('neigh', 'show', 'proxy')],
    nft, sysctl,
  };
}

/** Takes a pooled sandbox, lets `tenant` change it, recycles it; returns the namespace's view when it was made, now, and another fresh one's. */
async function recycleAfter(tenant: (sb: Sandbox, gateway: string) => Promise<unknown>) {
  const before = new Map<string, Awaited<ReturnType<typeof view>>>();
  for (const n of await pooled()) before.set(n, await view(n));
  const sb = await createSandbox(w.c, { name: uniq('pt'), mode: { network: net } });
  await w.c.pool!.warm(); // the refill the create started, done
  const remaining = await pooled();
  const taken = [...before.keys()].filter((n) => !remaining.includes(n));
  expect(taken).toHaveLength(1);
  await tenant(sb, '10.97.0.1');
  expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
  await w.c.pool!.warm(); // its reset, done in the background
  expect(w.c.pool!.stats()).toMatchObject({ refused: 0, lastError: null });
  const back = (await pooled()).filter((n) => !remaining.includes(n));
  expect(back).toHaveLength(1);
  return { then: before.get(taken[0]!)!, now: await view(back[0]!), fresh: await view(remaining[0]!) };
}

describe('recycling', () => {
  test.each([
    ['a listening TCP socket', 'tcp', /tcp 0\.0\.0\.0:8080 LISTEN/],
    ['a bound UDP socket', 'udp', /udp 0\.0\.0\.0:5353/],
    ['a packet socket', 'packet', /packet raw 0x0003/],
  ])('is refused while another process holds %s in the namespace, which is then released as usual', async (_, kind, shown) => {
    const sb = await createSandbox(w.c, { name: uniq('ps'), mode: { network: net } });
    const holder = spawn('ip', ['netns', 'exec', sb.name, 'python3', 'test/fixtures/hold-socket.py', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((res) => createInterface({ input: holder.stdout! }).once('line', res));
      const before = await pooled();
      const r = await sb.delete({ recycle: true });
      expect(r.recycled).toBe(false);
      expect(r.reason).toMatch(shown);
      expect(await pooled()).toEqual(before);
      expect((await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name)).not.toContain(sb.name);
      expect(w.c.pool!.stats()).toMatchObject({ refused: 1, recycled: 0 });
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('is accepted once no socket is left, and the next create on the network takes the same namespace again', async () => {
    const sb = await createSandbox(w.c, { name: uniq('pa'), mode: { network: net } });
    const holder = spawn('ip', ['netns', 'exec', sb.name, 'python3', 'test/fixtures/hold-socket.py', 'tcp'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((res) => createInterface({ input: holder.stdout! }).once('line', res));
    holder.kill('SIGKILL');
    await new Promise((res) => holder.once('exit', res));
    const id = (await sb.netns()).id;
    expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
    await w.c.pool!.warm();
    expect(w.c.pool!.stats()).toMatchObject({ recycled: 1, refused: 0 });
    // The pool hands out the oldest first: ours comes back among the next three.
    const next: Sandbox[] = [];
    for (let i = 0; i < 3; i++) next.push(await createSandbox(w.c, { name: uniq('pb'), mode: { network: net } }));
    const again = (await Promise.all(next.map(async (x) => ((await x.netns()).id === id ? x : null)))).find(Boolean);
    expect(again).toBeTruthy();
    await run('ip', ['netns', 'exec', again!.name, 'ping', '-c1', '-W2', '10.97.0.1']);
  });

  test('a tenant that used legacy iptables (x_tables, whose rules a reset cannot put back) has its namespace released, not pooled', async () => {
    const sb = await createSandbox(w.c, { name: uniq('pi'), mode: { network: net } });
    const id = (await sb.netns()).id;
    await sh(sb.name, 'iptables-legacy -t nat -A OUTPUT -p tcp -j DNAT --to-destination 10.97.0.1:9; ip6tables-legacy -A INPUT -j DROP');
    expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
    await w.c.pool!.warm();
    expect(w.c.pool!.stats()).toMatchObject({ recycled: 0, refused: 1 });
    expect(w.c.pool!.stats().lastError).toMatch(/legacy iptables tables are in use \(ip: nat; ip6: filter\)/);
    // None of the namespaces the pool hands out now is that one, and none has a legacy table.
    for (let i = 0; i < 3; i++) {
      const next = await createSandbox(w.c, { name: uniq('pj'), mode: { network: net } });
      expect((await next.netns()).id).not.toBe(id);
      expect((await sh(next.name, 'cat /proc/net/ip_tables_names /proc/net/ip6_tables_names')).stdout).toBe('');
    }
  });

  test('a tenant that attached an XDP program to its interface has its namespace released, not pooled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-xdp-'));
    try {
      // The least XDP program: every packet passes.
      writeFileSync(join(dir, 'pass.c'), '__attribute__((section("xdp"), used)) int pass(void *ctx) { return 2; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n');
      await run('clang', ['-O2', '-target', 'bpf', '-c', join(dir, 'pass.c'), '-o', join(dir, 'pass.o')]);
      const sb = await createSandbox(w.c, { name: uniq('px'), mode: { network: net } });
      await sh(sb.name, `ip link set dev eth0 xdpgeneric obj ${join(dir, 'pass.o')} sec xdp`);
      expect((await sh(sb.name, 'ip -d link show eth0')).stdout).toMatch(/prog\/xdp/);
      expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
      await w.c.pool!.warm();
      expect(w.c.pool!.stats()).toMatchObject({ recycled: 0, refused: 1 });
      expect(w.c.pool!.stats().lastError).toMatch(/an XDP program is attached to ifindex \d+/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a tenant that changed the metrics of a route the namespace was made with (lo\'s) has it released, not pooled: the reset cannot put them back', async () => {
    const sb = await createSandbox(w.c, { name: uniq('pm'), mode: { network: net } });
    await sh(sb.name, 'ip route change local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 mtu lock 552 rto_min 5s');
    expect((await ipj<any[]>(sb.name, 'route', 'show', 'table', 'local', '127.0.0.1'))[0].metrics).toEqual([{ mtu: 552, rto_min: 5000 }]);
    expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
    await w.c.pool!.warm();
    expect(w.c.pool!.stats()).toMatchObject({ recycled: 0, refused: 1, lastError: expect.stringMatching(/route .*127\.0\.0\.1/) });
  });

  test('a TIME_WAIT connection (no process holds it) does not stop recycling: it is closed', async () => {
    const sb = await createSandbox(w.c, { name: uniq('pw'), mode: { network: net } });
    const ns = await sb.netns();
    const srv = await ns.listenTcp(9000, '127.0.0.1');
    srv.on('connection', (s) => s.end());
    const c = await ns.connectTcp(9000, '127.0.0.1');
    await new Promise((res) => c.on('close', res).end());
    await new Promise((res) => srv.close(res));
    expect((await ns.sockets()).map((s) => s.state)).toContain('TIME-WAIT');
    expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
  });
});

describe('a recycled namespace is the namespace it was when made, after a tenant changed', () => {
  const cases: [string, (sb: Sandbox, gw: string) => Promise<unknown>][] = [
    ['its addresses', (sb) => sh(sb.name, 'ip addr add 192.0.2.5/24 dev eth0; ip addr add 2001:db8::5/64 dev eth0 nodad; ip addr add 10.9.9.9/32 dev lo; ip addr del 127.0.0.1/8 dev lo')],
    ["its addresses' lifetimes and flags", (sb) => sh(sb.name, 'ip addr change 127.0.0.1/8 dev lo valid_lft 60 preferred_lft 0; ip -6 addr change ::1/128 dev lo valid_lft 120 preferred_lft 60 noprefixroute')],
    ['its routes', (sb, gw) => sh(sb.name, `ip route add 198.51.100.0/24 via ${gw}; ip route add blackhole 203.0.113.0/24 table 100; ip route add throw 10.10.0.0/16 table 100; ip -6 route add 2001:db8:1::/64 dev eth0 table 200; ip route del default`)],
    // Two routes to one prefix, one of them from a source prefix only: each is removed as itself.
    ['its source-specific routes', (sb) => sh(sb.name, 'ip -6 route add 2001:db8:5::/64 from 2001:db8::/64 dev lo table 200; ip -6 route add 2001:db8:5::/64 dev lo table 200 metric 9')],
    ['its rules', (sb) => sh(sb.name, 'ip rule add from 10.0.0.0/8 lookup 100 pref 100; ip -6 rule add to 2001:db8::/32 table 200 pref 200; ip rule del pref 32767')],
    ['its neighbours', (sb) => sh(sb.name, 'ip neigh add 10.97.0.50 lladdr 02:00:00:00:00:50 dev eth0 nud permanent; ip -6 neigh add fe80::50 lladdr 02:00:00:00:00:51 dev eth0 nud permanent; ip neigh add proxy 10.97.0.60 dev eth0')],
    ['its links (added ones)', (sb) => sh(sb.name, 'ip link add tb0 type bridge; ip link set tb0 up; ip link add vx0 type veth peer name vx1; ip link set eth0 master tb0')],
    ["its links' names, MACs, MTU and flags", (sb) => sh(sb.name, 'ip link set eth0 down; ip link set eth0 name ten0 address 02:11:22:33:44:55 mtu 1280 promisc on arp off allmulticast on txqueuelen 10 group 7 alias tenant; ip link set ten0 up; ip link set lo mtu 1500')],
    ['its sysctls', (sb) => sh(sb.name, 'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.eth0.rp_filter=2 net.ipv6.conf.all.forwarding=1 net.core.somaxconn=77 net.ipv4.conf.default.arp_ignore=1 net.ipv6.conf.lo.disable_ipv6=1 net.ipv4.tcp_syncookies=0; sysctl -qw "net.ipv4.ip_local_port_range=2000 3000"')],
    ["its links' broadcast address and mode", (sb) => sh(sb.name, 'ip link set eth0 broadcast 02:00:00:00:00:99 mode dormant; ip link set lo mode dormant')],
    ['a queueing discipline on a link it left down', (sb) => sh(sb.name, 'tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms; ip link set eth0 down')],
    ['its queueing disciplines', (sb) => sh(sb.name, 'tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms; tc qdisc add dev eth0 clsact; tc qdisc add dev lo root tbf rate 8kbit burst 1600 latency 50ms')],
    ['its nexthop objects', (sb, gw) => sh(sb.name, `ip nexthop add id 7 via ${gw} dev eth0; ip nexthop add id 8 blackhole; ip nexthop add id 9 group 7; ip route add 198.51.100.0/24 nhid 9`)],
    ['its IPv6 address labels', (sb) => sh(sb.name, 'ip addrlabel add prefix 2001:db8::/32 label 99; ip addrlabel add prefix 2001:db8:1::/48 dev eth0 label 100; ip addrlabel del prefix ::1/128 label 0')],
    ['its IPsec policies', (sb) => sh(sb.name, 'ip xfrm policy add src 0.0.0.0/0 dst 10.97.0.0/24 dir out tmpl src 10.97.0.2 dst 192.0.2.1 proto esp mode tunnel; ip xfrm policy add src ::/0 dst ::/0 dir in action block; ip xfrm policy add src 10.0.0.0/8 dst 10.0.0.0/8 dir fwd ptype sub action block')],
    ['its MPTCP endpoints and limits', (sb) => sh(sb.name, 'ip mptcp endpoint add 10.97.0.77 dev eth0 signal; ip mptcp endpoint add 10.97.0.78 dev eth0 subflow; ip mptcp limits set subflow 5 add_addr_accepted 3')],
    // t1 is a member of l, so destroying every set at once destroys none.
    ['its ipset sets', (sb) => sh(sb.name, 'ipset create t1 hash:ip; ipset add t1 10.97.0.9; ipset create t2 bitmap:port range 1-1000; ipset add t2 22; ipset create l list:set; ipset add l t1')],
    ['its IPsec default policies', (sb) => sh(sb.name, 'ip xfrm policy setdefault in block out block fwd block')],
    ['its TCP metrics cache', async (sb, gw) => {
      // A connection to the host's end of the network, closed: its peer's RTT and cwnd stay in the cache.
      const srv = spawn('ip', ['netns', 'exec', w.host.name!, 'python3', '-c', `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${gw}', 9100)); s.listen(); print('ready', flush=True)
a, _ = s.accept(); a.recv(9); a.close()`], { stdio: ['ignore', 'pipe', 'inherit'] });
      const done = new Promise((res) => srv.once('exit', res));
      await new Promise((res) => createInterface({ input: srv.stdout! }).once('line', res));
      await sh(sb.name, `python3 -c "import socket; c = socket.create_connection(('${gw}', 9100), timeout=5); c.send(b'x'); c.close()"`);
      await done;
      expect((await sh(sb.name, 'ip tcp_metrics show')).stdout).toContain(gw);
    }],
    ['its nf_tables ruleset', (sb) => sh(sb.name, `nft add table inet t; nft add chain inet t c '{ type filter hook input priority 0; policy drop; }'; nft add rule inet t c tcp dport 22 accept; nft add table ip nat2; nft add set ip nat2 s '{ type ipv4_addr; }'`)],
    ['its conntrack table', async (sb, gw) => {
      await sh(sb.name, `nft add table ip ctt; nft add chain ip ctt c '{ type filter hook output priority 0; }'; nft add rule ip ctt c ct state new accept; ping -c1 -W2 ${gw}`);
      expect(Number((await sh(sb.name, 'sysctl -n net.netfilter.nf_conntrack_count')).stdout)).toBeGreaterThan(0);
    }],
  ];
  test.each(cases)('%s', async (_, tenant) => {
    const { then, now, fresh } = await recycleAfter(tenant);
    expect(now).toEqual(then);
    // And like any other fresh one, but for the MAC each draws at random.
    const noMac = (v: typeof now) => JSON.parse(JSON.stringify(v).replace(/"(address|perm_address)":"[0-9a-f:]{17}"/g, '"$1":"-"'));
    expect(noMac(now)).toEqual(noMac(fresh));
  });
});

describe('pools', () => {
  test('stats count hits, misses, namespaces made and the refill rate; a sandbox on two networks is made fresh', async () => {
    const before = w.c.pool!.stats();
    expect(before.networks[net]).toMatchObject({ size: 2, ready: 2, hits: 0, misses: 0, made: 2, failures: 0 });
    expect(before.refillRate).toBeGreaterThan(0);
    await createSandbox(w.c, { name: uniq('ph'), mode: { network: net } });
    const other = await w.c.createNetwork(uniq('po'), { subnets: ['10.98.0.0/24'] });
    const two = await w.c.createSandbox(uniq('p2'), { networks: [net, other.name] });
    expect((await two.info()).endpoints).toHaveLength(2);
    expect(w.c.pool!.stats().networks[net]).toMatchObject({ hits: 1, misses: 0 });
    expect(await two.delete({ recycle: true })).toEqual({ recycled: false, reason: 'it is on 2 networks (a pooled namespace is on one)' });
  });

  test('an empty pool falls back to a fresh namespace, and the pool refills in the background at its rate', async () => {
    // A pool that makes one namespace a second: a third create in a row finds it empty.
    const slow = await w.reopen({ pool: { size: 2, networks: [net], rate: 1 } });
    await slow.pool!.warm();
    const sbs = [];
    for (let i = 0; i < 3; i++) sbs.push(await createSandbox(slow, { name: uniq('pe'), mode: { network: net } }));
    expect(slow.pool!.stats().networks[net]).toMatchObject({ hits: 2, misses: 1 });
    await slow.pool!.warm();
    expect(slow.pool!.stats().networks[net]).toMatchObject({ ready: 2, made: 4 });
    for (const sb of sbs) await run('ip', ['netns', 'exec', sb.name, 'ping', '-c1', '-W2', '10.97.0.1']);
  });

  test('a process killed while its pool is full leaves nothing that reconcile does not remove', async () => {
    const child = spawn(process.execPath, ['test/fixtures/pool-holder.mjs', w.stateDir, w.host.name!, net, '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res) => createInterface({ input: child.stdout! }).once('line', res));
    const pid = line.split(' ')[1]!;
    const theirs = async () => (await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name).filter((n) => n.startsWith(`nsp-${w.c.store.id}-${pid}-`));
    const theirVeths = async () => (await ipj<any[]>(w.host.name!, 'link', 'show')).filter((l) => String(l.ifalias ?? '').includes(`pool-${w.c.store.id}-${pid}-`));
    expect(await theirs()).toHaveLength(3);
    expect(await theirVeths()).toHaveLength(3);
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    const mine = await pooled();
    const report = await w.c.reconcile();
    expect(report.namespacesRemoved.filter((n) => n.includes(`-${pid}-`))).toHaveLength(3);
    expect(await theirs()).toEqual([]);
    // The kernel destroys the released namespaces, and their veths with them, in its own time.
    await eventually(async () => expect(await theirVeths()).toEqual([]));
    // This process's own pool is left alone.
    expect(await pooled()).toEqual(mine);
  });
});

describe('a pooled interface (bridge)', () => {
  /** What is left of a MAC on the bridge port hostIfname (bridge -j fdb). */
  const learned = async (hostIfname: string, mac: string) =>
    (await run('ip', ['netns', 'exec', w.host.name!, 'bridge', '-j', 'fdb', 'show', 'dev', hostIfname])).stdout.includes(mac);

  test('waits up, with no address of any kind, on a network without IPv6; a create gives it its MAC (and a name of its own) and it talks at once', async () => {
    const ready = await pooled();
    expect(ready).toHaveLength(2);
    for (const n of ready) {
      const [eth0] = await ipj<any[]>(n, 'addr', 'show', 'eth0');
      expect(eth0.flags).toContain('UP');
      expect(eth0.addr_info).toEqual([]);
    }
    const a = await w.c.createSandbox(uniq('pu'), { networks: [net] });
    await w.c.pool!.warm();
    const b = await w.c.createSandbox(uniq('pv'), { networks: [{ network: net, ifname: 'data0' }] });
    expect(w.c.pool!.stats().networks[net]).toMatchObject({ hits: 2, misses: 0 });
    for (const [sb, ifname] of [[a, 'eth0'], [b, 'data0']] as const) {
      const ep = (await sb.info()).endpoints[0]!;
      const links = await ipj<any[]>(sb.name, 'addr', 'show');
      expect(links.map((l) => l.ifname)).toEqual(['lo', ifname]);
      expect(links[1]).toMatchObject({ ifname, address: ep.mac, operstate: 'UP' });
      expect(links[1].addr_info.map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual(ep.addresses);
    }
    // The first packet a sandbox sends goes out with its own MAC, and the answer finds it.
    const bAddr = (await b.info()).endpoints[0]!.addresses[0]!.split('/')[0]!;
    const srv = await (await b.netns()).listenTcp(8080, '0.0.0.0');
    srv.on('connection', (s) => s.end('from b'));
    try {
      expect(await readAll(await (await a.netns()).connectTcp(8080, bAddr))).toBe('from b');
    } finally {
      srv.close();
    }
    await run('ip', ['netns', 'exec', b.name, 'ping', '-c1', '-W2', '10.97.0.1']);
  });

  test('takes no router advertisement while it waits: one sent on the bridge by a tenant gives a ready namespace no IPv6 address or route', async () => {
    const tenant = await createSandbox(w.c, { name: uniq('pr'), mode: { network: net } });
    await w.c.pool!.warm();
    const ready = await pooled();
    expect(ready).toHaveLength(2);
    await advertiseRouter(tenant.name);
    for (const n of ready) expect(await ipv6Left(n)).toEqual({ routes: [], addresses: [] });
  });

  test('a recycled tenant is off the network when delete returns, before its reset: the next sandbox given its address (and so its MAC) gets its traffic at once', async () => {
    const X = '10.97.0.50';
    const old = await w.c.createSandbox(uniq('po'), { networks: [{ network: net, ip: X }] });
    // The bridge learns its MAC on its port, and the host its address.
    await run('ip', ['netns', 'exec', old.name, 'ping', '-c1', '-W2', '10.97.0.1']);
    // 20,000 routes (on lo, which stays up) hold its reset, which runs after delete returns, for a good while.
    await sh(old.name, `for i in $(seq 0 19999); do echo "route add 10.$((i / 250 + 100)).$((i % 250)).0/24 dev lo"; done | ip -batch -`);
    expect(await old.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
    const next = await w.c.createSandbox(uniq('pn'), { networks: [{ network: net, ip: X }] });
    const srv = await (await next.netns()).listenTcp(8080, '0.0.0.0');
    srv.on('connection', (s) => s.end('next'));
    try {
      expect(w.c.pool!.stats().resetting).toBe(1); // the reset has not run yet
      expect(await readAll(await w.host.connectTcp(8080, X))).toBe('next');
    } finally {
      srv.close();
    }
    await w.c.pool!.warm();
    expect(w.c.pool!.stats()).toMatchObject({ recycled: 1, refused: 0, lastError: null });
  });

  test('once recycled, the bridge has forgotten its tenant\'s MAC on that port', async () => {
    const sb = await w.c.createSandbox(uniq('pf'), { networks: [net] });
    const ep = (await sb.info()).endpoints[0]!;
    await run('ip', ['netns', 'exec', sb.name, 'ping', '-c1', '-W2', '10.97.0.1']);
    expect(await learned(ep.hostIfname!, ep.mac!)).toBe(true);
    expect(await sb.delete({ recycle: true })).toEqual({ recycled: true, reason: null });
    await w.c.pool!.warm();
    expect(w.c.pool!.stats()).toMatchObject({ recycled: 1, refused: 0 });
    // Another sandbox given this address (and so this MAC) on another port must get its frames.
    expect(await learned(ep.hostIfname!, ep.mac!)).toBe(false);
  });
});

describe('NetnsPool (the low-level pool)', () => {
  test('take renames a ready namespace and runs the batch in one trip; putBack returns one untouched; close releases the rest', async () => {
    const prefix = uniq('np');
    const pool = new NetnsPool({ size: 2, prefix, prepare: (ns) => ({ batch: new Batch(ns).addBridge({ name: 'br9' }), data: 'x' }) });
    try {
      await pool.warm();
      const names = async () => (await Netns.list()).filter((n) => n.startsWith(prefix));
      expect(await names()).toHaveLength(2);
      const c = pool.take()!;
      expect(c.data).toBe('x');
      const name = uniq('nt');
      const ns = await c.use(name, (x) => new Batch(x).setUp('br9').addAddress('br9', '192.0.2.1/24'));
      expect(ns.name).toBe(name);
      expect((await ipj<any[]>(name, 'addr', 'show', 'br9'))[0].addr_info[0].local).toBe('192.0.2.1');
      pool.take()!.putBack();
      expect(pool.stats()).toMatchObject({ hits: 2, misses: 0 });
      await ns.delete();
    } finally {
      await pool.close();
    }
    expect((await Netns.list()).filter((n) => n.startsWith(prefix))).toEqual([]);
  });
});
