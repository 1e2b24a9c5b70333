// nsnet network create|ls|inspect|rm|prune|connect|disconnect, as docker network does them.
import { createInterface } from 'node:readline';

import type { NetworkInfo } from '../cnm/objects.js';
import { NsnetError, ValidationError } from '../errors.js';
import { Prefix } from '../ipam/prefix.js';
import { toBig } from '../ipaddr.js';
import { pairs, type Command, type Group } from './args.js';
import { CNM_FLAGS, inspectCommand, JSON_OUT, lsCommand, rmCommand, userMessage, withController } from './common.js';
import { common, type Listing } from './listing.js';

/** Networks that exist as long as nsnet does, as docker's bridge, host and none. */
const PREDEFINED = new Set(['bridge', 'host', 'none']);

const create: Command = {
  name: 'create',
  summary: 'create a network',
  operands: '<name>',
  flags: [
    { name: 'driver', short: 'd', value: 'DRIVER', help: 'the driver that builds it: bridge (default), routed, macvlan, overlay (global: spans the hosts of the global store), ipam' },
    { name: 'subnet', value: 'CIDR', repeat: true, help: 'a subnet to allocate addresses from' },
    { name: 'gateway', value: 'IP', repeat: true, help: 'the gateway of the --subnet in the same position' },
    { name: 'ip-range', value: 'CIDR', repeat: true, help: 'the part of the --subnet in the same position that addresses come from' },
    { name: 'ipv6', help: 'IPv6 as well (a ULA subnet unless --subnet gives one)' },
    { name: 'internal', help: 'no way out: no masquerade, no published ports' },
    { name: 'opt', short: 'o', value: 'KEY=VALUE', repeat: true, help: 'a driver option (com.docker.network.bridge.*, mtu; macvlan: parent, macvlan_mode, nsnet.host_shim)' },
    { name: 'label', value: 'KEY=VALUE', repeat: true, help: 'a label to store with it' },
    { name: 'aux-address', value: 'NAME=IP', repeat: true, help: 'an address of the --subnet that holds it that IPAM never hands out' },
    { name: 'attachable', help: 'accepted for docker compatibility: every nsnet network takes network connect' },
    { name: 'ipam-driver', value: 'DRIVER', help: "the IPAM driver: only 'default' (nsnet's own) is there" },
    { ...JSON_OUT, help: 'print the network as JSON instead of its id' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const subnets = a.list('subnet');
      const gws = a.list('gateway');
      const ranges = a.list('ip-range');
      const ipam = a.str('ipam-driver');
      if (ipam !== undefined && ipam !== 'default') throw new ValidationError('--ipam-driver', ipam, "is not an IPAM driver nsnet has (only 'default')");
      if (gws.length > subnets.length || ranges.length > subnets.length) throw new ValidationError('gateway', gws, 'each --gateway and --ip-range needs its own --subnet');
      const aux = auxAddresses(a.list('aux-address'), subnets);
      const net = await c.createNetwork(a.operands[0]!, {
        driver: a.str('driver') ?? 'bridge',
        subnets: subnets.map((s, i) => ({
          subnet: s, ...(gws[i] ? { gateway: gws[i] } : {}), ...(ranges[i] ? { ipRange: ranges[i] } : {}), ...(aux[i]!.length ? { excluded: aux[i] } : {}),
        })),
        ipv6: a.bool('ipv6'),
        internal: a.bool('internal'),
        options: pairs(a.list('opt'), '-o'),
        labels: pairs(a.list('label'), '--label'),
      });
      console.log(a.bool('json') ? JSON.stringify(await net.info(), null, 2) : net.id);
      return 0;
    }),
};

/** --aux-address name=IP: addresses kept from IPAM, each in the --subnet that holds it (docker's rule). */
function auxAddresses(items: string[], subnets: string[]): string[][] {
  const out = subnets.map((): string[] => []);
  for (const [name, ip] of Object.entries(pairs(items, '--aux-address'))) {
    const a = toBig(ip);
    if (!a) throw new ValidationError('--aux-address', `${name}=${ip}`, `'${ip}' is not an IP address`);
    const i = subnets.findIndex((s) => {
      const p = Prefix.parse(s, '--subnet');
      return p.family === a.family && p.contains(a.n);
    });
    if (i < 0) throw new ValidationError('--aux-address', `${name}=${ip}`, 'is in none of the --subnet values: give the subnet that holds it');
    out[i]!.push(ip);
  }
  return out;
}

const base = common<NetworkInfo>('NETWORK ID');
const networks: Listing<NetworkInfo> = {
  fields: {
    ...base.fields,
    Driver: { heading: 'DRIVER', value: (i) => i.driver },
    Scope: { heading: 'SCOPE', value: (i) => i.scope },
    Subnets: { heading: 'SUBNETS', value: (i) => i.subnets.map((s) => s.subnet).join(',') },
    Bridge: { heading: 'BRIDGE', value: (i) => i.bridge ?? '' },
    IPv6: { heading: 'IPV6', value: (i) => String(i.ipv6) },
    Internal: { heading: 'INTERNAL', value: (i) => String(i.internal) },
  },
  columns: ['ID', 'Name', 'Driver', 'Scope', 'Subnets', 'Bridge'],
  filters: {
    ...base.filters,
    driver: (i, v) => i.driver === v,
    scope: (i, v) => i.scope === v,
    type: (i, v) => (v === 'builtin' ? PREDEFINED.has(i.name) : v === 'custom' ? !PREDEFINED.has(i.name) : false),
  },
};

const ls = lsCommand('networks', (c) => c.networks(), networks);

const inspect = inspectCommand('networks', (c, n) => c.network(n));

const rm = rmCommand('networks', 'remove their endpoints too', async (c, n, a) => {
  const net = await c.network(n);
  // The library may remove the default network; the command, as docker's, keeps all three.
  if (PREDEFINED.has(net.name)) throw NsnetError.state('ERR_NSNET_IN_USE', 'network.delete', net.name, `${net.name} is a pre-defined network and cannot be removed`);
  await net.delete({ force: a.bool('force') });
});

/** Asks on stdin; anything but y or yes, end of input included, is no (docker's prompt). */
async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const rl = createInterface({ input: process.stdin });
  const answer = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

const prune: Command = {
  name: 'prune',
  summary: 'remove every network no sandbox is on, except the predefined ones',
  flags: [{ name: 'force', short: 'f', help: 'do not ask first' }, ...CNM_FLAGS],
  run: (a) =>
    withController(a, async (c) => {
      if (!a.bool('force') && !(await confirm('WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue?'))) return 0;
      const removed: string[] = [];
      let code = 0;
      for (const net of await c.networks()) {
        if (PREDEFINED.has(net.name) || (await net.info()).endpoints > 0) continue;
        try {
          await net.delete();
          removed.push(net.name);
        } catch (e) {
          // A sandbox joined it meanwhile: it is in use, as prune found it.
          if ((e as NsnetError).code === 'ERR_NSNET_IN_USE') continue;
          console.error(`nsnet: ${userMessage(e)}`);
          code = 1;
        }
      }
      if (removed.length) console.log(`Deleted Networks:\n${removed.join('\n')}`);
      return code;
    }),
};

const connect: Command = {
  name: 'connect',
  summary: 'give a sandbox an interface on a network (docker network connect)',
  operands: '<network> <sandbox>',
  flags: [
    { name: 'ip', value: 'IP', help: 'the IPv4 address to give it' },
    { name: 'ip6', value: 'IP', help: 'the IPv6 address to give it' },
    { name: 'alias', value: 'NAME', repeat: true, help: 'another name for the sandbox on this network (in its /etc/hosts)' },
    { ...JSON_OUT, help: 'print the new endpoint as JSON' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const net = await c.network(a.operands[0]!);
      const sb = await c.sandbox(a.operands[1]!);
      const ip = a.str('ip');
      const ip6 = a.str('ip6');
      const aliases = a.list('alias');
      const ep = await net.createEndpoint(sb.name, { ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}), ...(aliases.length ? { aliases } : {}) });
      try {
        await ep.join(sb);
      } catch (e) {
        await ep.delete().catch(() => {});
        throw e;
      }
      if (a.bool('json')) console.log(JSON.stringify(await ep.info(), null, 2));
      return 0;
    }),
};

const disconnect: Command = {
  name: 'disconnect',
  summary: "remove a sandbox's interface on a network",
  operands: '<network> <sandbox>',
  flags: CNM_FLAGS,
  run: (a) =>
    withController(a, async (c) => {
      const net = await c.network(a.operands[0]!);
      const sb = await c.sandbox(a.operands[1]!);
      const ep = (await sb.endpoints()).find((e) => e.record.networkId === net.id);
      if (!ep) throw new ValidationError('network disconnect', a.operands, `sandbox ${sb.name} is not on network ${net.name}`);
      await ep.delete({ wait: true });
      return 0;
    }),
};

export const network: Group = {
  name: 'network',
  summary: 'Manage networks, as docker network does.',
  commands: [create, ls, inspect, rm, prune, connect, disconnect],
};
