// Every nsnet command in one tree, and the walk from a command line to the
// command it names: a group picks its command by the first argument, the
// command parses the rest against its own flags.
import { readFileSync } from 'node:fs';

import { parse, UsageError, type Command, type Group } from './args.js';
import { cni } from './cni.js';
import { demo } from './demo.js';
import { events } from './events.js';
import { commandHelp, groupHelp, isGroup } from './help.js';
import { addr, link, netns, route } from './ip.js';
import { network } from './network.js';
import { exec, run, sandbox } from './sandbox.js';

const version: Command = {
  name: 'version',
  summary: "print nsnet's version",
  async run() {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
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
    events,
    cni,
    { name: 'demo', summary: 'a guided tour of every mode, in a private namespace that plays the host', run: () => demo() },
    netns,
    link,
    addr,
    route,
    version,
  ],
};

/** Runs the command argv names below `node` (path: the names that led there); its exit code. */
export async function dispatch(argv: string[], node: Command | Group = nsnet, path: string[] = []): Promise<number> {
  const name = path.join(' ');
  if (!isGroup(node)) {
    const a = parse(node, argv, name);
    if (!a.bool('help')) return node.run(a);
    process.stdout.write(commandHelp(node, name));
    return 0;
  }
  const first = argv[0];
  const sub = node.commands.find((c) => c.name === first || (!isGroup(c) && first !== undefined && c.aliases?.includes(first)));
  if (sub) return dispatch(argv.slice(1), sub, [...path, sub.name]);
  if (node.default) return dispatch(argv, node.default, [...path, node.default.name]);
  if (!argv.length) {
    process.stderr.write(groupHelp(node, name));
    return 2;
  }
  // A group takes --help and, as its first operand, the name of one of its commands.
  const a = parse({ command: true }, argv, name);
  if (a.bool('help')) {
    process.stdout.write(groupHelp(node, name));
    return 0;
  }
  throw new UsageError(`unknown command '${[...path, a.command[0]].join(' ')}'`, name);
}
