// A copy of everything under the global store's prefix, kept by a watch:
// listed once at a revision, then every change after it, so reads cost no
// round trip and transactions run synchronously against it (as the Store
// interface asks) and are checked by etcd when they commit.
//
// No silent loss: a watch that breaks resumes from the last revision it
// saw (the client does); one that etcd cancels (its revision was
// compacted away, after a long partition) is replaced by a fresh listing,
// whose difference from the copy is reported as changes, as a netlink
// resync is. Each change set (one watch response, one listing, one own
// commit) reaches the listeners as one 'change' event.
import { EventEmitter } from 'node:events';

import type { Etcd3, IKeyValue, IRangeResponse, Watcher } from 'etcd3';

import { decode, malformed, type KeyKind, type Keys } from './keys.js';

export interface Entry {
  key: string;
  kind: KeyKind;
  raw: string;
  /** The revision that last changed it. */
  mod: number;
  /** The lease that holds it ('0': none). */
  lease: string;
  /** The value decoded, or null when it is malformed (bad says why). */
  value: unknown;
  bad: string | null;
}

export interface Change {
  key: string;
  kind: KeyKind;
  before: Entry | null;
  after: Entry | null;
}

/** The directory of a key: everything up to its last '/'. */
const dirOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

/** etcd's default limit (--max-txn-ops) on the compares, and on the operations of each branch, of one transaction. */
export const MAX_TXN_OPS = 128;

export class Mirror extends EventEmitter {
  /** Entries by directory, then key: a listing of one directory costs no scan of the rest. */
  private readonly dirs = new Map<string, Map<string, Entry>>();
  /** Keys removed ahead of the watch (by a refresh or an own commit), and at which revision: older puts of theirs are stale. */
  private readonly tombs = new Map<string, number>();
  /** Every change up to this revision is in the copy. */
  rev = 0;
  /** How many times the copy was listed afresh after the watch was cancelled. */
  relists = 0;
  /** Whether the watch is connected now. */
  connected = false;
  /** Whether the copy was ever listed: before, it knows nothing of what etcd holds. */
  synced = false;
  private watcher: Watcher | null = null;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    readonly keys: Keys,
    /** The deadline of a listing, ms. */
    private readonly timeoutMs: number,
  ) {
    super();
  }

  /** Lists everything (by the deadline, ms since the epoch), then watches from the next revision. */
  async start(deadline = Date.now() + this.timeoutMs): Promise<void> {
    await this.relist(deadline);
    this.watch();
  }

  /** start(), tried again every half second until it succeeds (or the mirror is closed). */
  startLater(): void {
    const again = () => {
      if (this.closed) return;
      this.start().catch(() => setTimeout(again, 500).unref());
    };
    again();
  }

  get(key: string): Entry | null {
    return this.dirs.get(dirOf(key))?.get(key) ?? null;
  }

  /** The entries of one directory (a key prefix ending in '/'). */
  entries(dir: string): Entry[] {
    return [...(this.dirs.get(dir)?.values() ?? [])];
  }

  /** The directories under a prefix (endpoints/<net>/ for each network ...). */
  dirsUnder(prefix: string): string[] {
    return [...this.dirs.keys()].filter((d) => d.startsWith(prefix));
  }

  /**
   * Reads keys and directories and takes in what is newer than the copy
   * (after a failed commit). etcd refuses a transaction of more than
   * MAX_TXN_OPS reads, so they go in batches, each read at its own
   * revision: the copy takes a key's value only when it is newer than
   * the one it has (and a removal only past it), so batches read at
   * different revisions never move a key back, and what the retry then
   * reads is checked by etcd when it commits.
   */
  async refresh(keys: string[], dirs: string[]): Promise<void> {
    const reads = [
      ...keys.map((k) => ({ key: k, end: undefined as Buffer | undefined, gone: () => [k] })),
      ...dirs.map((d) => ({ key: d, end: prefixEnd(d), gone: () => this.entries(d).map((e) => e.key) })),
    ];
    for (let i = 0; i < reads.length; i += MAX_TXN_OPS) {
      const batch = reads.slice(i, i + MAX_TXN_OPS);
      const res = await this.client.kv.txn(
        { compare: [], success: batch.map((r) => ({ request_range: { key: Buffer.from(r.key), ...(r.end ? { range_end: r.end } : {}) } })), failure: [] },
        { deadline: Date.now() + this.timeoutMs },
      );
      const at = Number(res.header.revision);
      const changes: Change[] = [];
      res.responses.forEach((r, j) => {
        const kvs = r.response_range?.kvs ?? [];
        const seen = new Set(kvs.map((kv) => kv.key.toString()));
        for (const kv of kvs) this.put(kv, changes);
        for (const k of batch[j]!.gone()) if (!seen.has(k)) this.remove(k, at, changes);
      });
      this.publish(changes);
    }
  }

  /** Takes in what this process committed at rev, before the watch reports it. */
  applyOwn(rev: number, puts: { key: string; raw: string; lease: string }[], deletes: string[]): void {
    const changes: Change[] = [];
    for (const p of puts) this.put({ key: Buffer.from(p.key), value: Buffer.from(p.raw), mod_revision: String(rev), lease: p.lease } as IKeyValue, changes);
    for (const k of deletes) this.remove(k, rev, changes);
    this.publish(changes);
  }

  close(): void {
    this.closed = true;
    const w = this.watcher;
    this.watcher = null;
    void w?.cancel().catch(() => {});
  }

  /** Lists everything afresh; what differs from the copy is reported as changes. */
  async relist(deadline = Date.now() + this.timeoutMs): Promise<void> {
    const res: IRangeResponse = await this.client.kv.range(
      { key: Buffer.from(this.keys.root), range_end: prefixEnd(this.keys.root) },
      { deadline },
    );
    const at = Number(res.header.revision);
    const changes: Change[] = [];
    const seen = new Set<string>();
    for (const kv of res.kvs) {
      seen.add(kv.key.toString());
      this.put(kv, changes, true);
    }
    for (const d of this.dirs.values()) for (const k of [...d.keys()]) if (!seen.has(k)) this.remove(k, at, changes, true);
    this.rev = at;
    this.synced = true;
    this.tombs.clear();
    this.publish(changes);
  }

  private watch(): void {
    if (this.closed) return;
    const w = this.client.watch().prefix(this.keys.root).startRevision(String(this.rev + 1)).watcher();
    this.watcher = w;
    w.on('connected', () => {
      this.connected = true;
      this.emit('connected');
    });
    w.on('disconnected', () => {
      this.connected = false;
      this.emit('disconnected');
    });
    w.on('data', (res) => {
      const changes: Change[] = [];
      for (const ev of res.events) {
        if (ev.type === 'Put') this.put(ev.kv, changes);
        else this.remove(ev.kv.key.toString(), Number(ev.kv.mod_revision), changes);
      }
      this.rev = Math.max(this.rev, Number(res.header.revision));
      for (const [k, r] of this.tombs) if (r <= this.rev) this.tombs.delete(k);
      this.publish(changes);
    });
    // Cancelled by etcd (a compacted revision): list afresh and watch from there.
    w.on('error', (e) => {
      if (this.watcher !== w || this.closed) return;
      this.watcher = null;
      this.connected = false;
      void w.cancel().catch(() => {});
      this.emit('resync', e);
      const again = () => {
        if (this.closed) return;
        this.relists++;
        this.relist().then(() => this.watch(), () => setTimeout(again, 500).unref());
      };
      again();
    });
  }

  private put(kv: IKeyValue, changes: Change[], listing = false): void {
    const key = kv.key.toString();
    const kind = this.keys.kind(key);
    if (!kind) return;
    const mod = Number(kv.mod_revision);
    const before = this.get(key);
    if (before && before.mod >= mod && !listing) return;
    const tomb = this.tombs.get(key);
    if (tomb !== undefined && tomb >= mod && !listing) return;
    const raw = kv.value.toString();
    const bad = malformed(kind, key, raw);
    const e: Entry = { key, kind, raw, mod, lease: String(kv.lease ?? '0'), value: bad ? null : decode(kind, raw), bad };
    if (before && before.mod === mod && before.raw === raw) return;
    const dir = dirOf(key);
    let d = this.dirs.get(dir);
    if (!d) this.dirs.set(dir, (d = new Map()));
    d.set(key, e);
    changes.push({ key, kind, before, after: e });
  }

  private remove(key: string, rev: number, changes: Change[], listing = false): void {
    const before = this.get(key);
    if (!listing) this.tombs.set(key, Math.max(rev, this.tombs.get(key) ?? 0));
    if (!before || (before.mod > rev && !listing)) return;
    const dir = dirOf(key);
    const d = this.dirs.get(dir)!;
    d.delete(key);
    if (!d.size) this.dirs.delete(dir);
    changes.push({ key, kind: before.kind, before, after: null });
  }

  private publish(changes: Change[]): void {
    if (changes.length) this.emit('change', changes);
  }
}

/** The end of the key range of a prefix: the prefix with its last byte plus one. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1]!++;
  return b;
}
