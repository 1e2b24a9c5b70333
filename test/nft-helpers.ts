// nft itself as the independent oracle for the nf_tables tests: the
// ruleset as `nft -j` and `nft` print it, read inside a named namespace.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { nsExec } from './helpers.js';

/** `nft -j list ruleset` in the namespace (null: this process's), parsed: the list of objects nft reports. */
export async function nftj(ns: string | null): Promise<any[]> {
  const { stdout } = ns === null ? await promisify(execFile)('nft', ['-j', 'list', 'ruleset']) : await nsExec(ns, 'nft', '-j', 'list', 'ruleset');
  return (JSON.parse(stdout).nftables as any[]).filter((o) => !('metainfo' in o));
}

/** Runs `nft <args>` in the namespace (changes made behind nsnet's back). */
export async function nft(ns: string, ...args: string[]): Promise<string> {
  return (await nsExec(ns, 'nft', ...args)).stdout;
}

/** The objects of one kind (`table`, `chain`, `set`, `map`, `rule`, `element`) in nft -j output. */
export function ofKind(objs: any[], kind: string): any[] {
  return objs.filter((o) => kind in o).map((o) => o[kind]);
}

/** The rules of a chain as nft prints them, one line each, comments included. */
export async function chainText(ns: string, family: string, table: string, chain: string): Promise<string[]> {
  const out = await nft(ns, 'list', 'chain', family, table, chain);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('table') && !l.startsWith('chain') && !l.startsWith('type') && l !== '}');
}
