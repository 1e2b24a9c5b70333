// What every CNM subcommand shares: the controller, and output as a table or JSON.
import { Controller, type DeleteOptions } from '../cnm/controller.js';
import { ValidationError } from '../errors.js';
import { str, type Parsed } from './args.js';

export const GLOBAL_VALUES = { stateDir: ['--state-dir'], runDir: ['--run-dir'] };

export async function openController(p: Parsed): Promise<Controller> {
  const stateDir = str(p, 'stateDir');
  const runDir = str(p, 'runDir');
  return Controller.open({ ...(stateDir ? { stateDir } : {}), ...(runDir ? { runDir } : {}) });
}

/** Prints rows as aligned columns (docker ls style) or as JSON. */
export function table(rows: Record<string, unknown>[], cols: [string, string][], json: boolean, raw: unknown[] = rows): void {
  if (json) {
    console.log(JSON.stringify(raw, null, 2));
    return;
  }
  const cells = rows.map((r) => cols.map(([k]) => String(r[k] ?? '')));
  const widths = cols.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]! + 3))).join('');
  console.log(line(cols.map(([, h]) => h)));
  for (const c of cells) console.log(line(c));
}

interface Inspectable {
  info(): Promise<unknown>;
  delete(o?: DeleteOptions): Promise<void>;
}

/** `inspect a b c`: each one's info, as a JSON array (docker inspect's shape). */
export async function inspectAll(what: string, names: string[], find: (n: string) => Promise<Inspectable>): Promise<number> {
  if (!names.length) throw new ValidationError(what, names, 'give at least one name');
  const infos = [];
  for (const n of names) infos.push(await (await find(n)).info());
  console.log(JSON.stringify(infos, null, 2));
  return 0;
}

/** `rm a b c`: removes each, goes on past failures, exits 1 if any failed. */
export async function removeAll(names: string[], find: (n: string) => Promise<Inspectable>, o: DeleteOptions, quiet: boolean): Promise<number> {
  let code = 0;
  for (const n of names) {
    try {
      await (await find(n)).delete(o);
      if (!quiet) console.log(n);
    } catch (e) {
      console.error(`nsnet: ${(e as Error).message}`);
      code = 1;
    }
  }
  return code;
}
