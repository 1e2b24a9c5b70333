// Event streams: links, addresses, routes and neighbours of one namespace,
// read from a multicast rtnetlink socket opened inside it (native/io/monitor),
// plus namespaces appearing in the run dir and whatever other sources the
// caller merges in (the public watch() in src/watch.ts adds a Controller's
// lifecycle that way, so this layer knows nothing of the layers above it).
// One Watcher is an async iterable and an EventEmitter.
//
// Delivery is pulled in batches: the iterator asks for the next batch only
// when it has handed out the last one, and listeners ('event', 'batch') ask
// again after each; so a slow consumer leaves events in the addon's bounded
// queue, and past that the kernel drops them and the stream says `resync`,
// followed by a fresh dump and `synced`.
import { EventEmitter } from 'node:events';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';

import { NsnetError, ValidationError } from '../errors.js';
import { native, type NativeEvent, type NativeWatch, type RtnlEvent } from '../native.js';
import * as v from '../validate.js';
import type { Netns } from './netns.js';
import { defaultRunDir } from './netns.js';
import { toAddress, toLink, toNeighbour, toRoute, type Address, type Link, type Neighbour, type Route } from './types.js';

/** What a namespace and its run dir report. */
export type NetnsEvent =
  | RtnlEvent<Link, Address, Route, Neighbour>
  /** A namespace mounted in (or removed from) the run dir. */
  | { kind: 'netns'; action: 'new' | 'del'; name: string };

/**
 * Another stream to merge into a watcher: called once with the function
 * that delivers its events; returns what stops it (called on close).
 */
export type EventSource<X> = (push: (e: X) => void) => () => void;

export interface WatchOptions<X = never> {
  /** Which rtnetlink objects to watch; with none of the four given, all four. */
  links?: boolean;
  addresses?: boolean;
  routes?: boolean;
  neighbours?: boolean;
  /** Namespaces appearing and disappearing in the run dir (default runDir: /run/netns). */
  namespaces?: boolean;
  runDir?: string;
  /** Other streams whose events come out of this watcher too, in the order they arrive. */
  sources?: EventSource<X>[];
  /** List what exists first: `resync` (reason 'initial'), one 'new' per object, `synced`. */
  list?: boolean;
  /** Socket receive buffer in bytes (default 4 MiB). Small buffers overflow sooner (and resync). */
  rcvbuf?: number;
  /** Events parsed but not yet taken, at most (default 65536); when full, reading pauses. */
  queueLimit?: number;
  /** Events per delivery to JS, at most (default 256): bounds how long one delivery holds the JS thread. */
  batch?: number;
}

function convert(e: NativeEvent): NetnsEvent | null {
  switch (e.kind) {
    case 'link': return { kind: 'link', action: e.action, link: toLink(e.link) };
    case 'address': return { kind: 'address', action: e.action, address: toAddress(e.address) };
    case 'route': return { kind: 'route', action: e.action, route: toRoute(e.route) };
    case 'neighbour': return { kind: 'neighbour', action: e.action, neighbour: toNeighbour(e.neighbour) };
    case 'resync': return { kind: 'resync', reason: e.reason };
    case 'synced': return { kind: 'synced' };
    default: return null;
  }
}

/**
 * Events of one namespace (and, if asked, of the run dir and other
 * sources). `for await (const e of w)` or `w.on('event', ...)`; `close()`
 * releases the socket. `ready` resolves once the socket is subscribed: every
 * change made after it is seen. If the open fails, `ready` rejects, pending
 * iterations reject and 'error' listeners hear it; a caller who only awaits
 * `ready` gets the failure there and nowhere else.
 */
export class Watcher<X = never> extends EventEmitter implements AsyncIterable<NetnsEvent | X> {
  readonly ready: Promise<void>;
  private handle: NativeWatch | null = null;
  private closed = false;
  private refed = true;
  private buf: (NetnsEvent | X)[] = [];
  private waiters: { resolve: (r: IteratorResult<NetnsEvent | X>) => void; reject: (e: unknown) => void }[] = [];
  private iterating = false;
  private failure: Error | null = null;
  private fsw: FSWatcher | null = null;
  private names = new Set<string>();
  private readonly stops: (() => void)[] = [];

  constructor(ns: Netns | null, opts: WatchOptions<X> = {}) {
    super();
    const what = mask(opts);
    if (what !== 0 && !ns) throw new ValidationError('netns', ns, 'is needed to watch links, addresses, routes or neighbours');
    const rcvbuf = v.uint(opts.rcvbuf ?? 4 << 20, 'rcvbuf', 1 << 30, 1);
    const queueLimit = v.uint(opts.queueLimit ?? 65536, 'queueLimit', 1 << 24, 2);
    const batch = v.uint(opts.batch ?? 256, 'batch', 1 << 20, 1);
    const runDir = opts.runDir ?? defaultRunDir();
    if (opts.namespaces && (typeof runDir !== 'string' || !runDir.startsWith('/'))) throw new ValidationError('runDir', runDir, 'must be an absolute path');
    this.on('newListener', (name) => {
      if (name === 'event' || name === 'batch') queueMicrotask(() => this.flow());
    });
    for (const source of opts.sources ?? []) this.stops.push(source((e) => this.deliver([e])));
    const opened = (async () => {
      if (opts.namespaces) await this.watchRunDir(runDir);
      if (what !== 0 && ns) {
        let h: NativeWatch;
        try {
          h = await native.watchOpen(ns.handle, { what, rcvbuf, queueLimit, batch, list: opts.list === true }, (evs) => this.onBatch(evs));
        } catch (e) {
          throw NsnetError.system(`watch of netns '${ns.name ?? ns.path ?? '(anonymous)'}'`, e);
        }
        if (this.closed) return h.close();
        this.handle = h;
        if (!this.refed) h.unref();
        this.flow();
      }
    })();
    // `ready` is the caller's: when nobody else heard of a failed open (no
    // 'error' listener, no iteration), its rejection is left to the caller,
    // and Node reports it as unhandled if the caller ignores it too.
    this.ready = opened.then(() => undefined);
    opened.catch((e: Error) => {
      if (this.fail(e, false)) this.ready.catch(() => {});
    });
  }

  /** Stops watching and releases the socket; a pending iteration ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.handle = null;
    this.fsw?.close();
    this.fsw = null;
    for (const stop of this.stops.splice(0)) stop();
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
    this.emit('close');
  }

  /**
   * The addon's queue for this watcher: events parsed and waiting now, the
   * most that ever waited (bounded by queueLimit plus one datagram's worth),
   * resyncs so far, and whether reading is paused because the queue is full.
   */
  stats(): { queued: number; maxQueued: number; resyncs: number; paused: boolean } {
    return this.handle?.stats() ?? { queued: 0, maxQueued: 0, resyncs: 0, paused: false };
  }

  /** Lets the process exit while this watcher is open (as for a timer). */
  unref(): this {
    this.refed = false;
    this.handle?.unref();
    (this.fsw as { unref?: () => void } | null)?.unref?.();
    return this;
  }

  ref(): this {
    this.refed = true;
    this.handle?.ref();
    (this.fsw as { ref?: () => void } | null)?.ref?.();
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<NetnsEvent | X> {
    this.iterating = true;
    return {
      next: () => {
        const e = this.buf.shift();
        if (e) return Promise.resolve({ value: e, done: false });
        if (this.failure) return Promise.reject(this.failure);
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        this.handle?.pull();
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  // Listeners take everything as it comes: ask for the next batch after each.
  private flow(): void {
    if (this.closed || this.iterating) return;
    if (this.listenerCount('event') + this.listenerCount('batch') > 0) this.handle?.pull();
  }

  private onBatch(evs: NativeEvent[]): void {
    if (this.closed) return;
    const out: NetnsEvent[] = [];
    for (const e of evs) {
      if (e.kind === 'error') {
        this.deliver(out);
        this.fail(NsnetError.system('watch', { errno: e.errno, syscall: 'recvmsg' }));
        return;
      }
      const w = convert(e);
      if (w) out.push(w);
    }
    this.deliver(out);
    if (this.iterating && this.waiters.length > 0) this.handle?.pull();
    this.flow();
  }

  private deliver(evs: (NetnsEvent | X)[]): void {
    if (evs.length === 0 || this.closed) return;
    if (this.listenerCount('batch') > 0) this.emit('batch', evs);
    if (this.listenerCount('event') > 0) for (const e of evs) this.emit('event', e);
    if (!this.iterating) return;
    let i = 0;
    while (i < evs.length && this.waiters.length > 0) this.waiters.shift()!.resolve({ value: evs[i++]!, done: false });
    for (; i < evs.length; i++) this.buf.push(evs[i]!);
  }

  /**
   * Ends the stream with an error: pending and later iterations reject, and
   * 'error' listeners hear it. With neither, a `loud` failure is an uncaught
   * 'error' (as any EventEmitter's); a quiet one is left to the caller.
   * Returns whether anyone heard it (a closed watcher wants nothing).
   */
  private fail(e: Error, loud = true): boolean {
    if (this.closed) return true;
    this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    if (this.listenerCount('error') > 0 || (loud && !this.iterating)) {
      this.emit('error', e);
      return true;
    }
    return this.iterating;
  }

  private async watchRunDir(dir: string): Promise<void> {
    const list = async () => new Set(await readdir(dir).catch(() => [] as string[]));
    this.names = await list();
    let scanning = false;
    let again = false;
    const rescan = async () => {
      if (scanning) return void (again = true);
      scanning = true;
      do {
        again = false;
        const now = await list();
        const evs: NetnsEvent[] = [];
        for (const n of now) if (!this.names.has(n)) evs.push({ kind: 'netns', action: 'new', name: n });
        for (const n of this.names) if (!now.has(n)) evs.push({ kind: 'netns', action: 'del', name: n });
        this.names = now;
        this.deliver(evs);
      } while (again && !this.closed);
      scanning = false;
    };
    this.fsw = fsWatch(dir, { persistent: this.refed }, () => void rescan());
    this.fsw.on('error', (e) => this.fail(e));
  }
}

function mask(o: WatchOptions<unknown>): number {
  const any = o.links !== undefined || o.addresses !== undefined || o.routes !== undefined || o.neighbours !== undefined;
  if (!any) return o.namespaces || o.sources?.length ? 0 : 15;
  return (o.links ? 1 : 0) | (o.addresses ? 2 : 0) | (o.routes ? 4 : 0) | (o.neighbours ? 8 : 0);
}

