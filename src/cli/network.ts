// nsnet network create|ls|inspect|rm, as docker network does them.
import { ValidationError } from '../errors.js';
import { list, pairs, parseArgs, str } from './args.js';
import { GLOBAL_VALUES, inspectAll, openController, removeAll, table } from './common.js';

export const networkUsage = `  nsnet network create [--driver bridge] [--subnet CIDR]... [--gateway IP]... [--ip-range CIDR]...
                       [--ipv6] [--internal] [-o key=value]... [--label key=value]... <name>
  nsnet network ls [--json]
  nsnet network inspect <name|id>... [--json]
  nsnet network rm [-f] <name|id>...
  nsnet network connect [--ip IP] [--ip6 IP] <network> <sandbox>
  nsnet network disconnect <network> <sandbox>
`;

export async function network(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    values: {
      ...GLOBAL_VALUES, driver: ['--driver', '-d'], subnet: ['--subnet'], gateway: ['--gateway'], ipRange: ['--ip-range'],
      opt: ['-o', '--opt'], label: ['--label'], ip: ['--ip'], ip6: ['--ip6'],
    },
    bools: { json: ['--json'], ipv6: ['--ipv6'], internal: ['--internal'], force: ['-f', '--force'] },
    repeat: ['subnet', 'gateway', 'ipRange', 'opt', 'label'],
  });
  const [sub, ...names] = p.pos;
  const json = p.opt.json === true;
  const c = await openController(p);
  try {
    switch (sub) {
      case 'create': {
        if (names.length !== 1) throw new ValidationError('network name', names, 'give exactly one name');
        const subnets = list(p, 'subnet');
        const gws = list(p, 'gateway');
        const ranges = list(p, 'ipRange');
        if (gws.length > subnets.length || ranges.length > subnets.length) throw new ValidationError('gateway', gws, 'each --gateway and --ip-range needs its own --subnet');
        const net = await c.createNetwork(names[0]!, {
          driver: str(p, 'driver') ?? 'bridge',
          subnets: subnets.map((s, i) => ({ subnet: s, ...(gws[i] ? { gateway: gws[i] } : {}), ...(ranges[i] ? { ipRange: ranges[i] } : {}) })),
          ipv6: p.opt.ipv6 === true,
          internal: p.opt.internal === true,
          options: pairs(list(p, 'opt'), '-o'),
          labels: pairs(list(p, 'label'), '--label'),
        });
        console.log(json ? JSON.stringify(await net.info(), null, 2) : net.id);
        return 0;
      }
      case 'ls':
      case 'list': {
        const infos = await Promise.all((await c.networks()).map((n) => n.info()));
        table(
          infos.map((i) => ({ id: i.id.slice(0, 12), name: i.name, driver: i.driver, scope: i.scope, subnets: i.subnets.map((s) => s.subnet).join(','), bridge: i.bridge ?? '' })),
          [['id', 'NETWORK ID'], ['name', 'NAME'], ['driver', 'DRIVER'], ['scope', 'SCOPE'], ['subnets', 'SUBNETS'], ['bridge', 'BRIDGE']],
          json,
          infos,
        );
        return 0;
      }
      case 'inspect':
        // await: the finally below closes the controller
        return await inspectAll('network', names, (n) => c.network(n));
      case 'rm':
      case 'remove':
        return await removeAll(names, (n) => c.network(n), { force: p.opt.force === true }, json);
      case 'connect': {
        // docker network connect: a new endpoint on the network, joined to a running sandbox.
        if (names.length !== 2) throw new ValidationError('network connect', names, 'usage: nsnet network connect <network> <sandbox>');
        const net = await c.network(names[0]!);
        const sb = await c.sandbox(names[1]!);
        const ip = str(p, 'ip');
        const ip6 = str(p, 'ip6');
        const ep = await net.createEndpoint(`${sb.name}`, { ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}) });
        try {
          await ep.join(sb);
        } catch (e) {
          await ep.delete().catch(() => {});
          throw e;
        }
        if (json) console.log(JSON.stringify(await ep.info(), null, 2));
        return 0;
      }
      case 'disconnect': {
        if (names.length !== 2) throw new ValidationError('network disconnect', names, 'usage: nsnet network disconnect <network> <sandbox>');
        const net = await c.network(names[0]!);
        const sb = await c.sandbox(names[1]!);
        const ep = (await sb.endpoints()).find((e) => e.record.networkId === net.id);
        if (!ep) throw new ValidationError('network disconnect', names, `sandbox ${sb.name} is not on network ${net.name}`);
        await ep.delete({ wait: true });
        return 0;
      }
    }
    throw new ValidationError('network command', sub, 'must be create, ls, inspect, rm, connect or disconnect');
  } finally {
    c.close();
  }
}
