// nsnet netns|link|addr|route: `ip`'s views of a namespace, printed as ip
// prints them or as JSON.
import { Netns } from '../netlink/netns.js';
import type { Args, Command, Flag, Group } from './args.js';
import { JSON_OUT, NETNS, RUN_DIR } from './common.js';

function print<T>(a: Args, rows: T[], text: (r: T) => string): number {
  console.log(a.bool('json') ? JSON.stringify(rows, null, 2) : rows.map(text).join('\n'));
  return 0;
}

export const netns: Group = {
  name: 'netns',
  summary: 'Manage named network namespaces, as ip netns does.',
  commands: [
    {
      name: 'add',
      summary: 'create a namespace (lo up), mounted under the run dir',
      operands: '<name>',
      flags: [RUN_DIR],
      run: async (a) => ((await Netns.create(a.operands[0]!, { runDir: a.str('run-dir') })).close(), 0),
    },
    {
      name: 'ls',
      aliases: ['list'],
      summary: 'list namespaces',
      flags: [JSON_OUT, RUN_DIR],
      run: async (a) => print(a, (await Netns.list({ runDir: a.str('run-dir') })).map((name) => ({ name })), (r) => r.name),
    },
    {
      name: 'rm',
      summary: 'unmount and remove a namespace',
      operands: '<name>',
      flags: [RUN_DIR],
      run: async (a) => (await Netns.delete(a.operands[0]!, { runDir: a.str('run-dir') }), 0),
    },
  ],
};

/** A group with one command, `ls`, that also runs when none is named (`nsnet link` is `nsnet link ls`). */
function view(name: string, summary: string, flags: Flag[], show: (a: Args, ns: Netns, names: Map<number, string>) => Promise<number>): Group {
  const ls: Command = {
    name: 'ls',
    aliases: ['list'],
    summary,
    flags: [NETNS, JSON_OUT, ...flags, RUN_DIR],
    async run(a) {
      const target = a.str('netns');
      const ns = target ? await Netns.open(target, { runDir: a.str('run-dir') }) : await Netns.host();
      try {
        return await show(a, ns, new Map((await ns.links.list()).map((l) => [l.ifindex, l.name])));
      } finally {
        ns.close();
      }
    },
  };
  return { name, summary: `${summary[0]!.toUpperCase()}${summary.slice(1)}, as ip ${name} does.`, commands: [ls], default: ls };
}

export const link = view('link', 'list links', [], async (a, ns, names) =>
  print(a, await ns.links.list(), (l) => `${l.ifindex}: ${l.name}${l.kind ? ` (${l.kind})` : ''} <${l.flags.join(',')}> mtu ${l.mtu}${l.master ? ` master ${names.get(l.master)}` : ''} ${l.mac ?? ''}`),
);

export const addr = view('addr', 'list addresses', [], async (a, ns, names) =>
  print(a, await ns.addresses.list(), (x) => `${names.get(x.ifindex)} ${x.family === 6 ? 'inet6' : 'inet'} ${x.cidr} scope ${x.scope}`),
);

export const route = view(
  'route',
  'list routes',
  [
    { name: 'ipv4', short: '4', help: 'IPv4 routes (the default)' },
    { name: 'ipv6', short: '6', help: 'IPv6 routes' },
  ],
  async (a, ns, names) =>
    print(a, await ns.routes.list({ family: a.bool('ipv6') ? 6 : 4 }), (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif ? ` dev ${names.get(r.oif)}` : ''} proto ${r.protocol} scope ${r.scope}${r.metric !== null ? ` metric ${r.metric}` : ''}`),
);
