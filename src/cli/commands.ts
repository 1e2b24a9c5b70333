// Every nsnet command in one tree, and the walk from a command line to the
// command it names: a group picks its command by the first argument, the
// command parses the rest against its own flags.
import { readFileSync } from 'node:fs';

import { parse, UsageError, type Action, type Command, type Group } from './args.js';
import { cni } from './cni.js';
import { daemon } from './daemon.js';
import { demo } from './demo.js';
import { events } from './events.js';
import { gc } from './gc.js';
import { host } from './host.js';
import { commandHelp, groupHelp, isGroup } from './help.js';
import { addr, link, netns, route } from './ip.js';
import { network } from './network.js';
import { checkPrivileges } from './privileges.js';
import { exec, run, sandbox } from './sandbox.js';

const packageVersion = () => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const version: Command = {
  name: 'version',
  summary: "print nsnet's version and what it runs on",
  privileged: false,
  async run() {
    console.log(`nsnet: ${packageVersion()}\nnode: ${process.version}\nN-API: ${process.versions.napi}\nkernel: ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`);
    return 0;
  },
};

/** `nsnet --version` / `-v`: one line, as `docker --version`. */
const versionFlag: Action = {
  name: 'version',
  short: 'v',
  help: "print nsnet's version",
  async run() {
    console.log(`nsnet version ${packageVersion()}`);
    return 0;
  },
};

export const nsnet: Group = {
  name: 'nsnet',
  summary: "Container networking with Docker's habits for sandboxes and networks, and ip's for the low-level views.",
  commands: [
    run,
    exec,
    network,
    sandbox,
    host,
    events,
    gc,
    cni,
    daemon,
    { name: 'demo', summary: 'a guided tour of every mode, in a private namespace that plays the host', run: () => demo() },
    netns,
    link,
    addr,
    route,
    version,
  ],
  actions: [versionFlag],
};

/** Runs the command argv names below `node` (path: the names that led there); its exit code. */
export async function dispatch(argv: string[], node: Command | Group = nsnet, path: string[] = []): Promise<number> {
  const name = path.join(' ');
  if (!isGroup(node)) {
    const a = parse(node, argv, name);
    if (a.bool('help')) {
      process.stdout.write(commandHelp(node, name));
      return 0;
    }
    if (node.privileged !== false) checkPrivileges(name);
    return node.run(a);
  }
  const first = argv[0];
  const sub = node.commands.find((c) => c.name === first || (!isGroup(c) && first !== undefined && c.aliases?.includes(first)));
  if (sub) return dispatch(argv.slice(1), sub, [...path, sub.name]);
  if (node.default) return dispatch(argv, node.default, [...path, node.default.name]);
  // A group takes --help, its own flags and, as its first operand, the name of one of its commands.
  const a = parse({ flags: node.actions ?? [], command: 'optional' }, argv, name);
  const action = node.actions?.find((f) => a.bool(f.name));
  if (action) return action.run();
  if (a.bool('help') || !a.command.length) {
    // A group named alone shows what it holds, as `docker network` does.
    process.stdout.write(groupHelp(node, name));
    return 0;
  }
  throw new UsageError(`unknown command '${[...path, a.command[0]].join(' ')}'`, name);
}

/** The command or group a path (`network create`) names, for messages about it. */
export function lookup(path: string, node: Command | Group = nsnet): Command | Group | null {
  for (const word of path.split(' ').filter(Boolean)) {
    if (!isGroup(node)) return null;
    const next: Command | Group | undefined = node.commands.find((c) => c.name === word);
    if (!next) return null;
    node = next;
  }
  return node;
}
