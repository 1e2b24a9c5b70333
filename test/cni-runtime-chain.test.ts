// Chaining (issue 17, item 2): the reference meta plugins chained after an
// interface plugin take its result as prevResult and act on it; DEL runs the
// chain in reverse and each takes back what it made. Each case reads the
// kernel for the chained plugin's effect, and for its absence after DEL.
import { describe, expect, test } from 'vitest';

import { type Cni, Netns } from '../src/index.js';
import { bridgeList, cniHost, hostLocalLeases, iptablesNat, readCacheFile } from './cni-runtime-helpers.js';
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
}

/** Each chained plugin after `first`, through nsnet's runtime: ADD, its effect, CHECK, DEL in reverse, its effect gone. */
function chainTests(first: First, cni: () => Cni, octet: number): void {
  for (const [i, [what, c]] of Object.entries(cases).entries()) {
    test(`${first.label} + ${what}: ${what} accepts the ${first.label} result as prevResult and acts on it; DEL in reverse takes it back`, async () => {
      const name = uniq('ch');
      await t.conf.write(`${name}.conflist`, first.list(name, `10.${octet}.${i}.0/24`, c.plugin));
      const ctr = await Netns.create(uniq('cc'));
      const id = `chain-${uniq('i')}`;
      try {
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
      } finally {
        await ctr.delete();
      }
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
