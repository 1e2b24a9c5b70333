// A live copy of a namespace's links, addresses and routes: list then
// watch on one socket (so the dump and the events come in one order), as
// Kubernetes informers do. After a `resync` the mirror builds a fresh copy
// from the dump on the side and swaps it in at `synced`, reporting the
// difference as changes, so readers never see a half-built state.
//
// The kernel does not announce every removal: IPv4 routes flushed because
// their device went down or lost its last IPv4 address, or because their
// preferred source address went away, vanish without RTM_DELROUTE. The
// mirror applies those rules itself.
import { EventEmitter } from 'node:events';

import type { Netns } from './netns.js';
import type { Address, Link, Route } from './types.js';
import { Watcher, type NetnsEvent, type WatchOptions } from './watch.js';

export type MirrorChange =
  | { kind: 'link'; action: 'new' | 'change' | 'del'; link: Link }
  | { kind: 'address'; action: 'new' | 'change' | 'del'; address: Address }
  | { kind: 'route'; action: 'new' | 'change' | 'del'; route: Route };

export type MirrorOptions = Pick<WatchOptions, 'rcvbuf' | 'queueLimit' | 'batch'>;

export const addressKey = (a: Address) => `${a.ifindex}|${a.family}|${a.address}/${a.prefixlen}`;
// What tells two routes apart in the tables (multipath next hops aside):
// two to one prefix from different sources (IPv6) are two.
export const routeKey = (r: Route) => `${r.family}|${r.table}|${r.type}|${r.dst}|${r.src ?? ''}|${r.metric ?? ''}|${r.oif ?? ''}|${r.gateway ?? ''}`;
const replaceKey = (r: Route) => `${r.family}|${r.table}|${r.dst}|${r.src ?? ''}|${r.metric ?? ''}`;

class State {
  links = new Map<number, Link>();
  addresses = new Map<string, Address>();
  routes = new Map<string, Route>();
}

type Emit = ((c: MirrorChange) => void) | null;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function put<K, T>(m: Map<K, T>, k: K, v: T, kind: MirrorChange['kind'], emit: Emit): void {
  const old = m.get(k);
  if (old !== undefined && same(old, v)) return;
  m.set(k, v);
  emit?.({ kind, action: old === undefined ? 'new' : 'change', [kind]: v } as unknown as MirrorChange);
}

function drop<K, T>(m: Map<K, T>, k: K, kind: MirrorChange['kind'], emit: Emit): void {
  const old = m.get(k);
  if (old === undefined) return;
  m.delete(k);
  emit?.({ kind, action: 'del', [kind]: old } as unknown as MirrorChange);
}

function dropRoutes(s: State, emit: Emit, pick: (r: Route) => boolean): void {
  for (const [k, r] of s.routes) if (pick(r)) drop(s.routes, k, 'route', emit);
}

/** Applies one event to a state, with the kernel's silent flushes. */
function apply(s: State, e: NetnsEvent, emit: Emit): void {
  switch (e.kind) {
    case 'link': {
      const l = e.link;
      if (e.action === 'del') {
        drop(s.links, l.ifindex, 'link', emit);
        for (const [k, a] of s.addresses) if (a.ifindex === l.ifindex) drop(s.addresses, k, 'address', emit);
        dropRoutes(s, emit, (r) => r.oif === l.ifindex);
        return;
      }
      put(s.links, l.ifindex, l, 'link', emit);
      // Down: IPv4 routes through it go, except the local ones of its addresses.
      if (!l.up) dropRoutes(s, emit, (r) => r.family === 4 && r.oif === l.ifindex && r.scope !== 'host');
      return;
    }
    case 'address': {
      const a = e.address;
      const k = addressKey(a);
      if (e.action !== 'del') return put(s.addresses, k, a, 'address', emit);
      drop(s.addresses, k, 'address', emit);
      if (a.family !== 4) return;
      dropRoutes(s, emit, (r) => r.family === 4 && r.prefsrc === a.address);
      const left = [...s.addresses.values()].some((x) => x.family === 4 && x.ifindex === a.ifindex);
      if (!left) dropRoutes(s, emit, (r) => r.family === 4 && r.oif === a.ifindex);
      return;
    }
    case 'route': {
      const r = e.route;
      if (e.action === 'del') return drop(s.routes, routeKey(r), 'route', emit);
      if (e.action === 'change') {
        const rk = replaceKey(r);
        dropRoutes(s, emit, (x) => replaceKey(x) === rk && routeKey(x) !== routeKey(r));
      }
      return put(s.routes, routeKey(r), r, 'route', emit);
    }
    default:
  }
}

/**
 * `links`, `addresses` and `routes` (all tables, both families) of a
 * namespace, kept up to date. Wait for `ready` before reading; listen to
 * 'change' (or `onChange`) for what changes after; 'resync' tells that
 * events were lost and the copy was rebuilt from a dump.
 */
export class Mirror extends EventEmitter {
  readonly links = new Map<number, Link>();
  readonly addresses = new Map<string, Address>();
  readonly routes = new Map<string, Route>();
  /** Resolves when the first listing is complete. */
  readonly ready: Promise<void>;
  /** Resyncs after the first listing (overflows, interrupted dumps). */
  resyncs = 0;
  private readonly live: State;
  private staging: State | null = null;
  private synced = false;
  private readonly watcher: Watcher;

  constructor(ns: Netns, opts: MirrorOptions = {}) {
    super();
    this.live = Object.assign(new State(), { links: this.links, addresses: this.addresses, routes: this.routes });
    this.watcher = new Watcher(ns, { ...opts, links: true, addresses: true, routes: true, list: true });
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    this.ready = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    this.watcher.ready.catch(reject);
    this.watcher.on('error', (e) => {
      reject(e);
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    this.watcher.on('batch', (evs: NetnsEvent[]) => {
      const emit: Emit = this.listenerCount('change') > 0 ? (c) => this.emit('change', c) : null;
      for (const e of evs) {
        if (e.kind === 'resync') {
          this.staging = new State();
          if (this.synced) {
            this.resyncs++;
            this.emit('resync', e.reason);
          }
        } else if (e.kind === 'synced') {
          if (this.staging) this.swap(this.staging, this.synced ? emit : null);
          this.staging = null;
          if (!this.synced) {
            this.synced = true;
            resolve();
          }
        } else {
          apply(this.staging ?? this.live, e, this.staging ? null : emit);
        }
      }
    });
  }

  /** Calls `fn` for every change after the first listing; returns a function that stops it. */
  onChange(fn: (c: MirrorChange) => void): () => void {
    this.on('change', fn);
    return () => this.off('change', fn);
  }

  close(): void {
    this.watcher.close();
  }

  unref(): this {
    this.watcher.unref();
    return this;
  }

  // Moves `next` into the live maps (which callers hold), reporting the difference.
  private swap(next: State, emit: Emit): void {
    const sync = <K, T>(cur: Map<K, T>, nxt: Map<K, T>, kind: MirrorChange['kind']) => {
      for (const k of [...cur.keys()]) if (!nxt.has(k)) drop(cur, k, kind, emit);
      for (const [k, v] of nxt) put(cur, k, v, kind, emit);
    };
    sync(this.links, next.links, 'link');
    sync(this.addresses, next.addresses, 'address');
    sync(this.routes, next.routes, 'route');
  }
}

/** A live mirror of `ns` (see Mirror). */
export function mirror(ns: Netns, opts?: MirrorOptions): Mirror {
  return new Mirror(ns, opts);
}
