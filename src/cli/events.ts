// `nsnet events`: changes to links, addresses, routes and neighbours of a
// namespace, and namespaces coming and going, as they happen: one line
// each, in the manner of `ip monitor` and `docker events` (or JSON lines).
import { defaultRunDir, Netns } from '../netlink/netns.js';
import { watch, type WatchEvent } from '../watch.js';
import type { Args, Command } from './args.js';
import { JSON_OUT, NETNS, RUN_DIR } from './common.js';

const ROUTE_TABLE: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

function text(e: WatchEvent, names: Map<number, string>): string {
  const dev = (i: number | null) => (i ? names.get(i) ?? `if${i}` : '');
  switch (e.kind) {
    case 'link': {
      const l = e.link;
      return `link ${e.action} ${l.ifindex}: ${l.name}${l.kind ? ` (${l.kind})` : ''} <${l.flags.join(',')}> mtu ${l.mtu}${l.master ? ` master ${dev(l.master)}` : ''} state ${l.operstate}${l.mac ? ` link/ether ${l.mac}` : ''}`;
    }
    case 'address': {
      const a = e.address;
      return `addr ${e.action} ${dev(a.ifindex)} ${a.family === 6 ? 'inet6' : 'inet'} ${a.cidr} scope ${a.scope}${a.flags.length ? ` ${a.flags.join(' ')}` : ''}`;
    }
    case 'route': {
      const r = e.route;
      const type = r.type === 'unicast' ? '' : `${r.type} `;
      return `route ${e.action} ${type}${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif ? ` dev ${dev(r.oif)}` : ''} table ${ROUTE_TABLE[r.table] ?? r.table} proto ${r.protocol} scope ${r.scope}${r.metric !== null ? ` metric ${r.metric}` : ''}`;
    }
    case 'neighbour': {
      const n = e.neighbour;
      return `neigh ${e.action} ${n.dst} dev ${dev(n.ifindex)}${n.lladdr ? ` lladdr ${n.lladdr}` : ''} ${n.state.join(',')}${n.flags.length ? ` ${n.flags.join(' ')}` : ''}`;
    }
    case 'resync':
      return `resync (${e.reason}): events were lost or this is the first listing; a full dump follows`;
    case 'synced':
      return 'synced';
    case 'netns':
      return `netns ${e.action} ${e.name}`;
    default:
      return `${e.kind} ${e.action} ${e.name} ${e.id}`;
  }
}

async function watchEvents(a: Args): Promise<number> {
  const runDir = a.str('run-dir') ?? defaultRunDir();
  const name = a.str('netns');
  const ns = name ? await Netns.open(name, { runDir }) : await Netns.host();
  const names = new Map((await ns.links.list()).map((l) => [l.ifindex, l.name]));
  const rcvbuf = a.str('rcvbuf');
  const w = watch(ns, {
    links: true, addresses: true, routes: true, neighbours: true, namespaces: true, runDir,
    list: a.bool('list'),
    ...(rcvbuf ? { rcvbuf: Number(rcvbuf) } : {}),
  });
  const json = a.bool('json');
  const stop = () => w.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // stdout closed (a pipe into `head`): stop quietly.
  process.stdout.on('error', stop);
  await w.ready;
  process.stderr.write(`nsnet: watching ${name ? `netns ${name}` : 'the host namespace'} and ${runDir} (Ctrl-C to stop)\n`);
  for await (const e of w) {
    if (e.kind === 'link') {
      if (e.action === 'del') names.delete(e.link.ifindex);
      else names.set(e.link.ifindex, e.link.name);
    }
    const line = json ? JSON.stringify({ time: new Date().toISOString(), ...e }) : `[${new Date().toISOString()}] ${text(e, names)}`;
    if (!process.stdout.write(`${line}\n`)) await new Promise((r) => process.stdout.once('drain', r));
  }
  ns.close();
  return 0;
}

export const events: Command = {
  name: 'events',
  summary: 'print changes to links, addresses, routes, neighbours and namespaces as they happen, as ip monitor does',
  flags: [
    NETNS,
    { ...JSON_OUT, help: 'one JSON object per line' },
    { name: 'list', help: 'list what exists first' },
    { name: 'rcvbuf', value: 'BYTES', help: "the netlink socket's receive buffer" },
    RUN_DIR,
  ],
  run: watchEvents,
};
