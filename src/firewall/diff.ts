// What differs between nsnet's table as the kernel holds it and what one
// store wants in it. The table is shared by every store on the host, and
// each element says whose it is in its comment (owner.ts). Elements are
// compared as the kernel lists them (the wanted ones are encoded and
// decoded first). Of what is held but neither wanted nor kept (a sandbox
// another process is at work on), this store's own is removed, another
// store's is counted, and nobody's (untagged) is counted and listed for an
// explicit gc. A wanted element held untagged (made by an nsnet that did
// not tag) is taken over: removed and added again with the tag, in the same
// transaction.
import { toBig } from '../ipaddr.js';
import type { Element, NftOp, SetSpec } from '../netlink/nftables.js';
import { Nftables, toNativeNftOp, type NftElement } from '../netlink/nftables.js';
import { setLayout } from '../netlink/nftops.js';
import { decodeTuple } from '../netlink/nftvalues.js';
import { ownership } from '../owner.js';
import * as ruleset from './ruleset.js';

const SETS = Object.values(ruleset.SETS) as SetSpec[];

/** Every set's elements as the kernel lists them, by set name (a set the table lacks, or cannot be read as nsnet's, counts as empty). */
export async function listing(nft: Nftables): Promise<Map<string, NftElement[]>> {
  const lists = await Promise.all(SETS.map((s) => nft.elements(s).catch(() => [] as NftElement[])));
  return new Map(SETS.map((s, i) => [s.name, lists[i]!]));
}

/** An element listed by the kernel, as an op adds (or deletes) exactly it again. */
function asElement(e: NftElement): Element {
  return {
    key: e.key,
    ...(e.keyEnd !== undefined ? { keyEnd: e.keyEnd } : {}),
    ...(e.data !== undefined ? { data: e.data } : {}),
    intervalEnd: e.intervalEnd,
    ...(e.comment !== undefined ? { comment: e.comment } : {}),
  };
}

/** Everything listed, as ops that put it back into a fresh table. */
export function asOps(held: Map<string, NftElement[]>): NftOp[] {
  return SETS.filter((s) => (held.get(s.name) ?? []).length).map((set) => ({ verb: 'add', elements: { set, elements: held.get(set.name)!.map(asElement) } }));
}

/** How many elements ops carry. */
export const count = (ops: NftOp[]) => ops.reduce((n, o) => n + ('elements' in o ? o.elements.elements.length : 0), 0);

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

/**
 * Each element's tag. A range's end in a one-field interval set carries
 * none (the kernel takes none there): it has its start's, the element
 * before it in address order.
 */
function tags(set: SetSpec, have: NftElement[]): (string | undefined)[] {
  const l = setLayout(set, 'set');
  if (!l.interval || l.key.types.length > 1) return have.map((e) => e.comment);
  const order = have.map((e, i) => ({ i, n: toBig(String(e.key))?.n ?? 0n })).sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  const out: (string | undefined)[] = [];
  let start: string | undefined;
  for (const { i } of order) {
    if (have[i]!.intervalEnd) out[i] = start;
    else out[i] = start = have[i]!.comment;
  }
  return out;
}

export interface Diff {
  add: NftOp[];
  remove: NftOp[];
  /** Held elements that are another store's. */
  foreign: number;
  /** Held elements nobody's tag names (untagged, not wanted here): removed only by an explicit gc. */
  orphans: NftOp[];
}

/** What store `me` must add and remove so that the table holds what it wants (and keeps), and what else the table holds. */
export function diff(me: string, held: Map<string, NftElement[]>, wanted: NftOp[], kept: NftOp[]): Diff {
  const out: Diff = { add: [], remove: [], foreign: 0, orphans: [] };
  const del = (set: SetSpec, es: NftElement[]): NftOp[] => (es.length ? [{ verb: 'delete', elements: { set, elements: es.map(asElement) } }] : []);
  for (const set of SETS) {
    const want = encoded(wanted, set);
    const keep = encoded(kept, set);
    const have = held.get(set.name) ?? [];
    const owner = tags(set, have);
    const haveNorm = new Map(have.map((e, i) => [norm(e), i]));
    const adds = new Set<Element>();
    const mine: NftElement[] = [];
    const nobody: NftElement[] = [];
    for (const [n, w] of want) {
      const i = haveNorm.get(n);
      if (i === undefined) adds.add(w.el);
      else if (ownership(me, owner[i]) === 'nobody') {
        // Ours by the store, untagged by an older nsnet: tagged now.
        mine.push(have[i]!);
        adds.add(w.el);
      }
    }
    have.forEach((e, i) => {
      const n = norm(e);
      if (want.has(n) || keep.has(n)) return;
      const o = ownership(me, owner[i]);
      if (o === 'mine') mine.push(e);
      else if (o === 'other') out.foreign++;
      else nobody.push(e);
    });
    out.remove.push(...del(set, mine));
    out.orphans.push(...del(set, nobody));
    if (adds.size) out.add.push({ verb: 'add', elements: { set, elements: [...adds] } });
  }
  return out;
}

/** Whether the table holds nothing but the elements ops add (whoever tagged them). */
export function holdsOnly(held: Map<string, NftElement[]>, ops: NftOp[]): boolean {
  return SETS.every((set) => {
    const these = encoded(ops, set);
    return (held.get(set.name) ?? []).every((e) => these.has(norm(e)));
  });
}

/** Whether the table holds every element ops add (whoever tagged them). */
export function holdsAll(held: Map<string, NftElement[]>, ops: NftOp[]): boolean {
  return SETS.every((set) => {
    const have = new Set((held.get(set.name) ?? []).map(norm));
    return [...encoded(ops, set).keys()].every((k) => have.has(k));
  });
}
