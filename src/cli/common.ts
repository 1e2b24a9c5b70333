// What the commands share: flags that mean the same everywhere, the
// controller, and output as a table or JSON.
import { Controller } from '../cnm/controller.js';
import { recordedGlobalStore } from '../store/statedir.js';
import { NsnetError } from '../errors.js';
import type { Args, Command, Flag } from './args.js';
import { list, type Listing } from './listing.js';

export const RUN_DIR: Flag = { name: 'run-dir', value: 'DIR', help: 'where namespaces are mounted (default NSNET_RUN_DIR, else /run/netns)' };
export const STATE_DIR: Flag = { name: 'state-dir', value: 'DIR', help: 'where the store and sandbox files live (default NSNET_STATE_DIR, else /var/lib/nsnet)' };
export const NETNS: Flag = { name: 'netns', value: 'NAME', help: "the namespace to look into (default: this process's)" };
export const JSON_OUT: Flag = { name: 'json', help: 'print JSON' };
export const GLOBAL_STORE: Flag = {
  name: 'global-store', value: 'URL',
  help: "etcd://host:port[,host:port][/prefix] for global networks (default NSNET_GLOBAL_STORE, else the daemon's, recorded in the state dir)",
};
/** The flags of every command that opens the controller. */
export const CNM_FLAGS = [STATE_DIR, RUN_DIR, GLOBAL_STORE];

/**
 * What a user reads of an error: one line, without `sandbox <name>: <step>:`
 * before it, the create step that failed (`store.sandbox`), which programs
 * find in `e.step`. The user knows what they asked to create (its name may
 * be one nsnet made up), and the error itself names what failed.
 */
export function userMessage(e: unknown): string {
  let m = e instanceof Error ? e.message : String(e);
  if (e instanceof NsnetError && e.step) {
    const at = m.indexOf(`: ${e.step}: `);
    if (at >= 0) m = m.slice(at + e.step.length + 4);
  }
  return m.replace(/\s*\n\s*/g, ' ');
}

/**
 * Runs fn with the controller the command line names, and closes it after,
 * once the kernel work its calls deferred is done (the interfaces of a
 * removed CNI sandbox): this process is about to exit.
 */
export async function withController<T>(a: Args, fn: (c: Controller) => Promise<T>): Promise<T> {
  const stateDir = a.str('state-dir');
  const runDir = a.str('run-dir');
  // A command attaches to the host's registration (the daemon's); it never registers the host itself.
  const globalStore = a.str('global-store') || process.env.NSNET_GLOBAL_STORE || recordedGlobalStore(stateDir ?? process.env.NSNET_STATE_DIR ?? '/var/lib/nsnet');
  const c = await Controller.open({ ...(stateDir ? { stateDir } : {}), ...(runDir ? { runDir } : {}), ...(globalStore ? { globalStore, register: false } : {}) });
  try {
    return await fn(c);
  } finally {
    for (const e of await c.settled()) console.error(`nsnet: ${e.message}`);
    c.close();
  }
}

/** `ls`: the objects as a table, their IDs, a format of each, or with --json each one's info. */
export function lsCommand<I>(what: string, all: (c: Controller) => Promise<{ info(): Promise<I> }[]>, listing: Listing<I>): Command {
  return {
    name: 'ls',
    aliases: ['list'],
    summary: `list ${what}`,
    flags: [
      { name: 'quiet', short: 'q', help: 'print only the IDs' },
      { name: 'filter', short: 'f', value: 'KEY=VALUE', repeat: true, help: `keep only those that match (${Object.keys(listing.filters).join(', ')})` },
      { name: 'format', value: 'FORMAT', help: `print each through a format: '{{.Name}}', 'table {{.ID}}\\t{{.Name}}' or 'json' (fields: ${Object.keys(listing.fields).join(', ')})` },
      { name: 'no-trunc', help: 'print whole IDs' },
      JSON_OUT,
      ...CNM_FLAGS,
    ],
    run: (a) =>
      withController(a, async (c) => {
        const infos = await Promise.all((await all(c)).map((x) => x.info()));
        list(listing, infos, { json: a.bool('json'), quiet: a.bool('quiet'), filters: a.list('filter'), format: a.str('format'), full: a.bool('no-trunc') });
        return 0;
      }),
  };
}

type Find = (c: Controller, name: string) => Promise<{ info(): Promise<unknown> }>;

/** `inspect a b c`: each one's info, as a JSON array (docker inspect's shape). */
export function inspectCommand(what: string, find: Find): Command {
  return {
    name: 'inspect',
    summary: `print ${what} as JSON`,
    operands: '<name|id>...',
    flags: [{ ...JSON_OUT, help: 'JSON, which inspect always prints (as docker inspect)' }, ...CNM_FLAGS],
    run: (a) =>
      withController(a, async (c) => {
        const infos = [];
        for (const n of a.operands) infos.push(await (await find(c, n)).info());
        console.log(JSON.stringify(infos, null, 2));
        return 0;
      }),
  };
}

/** `rm a b c`: removes each, goes on past failures, exits 1 if any failed. */
export function rmCommand(what: string, forced: string, remove: (c: Controller, name: string, a: Args) => Promise<void>, flags: Flag[] = []): Command {
  return {
    name: 'rm',
    aliases: ['remove'],
    summary: `remove ${what}`,
    operands: '<name|id>...',
    flags: [{ name: 'force', short: 'f', help: forced }, ...flags, ...CNM_FLAGS],
    run: (a) =>
      withController(a, async (c) => {
        let code = 0;
        for (const n of a.operands) {
          try {
            await remove(c, n, a);
            console.log(n);
          } catch (e) {
            console.error(`nsnet: ${userMessage(e)}`);
            code = 1;
          }
        }
        return code;
      }),
  };
}
