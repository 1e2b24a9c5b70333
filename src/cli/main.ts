#!/usr/bin/env node
// The `nsnet` command: Docker's habits for sandboxes and networks (run,
// exec, network, sandbox, demo), and `ip`'s for the low-level views.
import { readFileSync } from 'node:fs';

import { NsnetError } from '../errors.js';
import { Netns } from '../netlink/netns.js';
import { demo } from './demo.js';
import { events, eventsUsage } from './events.js';
import { network, networkUsage } from './network.js';
import { exec, run, sandbox, sandboxUsage } from './sandbox.js';

const usage = `usage: nsnet <command> [options]

${sandboxUsage}${networkUsage}${eventsUsage}  nsnet demo                        a guided tour of every mode, in a private namespace

  nsnet netns add <name>            create a namespace (lo up), mounted under the run dir
  nsnet netns ls [--json]           list namespaces
  nsnet netns rm <name>             unmount and remove a namespace
  nsnet link ls [--netns N] [--json]
  nsnet addr ls [--netns N] [--json]
  nsnet route ls [--netns N] [-6] [--json]
  nsnet version

  --run-dir DIR                     where namespaces are mounted (default /run/netns, or NSNET_RUN_DIR)
  --state-dir DIR                   where the store and sandbox files live (default /var/lib/nsnet, or NSNET_STATE_DIR)
`;

function parse(argv: string[]) {
  const pos: string[] = [];
  const opt: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json' || a === '-6' || a === '-4' || a === '--help' || a === '-h') opt[a.replace(/^-+/, '')] = true;
    else if (a === '--netns' || a === '--run-dir') opt[a.slice(2)] = argv[++i] ?? '';
    else pos.push(a);
  }
  return { pos, opt };
}

const commands: Record<string, (argv: string[]) => Promise<number>> = { run, exec, network, sandbox, demo, events };

async function main(argv: string[]): Promise<number> {
  const command = commands[argv[0] ?? ''];
  if (command && !(argv.length === 2 && (argv[1] === '--help' || argv[1] === 'help'))) return command(argv.slice(1));
  const { pos, opt } = parse(argv);
  const runDir = typeof opt['run-dir'] === 'string' ? opt['run-dir'] : undefined;
  const json = opt.json === true;
  const out = (rows: unknown[], text: (r: any) => string) => console.log(json ? JSON.stringify(rows, null, 2) : rows.map(text).join('\n'));
  const target = async () => (typeof opt.netns === 'string' ? Netns.open(opt.netns, { runDir }) : Netns.host());
  const [cmd, sub, arg] = pos;

  if (!cmd || opt.help || opt.h) {
    process.stdout.write(usage);
    return cmd || opt.help || opt.h ? 0 : 2;
  }
  if (cmd === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  if (cmd === 'netns') {
    if (sub === 'add' && arg) return (await Netns.create(arg, { runDir })).close(), 0;
    if (sub === 'rm' && arg) return await Netns.delete(arg, { runDir }), 0;
    if (sub === 'ls' || sub === 'list') return out((await Netns.list({ runDir })).map((name) => ({ name })), (r) => r.name), 0;
  }
  const ns = cmd === 'link' || cmd === 'addr' || cmd === 'route' ? await target() : null;
  if (ns && (sub === 'ls' || sub === 'list' || sub === undefined)) {
    const names = new Map((await ns.links.list()).map((l) => [l.ifindex, l.name]));
    if (cmd === 'link') {
      out(await ns.links.list(), (l) => `${l.ifindex}: ${l.name}${l.kind ? ` (${l.kind})` : ''} <${l.flags.join(',')}> mtu ${l.mtu}${l.master ? ` master ${names.get(l.master)}` : ''} ${l.mac ?? ''}`);
    } else if (cmd === 'addr') {
      out(await ns.addresses.list(), (a) => `${names.get(a.ifindex)} ${a.family === 6 ? 'inet6' : 'inet'} ${a.cidr} scope ${a.scope}`);
    } else {
      out(await ns.routes.list({ family: opt['6'] ? 6 : 4 }), (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif ? ` dev ${names.get(r.oif)}` : ''} proto ${r.protocol} scope ${r.scope}${r.metric !== null ? ` metric ${r.metric}` : ''}`);
    }
    ns.close();
    return 0;
  }
  process.stderr.write(usage);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof NsnetError ? `nsnet: ${e.message}` : e);
    process.exit(1);
  },
);
