// Global networks on VXLAN across simulated hosts in one process (each its
// own namespace, state dir and Controller, one etcd): what the kernel has
// is checked with `ip -j` and `bridge -j fdb`, reachability with real TCP.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from 'etcd3';

import { Controller, NsnetError, type Network, type Sandbox } from '../src/index.js';
import { PEERS_PER_TRIP } from '../src/drivers/overlay.js';
import { ownerTag } from '../src/owner.js';
import { eventually } from './cnm-helpers.js';
import { attempt, ipj, serve, uniq } from './helpers.js';
import { cluster, programmed, type Cluster, type SimHost } from './overlay-helpers.js';

let k: Cluster;
beforeAll(async () => {
  k = await cluster(2);
});
afterAll(async () => {
  await k?.close();
});

describe('overlay', () => {
  test('sandboxes on two hosts reach each other over TCP through VXLAN (port 4789, learning off), each host holding the other\'s MAC -> VTEP and IP -> MAC', async () => {
    const [a, b] = k.hosts as [typeof k.hosts[0], typeof k.hosts[0]];
    const name = uniq('ov');
    const net = await a.c.createNetwork(name, { driver: 'overlay', subnets: ['10.50.0.0/24'] });
    expect(net.record.scope).toBe('global');
    // B sees it at once, by name.
    await eventually(async () => expect((await b.c.network(name)).id).toBe(net.id));
    const sa = await a.c.createSandbox(uniq('sa'), { networks: [name] });
    const sb = await b.c.createSandbox(uniq('sb'), { networks: [name] });
    const ia = (await sa.info()).endpoints[0]!;
    const ib = (await sb.info()).endpoints[0]!;
    expect(ia.addresses[0]).not.toBe(ib.addresses[0]);
    const st = net.record.driverState as { vxlan: string; bridge: string; vni: number };
    for (const h of [a, b]) {
      const [l] = await ipj<any[]>(h.ns.path!, '-d', 'link', 'show', st.vxlan);
      expect(l.linkinfo.info_data).toMatchObject({ id: st.vni, port: 4789, learning: false, proxy: true, local: h.address });
      expect(l.mtu).toBe(1450);
      expect(l.master).toBe(st.bridge);
    }
    await eventually(async () => {
      const pa = await programmed(a.ns, st.vxlan);
      expect(pa.fdb.get(ib.mac!)).toBe(b.address);
      expect(pa.neigh.get(ib.addresses[0]!.split('/')[0]!)).toBe(ib.mac);
      const pb = await programmed(b.ns, st.vxlan);
      expect(pb.fdb.get(ia.mac!)).toBe(a.address);
      expect(pb.neigh.get(ia.addresses[0]!.split('/')[0]!)).toBe(ia.mac);
    });
    const ipB = ib.addresses[0]!.split('/')[0]!;
    const srv = await serve(await sb.netns(), 8080, ipB, 'b');
    expect(await attempt(await sa.netns(), 8080, ipB, 3000)).toBe('connected');
    srv.server.close();
    // No default route through an overlay network: it has no gateway.
    expect((await ipj<any[]>(sa.netnsPath, 'route', 'show', 'default')).length).toBe(0);

    // B's sandbox goes: A's entries for it go; B's devices go with its last sandbox.
    await sb.delete();
    await eventually(async () => {
      const pa = await programmed(a.ns, st.vxlan);
      expect(pa.fdb.has(ib.mac!)).toBe(false);
      expect(pa.neigh.has(ipB)).toBe(false);
      expect(await b.ns.links.find(st.vxlan)).toBeNull();
    });
    await sa.delete();
    await net.delete();
    await eventually(async () => expect(await b.c.network(name).catch((e: NsnetError) => e.code)).toBe('ERR_NSNET_NOT_FOUND'));
  });

  test("eight sandboxes created at once on a host's first join of a network, then deleted at once: each create succeeds, the devices are made once and hold every peer, and the last delete removes them", async () => {
    const [a, b] = k.hosts as [SimHost, SimHost];
    const net = await a.c.createNetwork(uniq('ovc'), { driver: 'overlay', subnets: ['10.79.0.0/24'] });
    const vx = (net.record.driverState as { vxlan: string }).vxlan;
    try {
      const sa = await a.c.createSandbox(uniq('sc'), { networks: [net.name] });
      await eventually(async () => expect(b.c.ctx.global!.mirror.entries(b.c.ctx.global!.keys.dir('endpoints', net.id)).length).toBe(1));
      const sbs = await Promise.all(Array.from({ length: 8 }, () => b.c.createSandbox(uniq('sc'), { networks: [net.name] })));
      expect(sbs).toHaveLength(8);
      const ia = (await sa.info()).endpoints[0]!;
      expect((await programmed(b.ns, vx)).fdb.get(ia.mac!)).toBe(a.address);
      const brs = (await ipj<any[]>(b.ns.path!, 'link', 'show', 'type', 'bridge')).filter((l) => l.ifname === (net.record.driverState as { bridge: string }).bridge);
      expect(brs).toHaveLength(1);
      // Each sandbox reaches A's over TCP.
      const ipA = ia.addresses[0]!.split('/')[0]!;
      const srv = await serve(await sa.netns(), 8080, ipA, 'a');
      for (const sb of sbs) expect(await attempt(await sb.netns(), 8080, ipA, 3000)).toBe('connected');
      srv.server.close();
      await Promise.all(sbs.map((sb) => sb.delete()));
      expect(await b.ns.links.find(vx)).toBeNull();
      await sa.delete();
    } finally {
      for (const h of k.hosts) for (const sb of await h.c.sandboxes()) if (sb.name.startsWith('sc')) await sb.delete().catch(() => {});
      await net.delete().catch(() => {});
    }
  });

  test("a host's only sandbox on a network deleted while the next one is created, twenty times over: every create succeeds (its devices are not removed under it) and nothing is left at the end", async () => {
    const b = k.hosts[1]!;
    const net = await k.hosts[0]!.c.createNetwork(uniq('ovd'), { driver: 'overlay', subnets: ['10.80.0.0/24'] });
    const st = net.record.driverState as { vxlan: string; bridge: string };
    try {
      let last = await b.c.createSandbox(uniq('sc'), { networks: [net.name] });
      for (let i = 0; i < 20; i++) {
        // The create starts a little later each time, to meet the delete at each of its steps.
        const [, next] = await Promise.all([last.delete(), new Promise((r) => setTimeout(r, (i % 10) * 0.3)).then(() => b.c.createSandbox(uniq('sc'), { networks: [net.name] }))]);
        expect((await ipj<any[]>(next.netnsPath, 'link', 'show', 'eth0'))[0].operstate).not.toBe('DOWN');
        expect((await b.ns.links.find(st.bridge))?.ifindex).toBe((await b.ns.links.find(st.vxlan))?.master);
        last = next;
      }
      await last.delete();
      expect(await b.ns.links.find(st.vxlan)).toBeNull();
      expect(await b.ns.links.find(st.bridge)).toBeNull();
    } finally {
      for (const sb of await b.c.sandboxes()) if (sb.name.startsWith('sc')) await sb.delete().catch(() => {});
      await net.delete().catch(() => {});
    }
  });

  /**
   * A second Controller on b's state dir, standing for a second process (a
   * CLI beside the daemon): what one process knows of its own joins under
   * way, the other does not. fn gets both and a new overlay network; what
   * is left of it goes after.
   */
  async function twoProcesses(prefix: string, subnet: string, fn: (cs: [Controller, Controller], net: Network, st: { vxlan: string; bridge: string }) => Promise<void>) {
    const b = k.hosts[1]!;
    const other = await Controller.open({ stateDir: b.stateDir, host: b.ns, globalStore: k.etcd.url, advertise: b.address, firewall: 'none', register: false });
    const net = await k.hosts[0]!.c.createNetwork(uniq(prefix), { driver: 'overlay', subnets: [subnet] });
    try {
      await fn([b.c, other], net, net.record.driverState as { vxlan: string; bridge: string });
    } finally {
      for (const sb of await b.c.sandboxes()) if (sb.name.startsWith(prefix)) await sb.delete().catch(() => {});
      other.close();
      await net.delete().catch(() => {});
    }
  }

  /** sb's interface is a port of the network's bridge on b, and the VXLAN device another. */
  async function onBridge(sb: Sandbox, st: { vxlan: string; bridge: string }) {
    const b = k.hosts[1]!;
    const [ep] = await sb.endpoints();
    expect((await ipj<any[]>(b.ns.path!, 'link', 'show', 'dev', ep!.record.hostIfname!))[0].master).toBe(st.bridge);
    expect((await b.ns.links.find(st.bridge))?.ifindex).toBe((await b.ns.links.find(st.vxlan))?.master);
  }

  async function devicesGone(st: { vxlan: string; bridge: string }) {
    expect(await k.hosts[1]!.ns.links.find(st.vxlan)).toBeNull();
    expect(await k.hosts[1]!.ns.links.find(st.bridge)).toBeNull();
  }

  test("two processes of one state dir, one deleting the host's only sandbox on a network while the other creates the next, forty times over: every create succeeds with its interface on the network's bridge, and nothing is left at the end", () =>
    twoProcesses('sx', '10.83.0.0/24', async (cs, net, st) => {
      // Each round, one process deletes what it made the round before while the other makes the next.
      let last = await cs[0].createSandbox(uniq('sx'), { networks: [net.name] });
      for (let i = 0; i < 40; i++) {
        const [, next] = await Promise.all([
          last.delete(),
          new Promise((r) => setTimeout(r, i % 3)).then(() => cs[(i + 1) % 2]!.createSandbox(uniq('sx'), { networks: [net.name] })),
        ]);
        await onBridge(next, st);
        last = next;
      }
      await last.delete();
      await devicesGone(st);
    }));

  test("two processes of one state dir creating sandboxes at once on a host's first join of a network, ten rounds: both make the devices, the one that finds them made meanwhile leaves them and uses them, every create succeeds, and the last delete removes them", () =>
    twoProcesses('se', '10.82.0.0/24', async ([one, other], net, st) => {
      for (let round = 0; round < 10; round++) {
        const sbs = await Promise.all([one, other, one, other].map((c) => c.createSandbox(uniq('se'), { networks: [net.name] })));
        for (const sb of sbs) await onBridge(sb, st);
        await Promise.all(sbs.map((sb) => sb.delete()));
        await devicesGone(st);
      }
    }));

  test("a network's device that another store made on this host is never taken nor removed: the join is refused, saying whose it is, and the device is still there after", async () => {
    const b = k.hosts[1]!;
    const net = await k.hosts[0]!.c.createNetwork(uniq('ovf'), { driver: 'overlay', subnets: ['10.81.0.0/24'] });
    const st = net.record.driverState as { bridge: string };
    await b.ns.batch().addBridge({ name: st.bridge, up: true }).setLink(st.bridge, { alias: ownerTag('f'.repeat(16), net.id) }).commit();
    try {
      const err = await b.c.createSandbox(uniq('sc'), { networks: [net.name] }).catch((e: NsnetError) => e);
      expect((err as NsnetError).code).toBe('ERR_NSNET_IN_USE');
      expect((err as NsnetError).message).toMatch(/belongs to another nsnet store/);
      expect((await b.ns.links.find(st.bridge))?.alias).toBe(ownerTag('f'.repeat(16), net.id));
    } finally {
      await b.ns.links.delete(st.bridge).catch(() => {});
      await net.delete().catch(() => {});
    }
  });

  /** A network of n endpoints on five other (fictitious) hosts, written into etcd as those hosts would; the first host sees them all. */
  async function remoteNetwork(n: number) {
    const net = await k.hosts[0]!.c.createNetwork(uniq('ovs'), { driver: 'overlay', subnets: ['10.78.0.0/16'] });
    const client = new Etcd3({ hosts: `http://${k.etcd.address}:2379` });
    const hex = (x: number, w: number) => x.toString(16).padStart(w, '0');
    const hosts = Array.from({ length: 5 }, (_, h) => ({ id: hex(0xf100 + h, 16), address: `198.18.1.${h + 1}` }));
    const eps = Array.from({ length: n }, (_, i) => ({
      id: hex(0xe1000000 + i, 64), name: `f${i}`, networkId: net.id, sandboxId: hex(2, 64), ifname: 'eth0', hostIfname: null,
      mac: `02:fd:01:00:${hex(i >> 8, 2)}:${hex(i & 255, 2)}`, addresses: [`10.78.1.${i + 1}/16`], gatewayEndpoint: false, requested: [], created: '', host: hosts[i % 5]!.id,
    }));
    for (const h of hosts) await client.put(`/nsnet/v1/hosts/${h.id}`).value(JSON.stringify({ ...h, name: `fict${h.id}`, vtepMac: '02:fe:00:00:01:01', started: new Date().toISOString() }));
    for (const e of eps) await client.put(`/nsnet/v1/endpoints/${net.id}/${e.id}`).value(JSON.stringify(e));
    return {
      net,
      vx: (net.record.driverState as { vxlan: string }).vxlan,
      /** Until h's mirror holds every endpoint, and its peer sync has done what that asked. */
      async seenBy(h: SimHost) {
        const g = h.c.ctx.global!;
        await eventually(async () => expect(g.mirror.entries(g.keys.dir('endpoints', net.id)).length).toBe(n));
        await h.c.peers!.settled();
      },
      /** Every endpoint's forwarding entry (to its host) and neighbour, as `bridge -j fdb` and `ip -j neigh` show them on h. */
      async expectProgrammed(h: SimHost) {
        const p = await programmed(h.ns, this.vx);
        expect(p.fdb.size).toBe(n);
        expect(p.neigh.size).toBe(n);
        for (const e of eps) {
          expect(p.fdb.get(e.mac)).toBe(hosts.find((x) => x.id === e.host)!.address);
          expect(p.neigh.get(e.addresses[0]!.split('/')[0]!)).toBe(e.mac);
        }
      },
      async close() {
        await client.delete().prefix(`/nsnet/v1/endpoints/${net.id}/`);
        for (const h of hosts) await client.delete().key(`/nsnet/v1/hosts/${h.id}`);
        client.close();
        for (const h of k.hosts) for (const sb of await h.c.sandboxes()) if (sb.name.startsWith('sc')) await sb.delete().catch(() => {});
        await net.delete().catch(() => {});
      },
    };
  }

  test("a host's first join on a network of 150 remote endpoints programs each of them, in trips of a few dozen peers (the JS thread is never held for all of them at once), and never reads its own new device back", async () => {
    const b = k.hosts[1]!;
    const r = await remoteNetwork(150);
    try {
      await r.seenBy(b);
      const peers = b.c.peers!;
      const dumps = peers.stats.dumps;
      await b.c.createSandbox(uniq('sc'), { networks: [r.net.name] });
      expect(PEERS_PER_TRIP).toBeLessThan(150);
      expect(peers.stats.initial).toMatchObject({ peers: 150, trips: Math.ceil(150 / PEERS_PER_TRIP) });
      await r.expectProgrammed(b);
      // The device's link events have come by then; none made it read back.
      await new Promise((res) => setTimeout(res, 300));
      await peers.settled();
      expect(peers.stats.dumps).toBe(dumps);
    } finally {
      await r.close();
    }
  });

  test("a trip after the one that made the devices fails: the join still succeeds and the devices stay (another join may use them), and the peer sync reads the device back and programs the peers that trip missed", async () => {
    let fail = false;
    const c = await k.add({ faults: (step) => {
      if (step === 'overlay.peers' && fail) {
        fail = false;
        throw new Error('injected: a later trip of peers fails');
      }
    } });
    const r = await remoteNetwork(150);
    try {
      await r.seenBy(c);
      const dumps = c.c.peers!.stats.dumps;
      fail = true;
      const sb = await c.c.createSandbox(uniq('sc'), { networks: [r.net.name] });
      expect(fail).toBe(false); // the fault struck
      expect((await sb.info()).endpoints).toHaveLength(1);
      expect(await c.ns.links.find(r.vx)).not.toBeNull();
      await eventually(async () => r.expectProgrammed(c));
      expect(c.c.peers!.stats.dumps).toBeGreaterThan(dumps);
    } finally {
      await r.close();
    }
  });
});

describe('bad input changes nothing', () => {
  const keys = () => k.etcd.ctl('get', '--prefix', '--keys-only', '/nsnet/v1/').split('\n').filter(Boolean).sort();

  test('an overlapping global subnet, a VNI in use and a name two hosts race for are refused with clear errors; etcd keeps what it had', async () => {
    const [a, b] = k.hosts as [typeof k.hosts[0], typeof k.hosts[0]];
    const first = await a.c.createNetwork(uniq('ovx'), { driver: 'overlay', subnets: ['10.70.0.0/24'], options: { vni: '5000' } });
    await eventually(async () => expect((await b.c.network(first.name)).id).toBe(first.id));
    const before = keys();
    const overlap = await b.c.createNetwork(uniq('ovy'), { driver: 'overlay', subnets: ['10.70.0.128/25'] }).catch((e) => e);
    expect(overlap.code).toBe('ERR_NSNET_OVERLAP');
    expect(overlap.message).toContain(first.name);
    const vni = await b.c.createNetwork(uniq('ovz'), { driver: 'overlay', subnets: ['10.71.0.0/24'], options: { vni: '5000' } }).catch((e) => e);
    expect(vni.code).toBe('ERR_NSNET_IN_USE');
    expect(vni.message).toMatch(/VNI 5000 is in use by network/);
    expect(keys()).toEqual(before);
    // Two hosts create one name at once: one wins, the other is told it exists.
    const name = uniq('race');
    const r = await Promise.allSettled([a.c.createNetwork(name, { driver: 'overlay', subnets: ['10.72.0.0/24'] }), b.c.createNetwork(name, { driver: 'overlay', subnets: ['10.73.0.0/24'] })]);
    expect(r.filter((x) => x.status === 'fulfilled').length).toBe(1);
    expect((r.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason.code).toBe('ERR_NSNET_EXISTS');
    await (await a.c.network(name)).delete();
    await first.delete();
  });

  test('an unreachable etcd URL fails the open within its timeout, saying so, and changes nothing in the kernel', async () => {
    const h = k.hosts[0]!;
    const links = (await h.ns.links.list()).map((l) => l.name).sort();
    for (const url of [`etcd://${k.ul.net}.99:2379`, `etcd://${k.ul.net}.1:2399`]) {
      const t0 = Date.now();
      const e = await Controller.open({ stateDir: h.stateDir, host: h.ns, globalStore: url, advertise: h.address, firewall: 'none' }).catch((x) => x);
      expect(e).toBeInstanceOf(NsnetError);
      expect(e.code).toBe('ERR_NSNET_GLOBAL_STORE');
      expect(e.message).toMatch(new RegExp(`global store ${url.replace(/\./g, '\\.')}: open: etcd is unreachable`));
      expect(Date.now() - t0).toBeLessThan(8000);
    }
    expect((await h.ns.links.list()).map((l) => l.name).sort()).toEqual(links);
    const bad = await Controller.open({ stateDir: h.stateDir, host: h.ns, globalStore: 'etcd:/x', firewall: 'none' }).catch((x) => x);
    expect(bad.code).toBe('ERR_NSNET_INVALID');
  });

  test("a malformed value someone else wrote under nsnet's prefix is named in a clear error where it is read, skipped in listings, and never overwritten", async () => {
    const [a, b] = k.hosts as [typeof k.hosts[0], typeof k.hosts[0]];
    const net = await a.c.createNetwork(uniq('ovm'), { driver: 'overlay', subnets: ['10.74.0.0/24'] });
    k.etcd.ctl('put', '/nsnet/v1/names/junkname', 'not-an-id');
    k.etcd.ctl('put', `/nsnet/v1/endpoints/${net.id}/${'e'.repeat(64)}`, '{"id": "nope"');
    await eventually(async () => expect((await b.c.network('junkname').catch((e) => e)).code).toBe('ERR_NSNET_STORE'));
    const e = await b.c.network('junkname').catch((x) => x);
    expect(e.message).toContain('/nsnet/v1/names/junkname');
    expect(e.message).toMatch(/not an nsnet id/);
    const taken = await b.c.createNetwork('junkname', { driver: 'overlay', subnets: ['10.75.0.0/24'] }).catch((x) => x);
    expect(taken.code).toBe('ERR_NSNET_STORE');
    expect(k.etcd.ctl('get', '--print-value-only', '/nsnet/v1/names/junkname').trim()).toBe('not-an-id');
    // Listings go on past it, and so does programming the peers.
    expect((await b.c.networks()).some((n) => n.id === net.id)).toBe(true);
    const sa = await a.c.createSandbox(uniq('ma'), { networks: [net.name] });
    const sb = await b.c.createSandbox(uniq('mb'), { networks: [net.name] });
    const ia = (await sa.info()).endpoints[0]!;
    await eventually(async () => expect((await programmed(b.ns, (net.record.driverState as { vxlan: string }).vxlan)).fdb.get(ia.mac!)).toBe(a.address));
    k.etcd.ctl('del', '--prefix', '/nsnet/v1/names/junkname');
    k.etcd.ctl('del', `/nsnet/v1/endpoints/${net.id}/${'e'.repeat(64)}`);
    await sa.delete();
    await sb.delete();
    await net.delete();
  });
});

/** A TCP proxy to etcd in this process that can cut every connection (a partition) and come back, or drop the next few it accepts. */
async function proxy(to: { host: string; port: number }) {
  const { createServer, connect } = await import('node:net');
  const socks = new Set<import('node:net').Socket>();
  let up = true;
  let drops = 0;
  let dropped = 0;
  const srv = createServer((c) => {
    if (!up) return void c.destroy();
    if (drops > 0) {
      drops--;
      dropped++;
      socks.add(c);
      c.on('close', () => socks.delete(c));
      // Once the client has sent its first bytes: a connection lost as it
      // comes up, which gRPC reports as UNAVAILABLE to the calls waiting on it.
      return void c.once('data', () => c.destroy());
    }
    const u = connect(to.port, to.host);
    for (const s of [c, u]) {
      socks.add(s);
      s.on('error', () => {});
      s.on('close', () => socks.delete(s));
    }
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `etcd://127.0.0.1:${(srv.address() as import('node:net').AddressInfo).port}/nsnet`,
    cut() {
      up = false;
      for (const s of socks) s.destroy();
    },
    restore() {
      up = true;
    },
    /** The next n connections are dropped once the client has written to them. */
    drop(n: number) {
      drops = n;
    },
    /** How many connections drop() has dropped. */
    get dropped() {
      return dropped;
    },
    /** Closes every connection too: gRPC keeps a closed client's connection open for a while. */
    close() {
      const closed = new Promise<void>((r) => srv.close(() => r()));
      this.cut();
      return closed;
    },
  };
}

describe('consistency', () => {
  test("a connection to etcd dropped while a store opens or registers its host is only a moment's: each tries again within its timeout and succeeds", async () => {
    const { GlobalStore } = await import('../src/index.js');
    const p = await proxy({ host: `${k.ul.net}.1`, port: 2379 });
    const id = '0123456789abcdee';
    const key = `/nsnet/v1/hosts/${id}`;
    let g: Awaited<ReturnType<typeof GlobalStore.open>> | undefined;
    try {
      p.drop(1);
      g = await GlobalStore.open({ url: p.url, hostId: id, timeoutMs: 3000 });
      expect(p.dropped).toBe(1);
      expect(g.mirror.synced).toBe(true);
      // A partition that has just healed, and the next connection dropped as well: the grant finds no connection.
      p.cut();
      p.restore();
      p.drop(1);
      await g.register({ address: '198.18.9.9', vtepMac: '02:fe:00:00:09:09', ttl: 3, republish: async () => {} });
      expect(p.dropped).toBe(2);
      expect(g.registered).toBe(true);
      expect(JSON.parse(k.etcd.ctl('get', '--print-value-only', key)).address).toBe('198.18.9.9');
    } finally {
      await g?.close();
      await p.close();
      k.etcd.ctl('del', key);
    }
  });

  test('a watch cut off resumes from its last revision (no re-listing); one whose revision was compacted meanwhile lists afresh and reports every difference, deletions included', async () => {
    const { GlobalStore } = await import('../src/index.js');
    const p = await proxy({ host: `${k.ul.net}.1`, port: 2379 });
    const g = await GlobalStore.open({ url: p.url, hostId: '0123456789abcdef', timeoutMs: 1000 });
    const seen: string[] = [];
    g.mirror.on('change', (cs: { key: string; after: unknown }[]) => seen.push(...cs.map((c) => `${c.after ? 'put' : 'del'} ${c.key}`)));
    const id = (n: number) => n.toString(16).padStart(64, '0');
    const key = (n: number) => `/nsnet/v1/vnis/${7000 + n}`;
    try {
      k.etcd.ctl('put', key(1), id(1));
      await eventually(async () => expect(g.mirror.get(key(1))?.raw).toBe(id(1)));
      p.cut();
      k.etcd.ctl('put', key(2), id(2));
      k.etcd.ctl('del', key(1));
      p.restore();
      await eventually(async () => {
        expect(g.mirror.get(key(2))?.raw).toBe(id(2));
        expect(g.mirror.get(key(1))).toBeNull();
      }, 10_000);
      expect(g.mirror.relists).toBe(0);
      expect(seen).toEqual([`put ${key(1)}`, `put ${key(2)}`, `del ${key(1)}`]);

      // Cut off again; meanwhile changes, then a compaction past them.
      p.cut();
      k.etcd.ctl('put', key(3), id(3));
      k.etcd.ctl('del', key(2));
      const rev = JSON.parse(k.etcd.ctl('get', key(3), '-w', 'json')).header.revision;
      k.etcd.ctl('compact', String(rev));
      p.restore();
      await eventually(async () => {
        expect(g.mirror.get(key(3))?.raw).toBe(id(3));
        expect(g.mirror.get(key(2))).toBeNull();
      }, 10_000);
      expect(g.mirror.relists).toBe(1);
      expect(seen.slice(3).sort()).toEqual([`del ${key(2)}`, `put ${key(3)}`].sort());
    } finally {
      await g.close();
      await p.close();
      k.etcd.ctl('del', '--prefix', '/nsnet/v1/vnis/7');
    }
  });

  test("reconcile on start brings the kernel in line with etcd both ways: a lost entry is put back, a stranger's removed, and this host's endpoint missing from etcd published again", async () => {
    const [a, b] = k.hosts as [typeof k.hosts[0], typeof k.hosts[0]];
    const net = await a.c.createNetwork(uniq('ovr'), { driver: 'overlay', subnets: ['10.76.0.0/24'] });
    const vx = (net.record.driverState as { vxlan: string }).vxlan;
    const sa = await a.c.createSandbox(uniq('ra'), { networks: [net.name] });
    const sb = await b.c.createSandbox(uniq('rb'), { networks: [net.name] });
    const ia = (await sa.info()).endpoints[0]!;
    const ib = (await sb.info()).endpoints[0]!;
    await eventually(async () => expect((await programmed(b.ns, vx)).fdb.get(ia.mac!)).toBe(a.address));
    // B stops; behind its back its kernel and etcd change.
    b.c.close();
    await b.ns.batch().deleteFdb({ lladdr: ia.mac!, dev: vx }).deleteNeighbour({ dst: ia.addresses[0]!.split('/')[0]!, dev: vx })
      .replaceFdb({ lladdr: '02:00:00:00:00:99', dev: vx, dst: '192.0.2.99' }).replaceNeighbour({ dst: '10.76.0.250', lladdr: '02:00:00:00:00:99', dev: vx }).commit();
    k.etcd.ctl('del', `/nsnet/v1/endpoints/${net.id}/${ib.id}`);
    await eventually(async () => expect((await programmed(a.ns, vx)).fdb.has(ib.mac!)).toBe(false));
    await b.reopen();
    const p = await programmed(b.ns, vx);
    expect([...p.fdb]).toEqual([[ia.mac!, a.address]]);
    expect([...p.neigh]).toEqual([[ia.addresses[0]!.split('/')[0]!, ia.mac!]]);
    expect(k.etcd.ctl('get', '--print-value-only', `/nsnet/v1/endpoints/${net.id}/${ib.id}`)).toContain(ib.mac!);
    await eventually(async () => expect((await programmed(a.ns, vx)).fdb.get(ib.mac!)).toBe(b.address));
    await sa.delete();
    await (await b.c.sandbox(sb.id)).delete();
    await net.delete();
  });
});
