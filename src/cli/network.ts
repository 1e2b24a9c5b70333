// nsnet network create|ls|inspect|rm|connect|disconnect, as docker network does them.
import { ValidationError } from '../errors.js';
import { pairs, type Command, type Group } from './args.js';
import { CNM_FLAGS, inspectCommand, JSON_OUT, lsCommand, rmCommand, withController } from './common.js';

const create: Command = {
  name: 'create',
  summary: 'create a network',
  operands: '<name>',
  flags: [
    { name: 'driver', short: 'd', value: 'DRIVER', help: 'the driver that builds it (default bridge)' },
    { name: 'subnet', value: 'CIDR', repeat: true, help: 'a subnet to allocate addresses from' },
    { name: 'gateway', value: 'IP', repeat: true, help: 'the gateway of the --subnet in the same position' },
    { name: 'ip-range', value: 'CIDR', repeat: true, help: 'the part of the --subnet in the same position that addresses come from' },
    { name: 'ipv6', help: 'IPv6 as well (a ULA subnet unless --subnet gives one)' },
    { name: 'internal', help: 'no way out: no masquerade, no published ports' },
    { name: 'opt', short: 'o', value: 'KEY=VALUE', repeat: true, help: 'a driver option (com.docker.network.bridge.*, mtu)' },
    { name: 'label', value: 'KEY=VALUE', repeat: true, help: 'a label to store with it' },
    { ...JSON_OUT, help: 'print the network as JSON instead of its id' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const subnets = a.list('subnet');
      const gws = a.list('gateway');
      const ranges = a.list('ip-range');
      if (gws.length > subnets.length || ranges.length > subnets.length) throw new ValidationError('gateway', gws, 'each --gateway and --ip-range needs its own --subnet');
      const net = await c.createNetwork(a.operands[0]!, {
        driver: a.str('driver') ?? 'bridge',
        subnets: subnets.map((s, i) => ({ subnet: s, ...(gws[i] ? { gateway: gws[i] } : {}), ...(ranges[i] ? { ipRange: ranges[i] } : {}) })),
        ipv6: a.bool('ipv6'),
        internal: a.bool('internal'),
        options: pairs(a.list('opt'), '-o'),
        labels: pairs(a.list('label'), '--label'),
      });
      console.log(a.bool('json') ? JSON.stringify(await net.info(), null, 2) : net.id);
      return 0;
    }),
};

const ls = lsCommand(
  'networks',
  (c) => c.networks(),
  [['id', 'NETWORK ID'], ['name', 'NAME'], ['driver', 'DRIVER'], ['scope', 'SCOPE'], ['subnets', 'SUBNETS'], ['bridge', 'BRIDGE']],
  (i) => ({ id: i.id.slice(0, 12), name: i.name, driver: i.driver, scope: i.scope, subnets: i.subnets.map((s) => s.subnet).join(','), bridge: i.bridge ?? '' }),
);

const inspect = inspectCommand('networks', (c, n) => c.network(n));

const rm = rmCommand('networks', 'remove their endpoints too', (c, n) => c.network(n));

const connect: Command = {
  name: 'connect',
  summary: 'give a sandbox an interface on a network (docker network connect)',
  operands: '<network> <sandbox>',
  flags: [
    { name: 'ip', value: 'IP', help: 'the IPv4 address to give it' },
    { name: 'ip6', value: 'IP', help: 'the IPv6 address to give it' },
    { ...JSON_OUT, help: 'print the new endpoint as JSON' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const net = await c.network(a.operands[0]!);
      const sb = await c.sandbox(a.operands[1]!);
      const ip = a.str('ip');
      const ip6 = a.str('ip6');
      const ep = await net.createEndpoint(`${sb.name}`, { ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}) });
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
  commands: [create, ls, inspect, rm, connect, disconnect],
};
