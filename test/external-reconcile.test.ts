// External sandboxes (a runtime's namespace, as a CNI ADD hands it over)
// under reconcile and gc: what nsnet made for one carries its store's tags
// and the runtime's namespace carries none; reconcile verifies and mends
// what nsnet made there, never the namespace itself; a deletion nsnet
// deferred is no breakage to reconcile, and what a process killed during
// one leaves, reconcile removes; gc --orphans never reaches into a
// namespace that is not its store's, in nsnet's run dir or outside it.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Controller, Netns, type Sandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { ip, ipj, nsExec, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

let w: World;
/** Runtimes' namespaces live here, outside nsnet's run dir. */
let runtimeDir: string;
beforeAll(async () => {
  w = await world('xrc');
  runtimeDir = mkdtempSync(join(tmpdir(), 'nsnet-xrt-'));
});
afterAll(async () => {
  await w.cleanup();
  // Netns.create made the run dir a mount of its own, as `ip netns` does /run/netns.
  execFileSync('umount', ['-l', runtimeDir]);
  rmSync(runtimeDir, { recursive: true, force: true });
});

const runtime = () => Netns.create(uniq('xrt'), { runDir: runtimeDir });
const linkNames = async (ns: string) => (await ipj<any[]>(ns, 'link', 'show')).map((l) => l.ifname as string).sort();
/** The DNAT elements of nsnet's table in the world's host, with their comments. */
const dnat = async () => ofKind(await nftj(w.host.name!), 'map').filter((m: any) => String(m.name).startsWith('dnat')).flatMap((m: any) => m.elem ?? []);
/** One ping from the world's host (the bridge's gateway) to addr. */
const pings = async (addr: string) => {
  await nsExec(w.host.name!, 'ping', '-c', '1', '-W', '2', addr);
  return true;
};

async function external(subnet: string, o: { ports?: string[] } = {}) {
  const net = await w.c.createNetwork(uniq('xcn'), { subnets: [subnet] });
  const rt = await runtime();
  const sb = await w.c.createSandbox(uniq('xcs'), { netnsPath: rt.path!, networks: [{ network: net.name, ...(o.ports ? { ports: o.ports } : {}) }] });
  const ep = (await sb.info()).endpoints[0]!;
  return { net, rt, sb, veth: ep.hostIfname!, addr: ep.addresses[0]!.split('/')[0]!, bridge: (await net.info()).bridge! };
}

async function done(x: { net: { delete(o?: { force?: boolean }): Promise<void> }; rt: Netns; sb: Sandbox }) {
  await x.sb.delete({ wait: true }).catch(() => {});
  expect(await w.c.settled()).toEqual([]);
  await x.rt.delete();
  await x.net.delete({ force: true });
}

describe('external sandboxes under reconcile and gc', () => {
  test("what nsnet made for an external sandbox carries its store's tags (the host veth's alias, the port's element comment); the runtime's namespace gets none: its lo has no alias", async () => {
    const x = await external('10.231.0.0/24', { ports: ['18231:80'] });
    const [veth] = await ipj<any[]>(w.host.name!, 'link', 'show', x.veth);
    expect(veth.ifalias).toMatch(new RegExp(`^nsnet ${w.c.store.id} [0-9a-f]{64}$`));
    const [lo] = await ipj<any[]>(x.rt.path!, 'link', 'show', 'lo');
    expect(lo.ifalias).toBeUndefined();
    const comments = (await dnat()).map((e: any) => (Array.isArray(e) ? e[0] : e)?.elem?.comment ?? 'none');
    expect(comments.length).toBeGreaterThan(0);
    expect(new Set(comments)).toEqual(new Set([`nsnet ${w.c.store.id}`]));
    await done(x);
  });

  test('reconcile mends what nsnet made in an external sandbox (a veth detached from its bridge, a lost address and default route, a deleted veth), traffic flows again each time, and the namespace stays', async () => {
    const x = await external('10.232.0.0/24');
    expect(await pings(x.addr)).toBe(true);

    await ip(w.host.name!, 'link', 'set', x.veth, 'nomaster');
    let r = await w.c.reconcile();
    expect(r.found).toEqual([`sandbox ${x.sb.name}: mended: ${x.veth} attached to ${x.bridge}`]);
    expect(await pings(x.addr)).toBe(true);

    await ip(x.rt.path!, 'addr', 'flush', 'dev', 'eth0');
    r = await w.c.reconcile();
    expect(r.found).toEqual([`sandbox ${x.sb.name}: mended: ${x.addr}/24 on eth0; default via 10.232.0.1`]);
    expect((await ipj<any[]>(x.rt.path!, 'route', 'show', 'default'))[0].gateway).toBe('10.232.0.1');
    expect(await pings(x.addr)).toBe(true);

    await ip(w.host.name!, 'link', 'del', x.veth);
    r = await w.c.reconcile();
    expect(r.found).toEqual([`sandbox ${x.sb.name}: mended: ${x.veth} and eth0 made again`]);
    expect(r.sandboxesRemoved).toEqual([]);
    expect(await pings(x.addr)).toBe(true);
    expect((await ipj<any[]>(w.host.name!, 'link', 'show', x.veth))[0].ifalias).toMatch(new RegExp(`^nsnet ${w.c.store.id} `));
    expect(await linkNames(x.rt.path!)).toEqual(['eth0', 'lo']);
    expect((await ipj<any[]>(x.rt.path!, 'link', 'show', 'lo'))[0].ifalias).toBeUndefined();
    await done(x);
  });

  test("a deletion deferred in an external sandbox's namespace is no breakage to reconcile, in this process or another: the sandbox is verified, neither mended nor removed, and its port stays", async () => {
    const x = await external('10.233.0.0/24', { ports: ['18233:80'] });
    const net2 = await w.c.createNetwork(uniq('xcn'), { subnets: ['10.234.0.0/24'] });
    const ep = await net2.createEndpoint(uniq('xce'));
    await ep.join(x.sb);
    const left = ep.record.hostIfname!;
    await ep.leave(); // deferred: its host end is down, the pair still there
    expect((await ipj<any[]>(w.host.name!, 'link', 'show', left))[0].operstate).toBe('DOWN');
    const elements = await dnat();
    expect(elements.length).toBeGreaterThan(0);
    const about = (found: string[]) => found.filter((f) => f.startsWith(`sandbox ${x.sb.name}:`));

    // Another process's reconcile knows nothing of the deferral: the veth is this store's and used by nothing.
    const other = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
    try {
      const r = await other.reconcile();
      expect(r.sandboxesRemoved).toEqual([]);
      expect(about(r.found)).toEqual([]);
      expect(r.interfacesRemoved).toEqual([left]);
      expect(r.errors).toEqual([]);
    } finally {
      other.close();
    }
    const r = await w.c.reconcile();
    expect(r).toMatchObject({ sandboxesRemoved: [], interfacesRemoved: [], errors: [] });
    expect(about(r.found)).toEqual([]);
    expect(await dnat()).toEqual(elements);
    expect(await w.c.settled()).toEqual([]); // the deletion it deferred found the veth gone
    expect(await linkNames(x.rt.path!)).toEqual(['eth0', 'lo']);
    expect(await pings(x.addr)).toBe(true);
    await ep.delete();
    await net2.delete();
    await done(x);
  });

  test('a process SIGKILLed while the deletion of an external sandbox\'s interface is deferred leaves only what the next reconcile removes: the veth goes, the runtime\'s namespace stays with nothing of nsnet\'s', async () => {
    const net = await w.c.createNetwork(uniq('xcn'), { subnets: ['10.235.0.0/24'] });
    const rt = await runtime();
    const script = `
      import { Controller, Netns } from './dist/index.js';
      const host = await Netns.open(${JSON.stringify(w.host.name)});
      const c = await Controller.open({ stateDir: ${JSON.stringify(w.stateDir)}, host, reconcile: false });
      const sb = await c.createSandbox(${JSON.stringify(uniq('xck'))}, { netnsPath: ${JSON.stringify(rt.path)}, networks: [{ network: ${JSON.stringify(net.name)}, ports: ['18235:80'] }] });
      process.stdout.write((await sb.info()).endpoints[0].hostIfname + '\\n');
      await sb.delete();
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const signal = await new Promise((resolve) => child.on('exit', (_code, s) => resolve(s)));
    expect([signal, err]).toEqual(['SIGKILL', '']);
    const veth = out.trim();
    // The deletion never ran: the veth is there, down, and its far end in the runtime's namespace.
    expect((await ipj<any[]>(w.host.name!, 'link', 'show', veth))[0].operstate).toBe('DOWN');
    expect(await linkNames(rt.path!)).toEqual(['eth0', 'lo']);

    const r = await w.c.reconcile();
    expect(r.interfacesRemoved).toEqual([veth]);
    expect(r.errors).toEqual([]);
    expect(await linkNames(rt.path!)).toEqual(['lo']);
    expect(await dnat()).toEqual([]);
    expect(await w.c.store.view((t) => t.endpoints({ networkId: net.id }))).toEqual([]);
    await rt.delete();
    await net.delete();
  });

  test("gc --orphans looks into no namespace that is not this store's by its lo's tag, though the run dir is shared (ip netns, Podman): nobody's veth into a runtime's namespace, in the run dir or outside it, or into another store's, is listed and left with everything inside; one into this store's goes", async () => {
    const x = await external('10.236.0.0/24');
    const outsider = await runtime();
    // /run/netns is also where `ip netns` and Podman put namespaces: one of theirs, untagged, beside nsnet's.
    expect(w.c.runDir).toBe('/run/netns');
    const podman = uniq('xpod');
    await ip(null, 'netns', 'add', podman);
    const podmanNs = await Netns.open(podman);
    const otherDir = mkdtempSync(join(tmpdir(), 'nsnet-xro-'));
    const other = await Controller.open({ stateDir: otherDir, host: w.host });
    const others = await other.createSandbox(uniq('xco'));
    const mine = await w.c.createSandbox(uniq('xcm'));
    const [intoRuntime, intoPodman, intoOthers, intoMine] = ['nsv0badc1e1', 'nsv0badc1e3', 'nsv0badc1e4', 'nsv0badc1e2'];
    await w.host
      .batch()
      .addVeth({ name: intoRuntime, peer: { name: 'eth0', netns: outsider } })
      .addVeth({ name: intoPodman, peer: { name: 'eth0', netns: podmanNs } })
      .addVeth({ name: intoOthers, peer: { name: 'eth9', netns: await others.netns() } })
      .addVeth({ name: intoMine, peer: { name: 'eth9', netns: await mine.netns() } })
      .commit();
    const podmanBefore = JSON.stringify(await ipj(podman, 'link', 'show'));
    try {
      const r = await w.c.gc({ orphans: true });
      expect(r.orphanInterfaces.sort()).toEqual([intoRuntime, intoMine, intoPodman, intoOthers]);
      expect(r.interfacesRemoved).toEqual([intoMine]);
      for (const v of [intoRuntime, intoPodman, intoOthers]) expect(r.found).toContain(`${v}: nobody's, its peer in a namespace that is not this store's: left alone`);
      expect(r.namespacesRemoved).toEqual([]);
      expect(r.errors).toEqual([]);
      expect(await linkNames(outsider.path!)).toEqual(['eth0', 'lo']);
      expect(JSON.stringify(await ipj(podman, 'link', 'show'))).toBe(podmanBefore);
      expect(await linkNames(others.netnsPath)).toEqual(['eth9', 'lo']);
      expect(await linkNames(mine.netnsPath)).toEqual(['lo']);
      // This store's external sandbox and its runtime's namespace are as they were.
      expect(await linkNames(x.rt.path!)).toEqual(['eth0', 'lo']);
      expect(await pings(x.addr)).toBe(true);
    } finally {
      for (const v of [intoRuntime, intoPodman, intoOthers]) await ip(w.host.name!, 'link', 'del', v).catch(() => {});
      await outsider.delete();
      podmanNs.close();
      await ip(null, 'netns', 'del', podman);
      await others.delete();
      other.close();
      rmSync(otherDir, { recursive: true, force: true });
      await mine.delete();
    }
    await done(x);
  });
});
