// What every CNM subcommand shares: the controller, and output as a table or JSON.
import { Controller } from '../cnm/controller.js';
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
