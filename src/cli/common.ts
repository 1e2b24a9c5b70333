// What the commands share: flags that mean the same everywhere, the
// controller, and output as a table or JSON.
import { Controller, type DeleteOptions } from '../cnm/controller.js';
import type { Args, Command, Flag } from './args.js';

export const RUN_DIR: Flag = { name: 'run-dir', value: 'DIR', help: 'where namespaces are mounted (default NSNET_RUN_DIR, else /run/netns)' };
export const STATE_DIR: Flag = { name: 'state-dir', value: 'DIR', help: 'where the store and sandbox files live (default NSNET_STATE_DIR, else /var/lib/nsnet)' };
export const NETNS: Flag = { name: 'netns', value: 'NAME', help: "the namespace to look into (default: this process's)" };
export const JSON_OUT: Flag = { name: 'json', help: 'print JSON' };
/** The flags of every command that opens the controller. */
export const CNM_FLAGS = [STATE_DIR, RUN_DIR];

/**
 * Runs fn with the controller the command line names, and closes it after,
 * once the kernel work its calls deferred is done (the interfaces of a
 * removed CNI sandbox): this process is about to exit.
 */
export async function withController<T>(a: Args, fn: (c: Controller) => Promise<T>): Promise<T> {
  const stateDir = a.str('state-dir');
  const runDir = a.str('run-dir');
  const c = await Controller.open({ ...(stateDir ? { stateDir } : {}), ...(runDir ? { runDir } : {}) });
  try {
    return await fn(c);
  } finally {
    for (const e of await c.settled()) console.error(`nsnet: ${e.message}`);
    c.close();
  }
}

/** Prints rows as aligned columns (docker ls style): cols are [key, heading]. */
function table(rows: Record<string, unknown>[], cols: [string, string][]): void {
  const cells = rows.map((r) => cols.map(([k]) => String(r[k] ?? '')));
  const widths = cols.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]! + 3))).join('');
  console.log(line(cols.map(([, h]) => h)));
  for (const c of cells) console.log(line(c));
}

/** `ls`: a row per object as a table, or with --json each one's info. */
export function lsCommand<I>(what: string, all: (c: Controller) => Promise<{ info(): Promise<I> }[]>, cols: [string, string][], row: (info: I) => Record<string, unknown>): Command {
  return {
    name: 'ls',
    aliases: ['list'],
    summary: `list ${what}`,
    flags: [JSON_OUT, ...CNM_FLAGS],
    run: (a) =>
      withController(a, async (c) => {
        const infos = await Promise.all((await all(c)).map((x) => x.info()));
        if (a.bool('json')) console.log(JSON.stringify(infos, null, 2));
        else table(infos.map(row), cols);
        return 0;
      }),
  };
}

interface Inspectable {
  info(): Promise<unknown>;
  delete(o?: DeleteOptions): Promise<void>;
}

type Find = (c: Controller, name: string) => Promise<Inspectable>;

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
export function rmCommand(what: string, forced: string, find: Find): Command {
  return {
    name: 'rm',
    aliases: ['remove'],
    summary: `remove ${what}`,
    operands: '<name|id>...',
    flags: [{ name: 'force', short: 'f', help: forced }, ...CNM_FLAGS],
    run: (a) =>
      withController(a, async (c) => {
        let code = 0;
        for (const n of a.operands) {
          try {
            await (await find(c, n)).delete({ force: a.bool('force') });
            console.log(n);
          } catch (e) {
            console.error(`nsnet: ${(e as Error).message}`);
            code = 1;
          }
        }
        return code;
      }),
  };
}
