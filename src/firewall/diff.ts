// What differs between nsnet's table as the kernel holds it and what one
// store wants in it. The table is shared by every store on the host, so an
// element is compared as the kernel lists it: the wanted ones are encoded
// and decoded first, and anything held that this store neither wants nor
// keeps is someone else's (counted, never removed). An element whose key
// this store wants with other data (a map's target) is its own, stale one.
import type { Element, NftOp, SetSpec } from '../netlink/nftables.js';
import { Nftables, toNativeNftOp, type NftElement } from '../netlink/nftables.js';
import { setLayout } from '../netlink/nftops.js';
import { decodeTuple } from '../netlink/nftvalues.js';
import * as ruleset from './ruleset.js';

const SETS = Object.values(ruleset.SETS) as SetSpec[];

/** Every set's elements as the kernel lists them, by set name (a set the table lacks, or cannot be read as nsnet's, counts as empty). */
export async function listing(nft: Nftables): Promise<Map<string, NftElement[]>> {
  const lists = await Promise.all(SETS.map((s) => nft.elements(s).catch(() => [] as NftElement[])));
  return new Map(SETS.map((s, i) => [s.name, lists[i]!]));
}

/** An element listed by the kernel, as an op adds it back (one-field interval elements as they are). */
function asElement(e: NftElement): Element {
  return { key: e.key, ...(e.keyEnd !== undefined ? { keyEnd: e.keyEnd } : {}), ...(e.data !== undefined ? { data: e.data } : {}), intervalEnd: e.intervalEnd };
}

/** Everything listed, as ops that put it back into a fresh table. */
export function asOps(held: Map<string, NftElement[]>): NftOp[] {
  return SETS.filter((s) => (held.get(s.name) ?? []).length).map((set) => ({ verb: 'add', elements: { set, elements: held.get(set.name)!.map(asElement) } }));
}

const keyOf = (x: { key: unknown; keyEnd?: unknown; intervalEnd?: boolean }) => JSON.stringify([x.key, x.keyEnd ?? null, !!x.intervalEnd]);
const norm = (x: { key: unknown; keyEnd?: unknown; intervalEnd?: boolean; data?: unknown }) => JSON.stringify([keyOf(x), x.data ?? null]);

/** The ops' elements of one set, as the kernel will list them: each listed form with the element that makes it. */
function encoded(ops: NftOp[], set: SetSpec): Map<string, { el: Element; key: string }> {
  const l = setLayout(set, 'set');
  const out = new Map<string, { el: Element; key: string }>();
  for (const o of ops) {
    if (!('elements' in o) || o.elements.set.name !== set.name) continue;
    for (const el of o.elements.elements) {
      for (const n of toNativeNftOp({ verb: 'add', elements: { set, elements: [el] } }).op.elems ?? []) {
        const listed = {
          key: decodeTuple(l.key, n.key),
          ...(n.keyEnd ? { keyEnd: decodeTuple(l.key, n.keyEnd) } : {}),
          intervalEnd: ((n.flags ?? 0) & 1) !== 0,
          ...(n.data && l.data ? { data: decodeTuple(l.data, n.data) } : {}),
        };
        out.set(norm(listed), { el, key: keyOf(listed) });
      }
    }
  }
  return out;
}

/** How many elements ops carry. */
export const count = (ops: NftOp[]) => ops.reduce((n, o) => n + ('elements' in o ? o.elements.elements.length : 0), 0);

export interface Diff {
  add: NftOp[];
  remove: NftOp[];
  /** Held elements that are neither wanted nor kept: another store's, or nobody's. */
  foreign: number;
}

export function diff(held: Map<string, NftElement[]>, wanted: NftOp[], kept: NftOp[]): Diff {
  const out: Diff = { add: [], remove: [], foreign: 0 };
  for (const set of SETS) {
    const want = encoded(wanted, set);
    const keep = encoded(kept, set);
    const have = held.get(set.name) ?? [];
    const haveNorm = new Set(have.map(norm));
    const wantKeys = new Set([...want.values()].map((w) => w.key));
    const adds = new Set<Element>();
    for (const [n, w] of want) if (!haveNorm.has(n)) adds.add(w.el);
    for (const e of have) {
      const n = norm(e);
      if (want.has(n) || keep.has(n)) continue;
      // Its key is one this store publishes, pointing elsewhere: its own, stale.
      if (set.data && wantKeys.has(keyOf(e))) out.remove.push({ verb: 'delete', elements: { set, elements: [{ key: e.key }] } });
      else out.foreign++;
    }
    if (adds.size) out.add.push({ verb: 'add', elements: { set, elements: [...adds] } });
  }
  return out;
}
