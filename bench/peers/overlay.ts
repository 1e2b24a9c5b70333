// Suite (l), overlay: global networks across simulated hosts, each a
// namespace on an underlay bridge with its own state dir and Controller,
// against one etcd (Debian's, data on tmpfs) in this fresh namespace.
//  - convergence: a join on host A until host B has programmed its
//    forwarding and neighbour entries (B's PeerSync says so);
//  - create + join of a sandbox on an overlay network against a local
//    bridge network's, paired in one process (the etcd transaction included);
//  - scale: 200 hosts' endpoints written to etcd as records with fictitious
//    VTEPs, one real host following: the initial programming of 1k to 4k
//    peers (a first join on that network: one batch), and a burst of 1000
//    changes (written in transactions of 100, as a busy cluster does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Etcd3 } from 'etcd3';
import { Controller, Netns } from 'nsnet';

import { Etcd, underlay } from '../lib/etcd.js';
import { ownTurn } from '../lib/fresh.js';

export interface OverlayRun {
  /** ms from the start of A's createSandbox until B had the entries. */
  convergenceMs: number[];
  /** ms of A's createSandbox on the overlay in the convergence runs. */
  joinMs: number[];
  bridgeMs: number[];
  overlayMs: number[];
  /** Per pair: overlay minus bridge (A already has a sandbox on the overlay, so its devices are there). */
  pairMs: number[];
  /** The same where each overlay create is A's first join on the network (it makes the devices; its delete removes them). */
  firstOverlayMs: number[];
  firstPairMs: number[];
  /** Per size: the whole first join, the trips that made the devices with every peer, per peer, and how many. */
  scale: { peers: number; ms: number; tripMs: number; perEntryUs: number; trips: number }[];
  burst: { changes: number; ms: number; perEntryUs: number; trips: number; entries: number };
  retries: number;
}

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

export async function runOverlay(o: { joins: number; pairs: number; sizes: number[]; burst: number }): Promise<OverlayRun> {
  const ul = await underlay('10.250.0');
  await ul.plugSelf();
  const etcd = new Etcd(ul.ns, '10.250.0.1');
  await etcd.start();
  const dirs: string[] = [];
  const hosts: { ns: Netns; c: Controller }[] = [];
  for (let i = 0; i < 3; i++) {
    const ns = await Netns.create(`ovh${i}`);
    const address = await ul.plug(ns, 10 + i);
    const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-ovb-'));
    dirs.push(stateDir);
    hosts.push({ ns, c: await Controller.open({ stateDir, host: ns, globalStore: etcd.url, advertise: address, firewall: 'none' }) });
  }
  const [a, b, c] = hosts as [typeof hosts[0], typeof hosts[0], typeof hosts[0]];
  const client = new Etcd3({ hosts: `http://10.250.0.1:2379` });
  try {
    const ov = await a.c.createNetwork('ov', { driver: 'overlay', subnets: ['10.201.0.0/16'] });
    await a.c.createNetwork('br', { subnets: ['10.202.0.0/16'] });
    for (const h of [b, c]) await h.c.createSandbox(`peer${hosts.indexOf(h)}`, { networks: ['ov'] });
    await (await a.c.createSandbox('warm', { networks: ['ov'] })).delete();
    await (await a.c.createSandbox('warmb', { networks: ['br'] })).delete();

    // Convergence: B's PeerSync reports each batch; the join is converged when B has its MAC.
    const run: OverlayRun = { convergenceMs: [], joinMs: [], bridgeMs: [], overlayMs: [], pairMs: [], firstOverlayMs: [], firstPairMs: [], scale: [], burst: { changes: 0, ms: 0, perEntryUs: 0, trips: 0, entries: 0 }, retries: 0 };
    const peers = b.c.peers!;
    let waiting: { mac: string; gone: boolean; done: () => void } | null = null;
    peers.onProgrammed = () => {
      if (waiting && peers.has(ov.id, waiting.mac) !== waiting.gone) waiting.done();
    };
    const until = (mac: string, gone: boolean) =>
      new Promise<void>((resolve) => {
        waiting = { mac, gone, done: resolve };
        if (peers.has(ov.id, mac) !== gone) resolve();
      });
    for (let i = 0; i < o.joins; i++) {
      const t0 = performance.now();
      const sb = await a.c.createSandbox(`cv${i}`, { networks: ['ov'] });
      const t1 = performance.now();
      const mac = (await sb.info()).endpoints[0]!.mac!;
      await until(mac, false);
      run.convergenceMs.push(performance.now() - t0);
      run.joinMs.push(t1 - t0);
      await sb.delete();
      await until(mac, true);
    }
    waiting = null;

    // Scale: 200 fictitious hosts, their endpoints on one network per size; B's first join programs them all.
    const put = async (kvs: [string, string][]) => {
      for (let i = 0; i < kvs.length; i += 100) {
        await client.kv.txn({ compare: [], success: kvs.slice(i, i + 100).map(([k, v]) => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } })), failure: [] });
      }
    };
    await ownTurn();
    await put(Array.from({ length: 200 }, (_, h) => [`/nsnet/v1/hosts/${hex(0xf000 + h, 16)}`,
      JSON.stringify({ id: hex(0xf000 + h, 16), name: `fict${h}`, address: `198.18.${h >> 8}.${h & 255}`, vtepMac: `02:fe:00:00:${hex(h >> 8, 2)}:${hex(h & 255, 2)}`, started: new Date().toISOString() })]));
    const ep = (net: { id: string }, i: number) => {
      const id = hex(0xe0000000 + i, 64);
      return [`/nsnet/v1/endpoints/${net.id}/${id}`, JSON.stringify({
        id, name: `f${i}`, networkId: net.id, sandboxId: hex(1, 64), ifname: 'eth0', hostIfname: null, mac: `02:fd:00:${hex(i >> 16, 2)}:${hex((i >> 8) & 255, 2)}:${hex(i & 255, 2)}`,
        addresses: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/8`], gatewayEndpoint: false, requested: [], created: '', host: hex(0xf000 + (i % 200), 16),
      })] as [string, string];
    };
    let last: { id: string } | null = null;
    for (const size of o.sizes) {
      const net = await a.c.createNetwork(`sc${size}`, { driver: 'overlay', subnets: [`10.${203 + o.sizes.indexOf(size)}.0.0/16`] });
      await ownTurn();
      await put(Array.from({ length: size }, (_, i) => ep(net, i)));
      // Every simulated host takes the records in (they share this process's
      // JS thread, so one still parsing them would be timed as B's trip).
      for (const h of hosts) {
        const g = h.c.ctx.global!;
        while (g.mirror.entries(g.keys.dir('endpoints', net.id)).length < size) await new Promise((r) => setTimeout(r, 20));
        await h.c.peers?.settled();
      }
      const trips = peers.stats.trips;
      const t0 = performance.now();
      await b.c.createSandbox(`sc${size}`, { networks: [net.name] });
      const ms = performance.now() - t0;
      const trip = peers.stats.initial!;
      if (trip.peers !== size) throw new Error(`the first join programmed ${trip.peers} peers, not ${size}`);
      run.scale.push({ peers: size, ms, tripMs: trip.ms, perEntryUs: (trip.ms * 1000) / size, trips: trip.trips + peers.stats.trips - trips });
      last = net;
    }

    // A burst of changes to the last (largest) network: half its peers go, as many new ones come.
    if (last) {
      const net = last;
      const size = o.sizes[o.sizes.length - 1]!;
      await peers.settled();
      const before = { trips: peers.stats.trips, entries: peers.stats.entries };
      const half = o.burst / 2;
      const t0 = performance.now();
      for (let i = 0; i < half; i += 50) {
        await client.kv.txn({
          compare: [],
          success: [
            ...Array.from({ length: 50 }, (_, j) => ({ request_delete_range: { key: Buffer.from(ep(net, i + j)[0]) } })),
            ...Array.from({ length: 50 }, (_, j) => {
              const [k, v] = ep(net, size + i + j);
              return { request_put: { key: Buffer.from(k), value: Buffer.from(v) } };
            }),
          ],
          failure: [],
        });
      }
      const want = ep(net, size + half - 1)[1];
      const mac = (JSON.parse(want) as { mac: string }).mac;
      while (!peers.has(net.id, mac) || peers.count(net.id) !== size) await new Promise((r) => setTimeout(r, 2));
      const ms = performance.now() - t0;
      run.burst = { changes: o.burst, ms, perEntryUs: (ms * 1000) / o.burst, trips: peers.stats.trips - before.trips, entries: peers.stats.entries - before.entries };
    }
    // Create + join, overlay against bridge, in pairs of alternating order.
    // Last, with B's and C's peer programming stopped: they are other
    // machines, whose work would land on this one process's thread. First
    // with A holding a sandbox on ov, so its devices are there as the
    // bridge network's bridge is (the bar's case: a host already on the
    // network); then without, so each overlay create is A's first join and
    // makes the bridge and the VXLAN device with its peers, and each
    // delete removes them.
    for (const h of [b, c]) h.c.peers?.close();
    const pairs = async (tag: string) => {
      const out = { bridge: [] as number[], overlay: [] as number[], diff: [] as number[] };
      for (let i = 0; i < o.pairs; i++) {
        const ms: Record<string, number> = {};
        for (const net of i % 2 ? ['br', 'ov'] : ['ov', 'br']) {
          const t0 = performance.now();
          const sb = await a.c.createSandbox(`${tag}${net}${i}`, { networks: [net] });
          ms[net] = performance.now() - t0;
          await sb.delete();
        }
        out.bridge.push(ms.br!);
        out.overlay.push(ms.ov!);
        out.diff.push(ms.ov! - ms.br!);
      }
      return out;
    };
    const hold = await a.c.createSandbox('hold', { networks: ['ov'] });
    const steady = await pairs('p');
    await hold.delete();
    const first = await pairs('f');
    Object.assign(run, { bridgeMs: steady.bridge, overlayMs: steady.overlay, pairMs: steady.diff, firstOverlayMs: first.overlay, firstPairMs: first.diff });

    run.retries = hosts.reduce((n, h) => n + ((h.c.store as { retries?: number }).retries ?? 0), 0);
    return run;
  } finally {
    client.close();
    for (const h of hosts) {
      h.c.close();
      await h.ns.delete();
    }
    await etcd.close();
    await ul.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
