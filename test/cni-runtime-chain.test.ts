// Chaining (issue 17, item 2): the reference meta plugins chained after an
// interface plugin (the reference bridge, or nsnet's own through its shim,
// with and without the daemon) take its result as prevResult and act on it;
// DEL runs the chain in reverse and each takes back what it made. Each case
// reads the kernel for the chained plugin's effect, and for its absence
// after DEL; the first plugin must have released what it held.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Cni, Controller, Netns } from '../src/index.js';
import { installPlugins } from '../src/cni/plugin/install.js';
import { startDaemon, type DaemonProcess } from './cni-helpers.js';
import { eventually } from './cnm-helpers.js';
import { bridgeList, cniHost, hostLocalLeases, inContainer, iptablesNat, readCacheFile, REFERENCE } from './cni-runtime-helpers.js';
import { ipj, nsExec, uniq } from './helpers.js';

const t = cniHost('ch');

interface Ctx {
  ctr: Netns;
  id: string;
  address: string;
  hostVeth: string;
}

interface Case {
  plugin: object;
  capabilityArgs?: Record<string, unknown>;
  /** What the chained plugin made, read from the kernel after ADD. */
  added(c: Ctx): Promise<void>;
  /** That it is gone after DEL. */
  deleted(c: Ctx): Promise<void>;
}

const filterTable = async () => (await nsExec(t.host.name!, 'iptables-save', '-t', 'filter')).stdout;
const hostLinks = async () => (await ipj<any[]>(t.host.name, 'link', 'show')).map((l) => l.ifname as string);

const cases: Record<string, Case> = {
  portmap: {
    plugin: { type: 'portmap', capabilities: { portMappings: true } },
    capabilityArgs: { portMappings: [{ hostPort: 18090, containerPort: 90, protocol: 'udp' }] },
    async added(c) {
      expect(await iptablesNat(t.host.name!)).toMatch(new RegExp(`-p udp .*--dport 18090 .*-j DNAT --to-destination ${c.address}:90`));
    },
    async deleted(c) {
      expect(await iptablesNat(t.host.name!)).not.toContain(c.id);
    },
  },
  tuning: {
    plugin: { type: 'tuning', mtu: 1400, sysctl: { 'net.core.somaxconn': '517' } },
    async added(c) {
      expect((await ipj<any[]>(c.ctr.name, 'link', 'show', 'eth0'))[0].mtu).toBe(1400);
      expect((await nsExec(c.ctr.name!, 'sysctl', '-n', 'net.core.somaxconn')).stdout.trim()).toBe('517');
    },
    async deleted(c) {
      expect((await ipj<any[]>(c.ctr.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    },
  },
  bandwidth: {
    // Ingress only: egress shaping needs an ifb device, and on a modular
    // kernel loading ifb makes ifb0 and ifb1 in the real host's namespace.
    plugin: { type: 'bandwidth', ingressRate: 8_000_000, ingressBurst: 80_000 },
    async added(c) {
      const qdiscs = await tc(['qdisc', 'show', 'dev', c.hostVeth]);
      expect(qdiscs.map((q) => q.kind)).toContain('tbf');
    },
    async deleted(c) {
      expect(await hostLinks()).not.toContain(c.hostVeth);
    },
  },
  firewall: {
    plugin: { type: 'firewall', backend: 'iptables' },
    async added(c) {
      expect(await filterTable()).toMatch(new RegExp(`-A CNI-FORWARD .*-d ${c.address.replace(/\./g, '\\.')}/32`));
    },
    async deleted(c) {
      expect(await filterTable()).not.toContain(`${c.address}/32`);
    },
  },
};

async function tc(args: string[]): Promise<any[]> {
  const { stdout } = await nsExec(t.host.name!, 'tc', '-j', ...args);
  return stdout.trim() ? JSON.parse(stdout) : [];
}

/** The first plugin of a chain: its configuration, and what must be gone once the chain is deleted. */
interface First {
  label: string;
  list(name: string, subnet: string, chained: object): object;
  released(name: string): Promise<void>;
  /** The chained plugins to run after it (default: every case). */
  only?: (keyof typeof cases)[];
}

/** Each chained plugin after `first`, through nsnet's runtime: ADD, its effect, CHECK, DEL in reverse, its effect gone. */
function chainTests(first: First, cni: () => Cni, octet: number): void {
  for (const [i, [what, c]] of Object.entries(cases).entries()) {
    if (first.only && !first.only.includes(what)) continue;
    test(`${first.label} + ${what}: ${what} accepts the ${first.label} result as prevResult and acts on it; DEL in reverse takes it back`, async () => {
      const name = uniq('ch');
      await t.conf.write(`${name}.conflist`, first.list(name, `10.${octet}.${i}.0/24`, c.plugin));
      await inContainer(async (ctr) => {
        const id = `chain-${uniq('i')}`;
        const r = (await cni().add(name, { containerId: id, netns: ctr.path!, ...(c.capabilityArgs ? { capabilityArgs: c.capabilityArgs } : {}) })) as any;
        // The host's end of the veth: the last interface outside the sandbox (after the bridge).
        const hostSide = r.interfaces.filter((x: any) => !x.sandbox);
        const ctx: Ctx = { ctr, id, address: r.ips[0].address.split('/')[0], hostVeth: hostSide.at(-1).name };
        expect(ctx.address).toBe(`10.${octet}.${i}.2`);
        await c.added(ctx);
        await cni().check(name, { containerId: id, netns: ctr.path! }).catch((e) => {
          // portmap 1.1.1's CHECK looks for IPv6 chains it never made: a known fault of that plugin, not of the chain.
          if (!(what === 'portmap' && /ipv6/.test(e.message))) throw e;
        });
        await cni().del(name, { containerId: id, netns: ctr.path! });
        await c.deleted(ctx);
        await first.released(name);
        expect(await readCacheFile(name, id)).toBeNull();
      });
    });
  }
}

describe('reference plugins chained after bridge + host-local', () => {
  chainTests({
    label: 'bridge',
    list: (name, subnet, chained) => bridgeList(name, uniq('cb'), subnet, '1.0.0', [chained]),
    released: async (name) => expect(await hostLocalLeases(name)).toEqual([]),
  }, () => t.cni, 126);
});

/** The nsnet plugin's store (its state dir) has no sandbox left; the chain's network is then removed, so the store ends empty. */
async function nsnetReleased(stateDir: string, name: string): Promise<void> {
  const c = await Controller.open({ stateDir, host: t.host, reconcile: false });
  try {
    expect((await c.sandboxes()).map((s) => s.name)).toEqual([]);
    await (await c.network(name)).delete();
    expect(await c.store.view((x) => [x.sandboxes().length, x.endpoints().length, x.networks().filter((n) => n.name === name).length])).toEqual([0, 0, 0]);
  } finally {
    c.close();
  }
}

const nsnetList = (name: string, subnet: string, chained: object) => ({ cniVersion: '1.0.0', name, plugins: [{ type: 'nsnet', subnet }, chained] });

describe("reference plugins chained after nsnet's plugin", () => {
  let dir: string;
  let nsnetCni: Cni;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsnet-chain-'));
    // No daemon listens on this socket: every call takes the slow path.
    installPlugins({ dir: join(dir, 'bin'), socket: join(dir, 'no-daemon.sock'), stateDir: join(dir, 'state') });
    nsnetCni = new Cni({ confDir: t.conf.dir, path: [join(dir, 'bin'), REFERENCE], hostNetns: t.host.path! });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  chainTests({ label: 'nsnet', list: nsnetList, released: (name) => nsnetReleased(join(dir, 'state'), name) }, () => nsnetCni, 131);
});

describe("reference plugins chained after nsnet's plugin, through the daemon (the fast path)", () => {
  let dir: string;
  let nsnetCni: Cni;
  let d: DaemonProcess;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsnet-chainfp-'));
    const socket = join(dir, 'cni.sock');
    installPlugins({ dir: join(dir, 'bin'), socket, stateDir: join(dir, 'state') });
    d = await startDaemon({ hostNetns: t.host.path!, socket, stateDir: join(dir, 'state') });
    nsnetCni = new Cni({ confDir: t.conf.dir, path: [join(dir, 'bin'), REFERENCE], hostNetns: t.host.path! });
  });
  afterAll(async () => {
    expect(await d?.stop()).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });
  // portmap alone: the daemon defers deleting the interfaces a DEL leaves
  // (the runtime deletes the namespace next), so the other cases' checks of
  // the kernel right after DEL are the slow path's to make.
  chainTests({
    label: 'nsnet (daemon)',
    list: nsnetList,
    only: ['portmap'],
    released: async (name) => {
      // The daemon served the nsnet plugin's calls: ADD, CHECK, DEL, each ok.
      const calls = () => d.lines.filter((l) => l.startsWith('cni ') && l.includes(` net=${name} `));
      await eventually(async () => expect(calls().map((l) => [l.split(' ')[1], l.includes('-> ok')])).toEqual([['ADD', true], ['CHECK', true], ['DEL', true]]));
      await nsnetReleased(join(dir, 'state'), name);
    },
  }, () => nsnetCni, 132);
});
