// nsnet run, exec and sandbox ls|inspect|rm: Docker's container commands,
// for the network side of a container.
import { ValidationError } from '../errors.js';
import { formatPort } from '../ports.js';
import { createSandbox } from '../modes.js';
import { list, parseArgs, str } from './args.js';
import { GLOBAL_VALUES, inspectAll, openController, removeAll, table } from './common.js';
import { enter, waitExit } from './enter.js';

export const sandboxUsage = `  nsnet run [--net none|host|bridge|container:<name>|<network>] [--name N] [-h hostname]
            [--dns IP]... [--dns-search D]... [--dns-option O]... [--add-host name:ip]...
            [--ip IP] [--ip6 IP] [-p [hostIP:][hostPort:]containerPort[/proto]]... [--keep] -- <cmd> [args]
  nsnet exec <name> -- <cmd> [args]
  nsnet sandbox ls [--json]
  nsnet sandbox inspect <name|id>... [--json]
  nsnet sandbox rm [-f] <name|id>...
`;

function randomName(): string {
  return `sb-${Math.random().toString(36).slice(2, 10)}`;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    values: {
      ...GLOBAL_VALUES, net: ['--net', '--network'], name: ['--name'], hostname: ['-h', '--hostname'], dns: ['--dns'],
      dnsSearch: ['--dns-search'], dnsOption: ['--dns-option', '--dns-opt'], addHost: ['--add-host'], ip: ['--ip'], ip6: ['--ip6'],
      publish: ['-p', '--publish'],
    },
    bools: { keep: ['--keep'] },
    repeat: ['dns', 'dnsSearch', 'dnsOption', 'addHost', 'publish'],
  });
  const cmd = [...p.pos, ...p.rest];
  if (!cmd.length) throw new ValidationError('command', cmd, 'give a command after --');
  const c = await openController(p);
  const name = str(p, 'name') ?? randomName();
  const hostname = str(p, 'hostname');
  const ip = str(p, 'ip');
  const ip6 = str(p, 'ip6');
  const sb = await createSandbox(c, {
    name,
    mode: str(p, 'net') ?? 'bridge',
    ...(hostname ? { hostname } : {}),
    dns: list(p, 'dns'),
    dnsSearch: list(p, 'dnsSearch'),
    dnsOptions: list(p, 'dnsOption'),
    extraHosts: list(p, 'addHost'),
    ...(ip ? { ip } : {}),
    ...(ip6 ? { ip6 } : {}),
    ...(list(p, 'publish').length ? { ports: list(p, 'publish') } : {}),
  });
  let code: number;
  try {
    code = await waitExit(enter(await sb.info(), cmd));
  } finally {
    if (p.opt.keep !== true) await sb.delete({ force: true }).catch((e: Error) => console.error(`nsnet: ${e.message}`));
    c.close();
  }
  return code;
}

export async function exec(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { values: GLOBAL_VALUES });
  const [name, ...more] = p.pos;
  const cmd = [...more, ...p.rest];
  if (!name || !cmd.length) throw new ValidationError('exec', argv, 'usage: nsnet exec <name> -- <cmd> [args]');
  const c = await openController(p);
  let info;
  try {
    info = await (await c.sandbox(name)).info();
  } finally {
    c.close();
  }
  return waitExit(enter(info, cmd));
}

export async function sandbox(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { values: GLOBAL_VALUES, bools: { json: ['--json'], force: ['-f', '--force'] } });
  const [sub, ...names] = p.pos;
  const json = p.opt.json === true;
  const c = await openController(p);
  try {
    switch (sub) {
      case 'ls':
      case 'list': {
        const infos = await Promise.all((await c.sandboxes()).map((s) => s.info()));
        table(
          infos.map((i) => ({
            id: i.id.slice(0, 12), name: i.name, kind: i.kind === 'container' ? `container:${i.owner}` : i.kind,
            networks: i.endpoints.map((e) => e.network).join(','), addresses: i.endpoints.flatMap((e) => e.addresses).join(','),
            ports: i.endpoints.flatMap((e) => e.ports.map(formatPort)).join(', '),
          })),
          [['id', 'SANDBOX ID'], ['name', 'NAME'], ['kind', 'NAMESPACE'], ['networks', 'NETWORKS'], ['addresses', 'ADDRESSES'], ['ports', 'PORTS']],
          json,
          infos,
        );
        return 0;
      }
      case 'inspect':
        // await: the finally below closes the controller
        return await inspectAll('sandbox', names, (n) => c.sandbox(n));
      case 'rm':
      case 'remove':
        return await removeAll(names, (n) => c.sandbox(n), { force: p.opt.force === true }, json);
    }
    throw new ValidationError('sandbox command', sub, 'must be ls, inspect or rm');
  } finally {
    c.close();
  }
}
