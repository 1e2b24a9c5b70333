// Two stores side by side on one host (two state dirs, as two runtimes or
// `nsnet --state-dir` would have): whatever one does (open, reconcile, list,
// create, delete, remove its own network), the other's sandbox keeps its
// traffic through its published port, and its objects are as they were in
// `ip -j` and `nft -j`. And a new, empty store changes nothing at all.
// Each store also has an external sandbox (a runtime's namespace, as a CNI
// ADD gives one): attributed to its store by its host veth's alias, while
// the runtime's namespace carries no tag of anyone's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Controller, createSandbox, Netns } from '../src/index.js';
import { fetchTcp, ipj, serve, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

let host: Netns;
let outside: Netns;
const UP = '198.51.100.1';
const dirs: string[] = [];
const servers: Server[] = [];

interface Side {
  stateDir: string;
  id: string;
  net: string;
  bridge: string;
  sandbox: string;
  veth: string;
  port: number;
  /** The runtime's namespace of the external sandbox, and that sandbox's host veth. */
  runtime: Netns;
  extVeth: string;
}
let a: Side;
let b: Side;

const open = (s: { stateDir: string }) => Controller.open({ stateDir: s.stateDir, host });

async function side(tag: string, subnet: string, port: number): Promise<Side> {
  const stateDir = await mkdtemp(join(tmpdir(), `nsnet-own${tag}-`));
  dirs.push(stateDir);
  const c = await open({ stateDir });
  try {
    const net = await c.createNetwork(uniq(`on${tag}`), { subnets: [subnet] });
    const sb = await createSandbox(c, { name: uniq(`os${tag}`), mode: { network: net.name }, ports: [`${port}:80`] });
    servers.push((await serve(await sb.netns(), 80, '0.0.0.0', `store ${tag}`)).server);
    const info = await sb.info();
    const runtime = await Netns.create(uniq(`ort${tag}`));
    const ext = await c.createSandbox(uniq(`oxs${tag}`), { netnsPath: runtime.path!, networks: [{ network: net.name, ports: [`${port + 10}:80`] }] });
    servers.push((await serve(runtime, 80, '0.0.0.0', `store ${tag} external`)).server);
    const extVeth = (await ext.info()).endpoints[0]!.hostIfname!;
    return { stateDir, id: c.store.id, net: net.name, bridge: (await net.info()).bridge!, sandbox: sb.name, veth: info.endpoints[0]!.hostIfname!, port, runtime, extVeth };
  } finally {
    c.close();
  }
}

/** What the kernel holds of one store: its bridge and veths as `ip -j` shows them, its elements in nsnet's table, its namespace, the runtime's namespace. */
async function objectsOf(s: Side) {
  const links = (await ipj<any[]>(host.name!, 'link', 'show'))
    .filter((l) => l.ifname === s.bridge || l.ifname === s.veth || l.ifname === s.extVeth)
    .map((l) => ({ name: l.ifname, master: l.master ?? null, state: l.operstate, mac: l.address, flags: l.flags }));
  const addrs = (await ipj<any[]>(host.name!, 'addr', 'show', 'dev', s.bridge).catch(() => [])).flatMap((l) => l.addr_info.map((x: any) => `${x.local}/${x.prefixlen}`));
  const nft = await nftj(host.name!);
  const mentions = (x: unknown) => [s.bridge, `${s.port}`, `${s.port + 10}`].some((m) => JSON.stringify(x).includes(m));
  const elements = [...ofKind(nft, 'set'), ...ofKind(nft, 'map')].map((m) => [m.name, (m.elem ?? []).filter(mentions)]);
  const netns = (await ipj<{ name: string }[]>(null, 'netns', 'list')).some((n) => n.name === s.sandbox);
  const runtime = (await ipj<any[]>(s.runtime.name!, 'addr', 'show')).map((l) => ({ name: l.ifname, alias: l.ifalias ?? null, state: l.operstate, addrs: l.addr_info.map((x: any) => x.local) }));
  return { links, addrs, elements, netns, runtime };
}

/** A store's sandboxes (its own and the external one) answer through their published ports, from outside the host. */
async function reachable(s: Side) {
  expect(await fetchTcp(outside, s.port, UP)).toBe(`store ${s === a ? 'a' : 'b'}`);
  expect(await fetchTcp(outside, s.port + 10, UP)).toBe(`store ${s === a ? 'a' : 'b'} external`);
}

beforeAll(async () => {
  host = await Netns.create(uniq('own'));
  outside = await Netns.create(uniq('owo'));
  await host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } }).addAddress('up0', `${UP}/24`).commit();
  await outside.batch().setUp('eth0').addAddress('eth0', '198.51.100.2/24').commit();
  a = await side('a', '10.171.0.0/24', 8301);
  b = await side('b', '10.172.0.0/24', 8302);
});

afterAll(async () => {
  for (const s of servers) s.close();
  for (const d of dirs) {
    const c = await open({ stateDir: d }).catch(() => null);
    for (const sb of (await c?.sandboxes()) ?? []) await sb.delete({ force: true }).catch(() => {});
    for (const n of (await c?.networks()) ?? []) await n.delete({ force: true }).catch(() => {});
    c?.close();
    await rm(d, { recursive: true, force: true });
  }
  for (const s of [a, b]) await s?.runtime.delete();
  await outside?.delete();
  await host?.delete();
});

describe('two stores on one host', () => {
  test('both sandboxes answer through their published ports', async () => {
    await reachable(a);
    await reachable(b);
  });

  test("what each store makes carries its id: the bridge's and the veths' alias (the external sandbox's too), lo's alias in its own sandbox, every element's comment; the runtime's namespace carries none", async () => {
    for (const s of [a, b]) {
      const links = await ipj<any[]>(host.name!, 'link', 'show');
      for (const l of [s.bridge, s.veth, s.extVeth]) expect(links.find((x) => x.ifname === l)?.ifalias).toMatch(new RegExp(`^nsnet ${s.id} [0-9a-f]{64}$`));
      expect((await ipj<any[]>(s.sandbox, 'link', 'show', 'lo'))[0].ifalias).toMatch(new RegExp(`^nsnet ${s.id} [0-9a-f]{64}$`));
      expect((await ipj<any[]>(s.runtime.name!, 'link', 'show')).map((l) => l.ifalias ?? null)).toEqual([null, null]);
    }
    const comments = [...ofKind(await nftj(host.name!), 'set'), ...ofKind(await nftj(host.name!), 'map')]
      .flatMap((m) => (m.elem ?? []) as any[])
      .map((e) => (Array.isArray(e) ? e[0] : e)?.elem?.comment ?? 'none');
    expect(comments.length).toBeGreaterThan(0);
    expect(new Set(comments)).toEqual(new Set([`nsnet ${a.id}`, `nsnet ${b.id}`]));
  });

  test('a new, empty store opened and reconciled beside them changes nothing of either: no interface, element or namespace', async () => {
    const before = [await objectsOf(a), await objectsOf(b)];
    const wholeNft = await nftj(host.name!);
    const empty = { stateDir: await mkdtemp(join(tmpdir(), 'nsnet-own-empty-')) };
    dirs.push(empty.stateDir);
    const c = await open(empty);
    try {
      const r = await c.reconcile();
      expect(r).toMatchObject({ sandboxesRemoved: [], interfacesRemoved: [], bridgesRestored: [], errors: [] });
      expect(r.foreignInterfaces.sort()).toEqual([a.bridge, a.veth, a.extVeth, b.bridge, b.veth, b.extVeth].sort());
      expect(r.firewall).toMatchObject({ dropped: false, rebuilt: false, elementsRemoved: 0 });
      expect((await c.networks()).map((n) => n.name).sort()).toEqual(['host', 'none']);
    } finally {
      c.close();
    }
    expect([await objectsOf(a), await objectsOf(b)]).toEqual(before);
    expect(await nftj(host.name!)).toEqual(wholeNft);
    await reachable(a);
    await reachable(b);
  });

  test('every command on store a (open, reconcile, ls, create and delete a sandbox, remove its own network) leaves b\'s objects untouched and its traffic working', async () => {
    const bBefore = await objectsOf(b);
    const c = await open(a);
    try {
      const steps: [string, () => Promise<unknown>][] = [
        ['reconcile', () => c.reconcile()],
        ['network ls', () => c.networks()],
        ['sandbox ls', () => c.sandboxes()],
        ['sandbox create with a port', async () => (await createSandbox(c, { name: uniq('ox'), mode: { network: a.net }, ports: ['8303:80'] })).delete()],
        ['network rm', async () => (await c.network(a.net)).delete({ force: true })],
        ['reconcile after', () => c.reconcile()],
        ['gc --orphans', () => c.gc({ orphans: true })],
      ];
      for (const [what, run] of steps) {
        await run();
        expect([what, await objectsOf(b)]).toEqual([what, bBefore]);
        await reachable(b);
      }
    } finally {
      // The external sandbox's interface deletion, deferred by network rm, done now.
      await c.settled();
      c.close();
    }
    // a's network is gone, and nothing of it is left; b's table stays, with b's elements.
    expect((await objectsOf(a)).links).toEqual([]);
    expect(ofKind(await nftj(host.name!), 'table').map((t) => t.name)).toContain('nsnet');
  });

  test("gc looks into namespaces by lo's alias: another store's sandbox is listed and left, this store's leftover (tagged, no sandbox) goes", async () => {
    const leftover = await Netns.create(uniq('olft'));
    await leftover.links.set('lo', { alias: `nsnet ${a.id} ${'0'.repeat(64)}` });
    leftover.close();
    const c = await open(a);
    try {
      const r = await c.gc();
      expect(r.foreignNamespaces).toContain(b.sandbox);
      expect(r.namespacesRemoved).toEqual([leftover.name]);
      expect(r.found).toContain(`namespace ${leftover.name}: this store's, no sandbox of it: removed`);
    } finally {
      c.close();
    }
    const names = (await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name);
    expect(names).toContain(b.sandbox);
    expect(names).toContain(b.runtime.name);
    expect(names).not.toContain(leftover.name);
    await reachable(b);
  });

  test('the last store to remove its network removes the shared table', async () => {
    const c = await open(b);
    try {
      await (await c.network(b.net)).delete({ force: true });
    } finally {
      c.close();
    }
    expect(ofKind(await nftj(host.name!), 'table').map((t) => t.name)).not.toContain('nsnet');
  });
});
