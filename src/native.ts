// The typed surface of the C++ addon. node-gyp-build picks a prebuilt binary
// from prebuilds/ when one matches, else build/Release from a source build;
// NSNET_ADDON names another build to load (see loadAddon).
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An open namespace inside the addon: an fd and a netlink socket in it. */
export interface NativeNetns {
  readonly fd: number;
  /** "dev:ino" of the namespace file: equal ids mean the same namespace. */
  readonly id: string | null;
  readonly closed: boolean;
  close(): void;
}

import type { NativeList, NativeReply } from './native-reply.js';
import type { NativeNftExpr, NativeNftElem, NativeNftOp, NativeNftResult, NativeNftTable, NativeNftChain, NativeNftSet, NativeNftRule } from './native-nft.js';
import type { NativeAddr, NativeFdb, NativeLink, NativeNeigh, NativeRoute, NativeRule, NativeSocket } from './native-objects.js';
import { shapes } from './native-shapes.js';

export type { NativeList, NativeReply } from './native-reply.js';
export type { NativeAddr, NativeFdb, NativeLink, NativeNeigh, NativeRoute, NativeRule, NativeSocket } from './native-objects.js';
export type { NativeNftExpr, NativeNftElem, NativeNftOp, NativeNftResult, NativeNftTable, NativeNftChain, NativeNftSet, NativeNftRule } from './native-nft.js';

/**
 * What a watch of one namespace reports, over the object types of a layer:
 * the addon's (NativeEvent) or the typed API's (netlink/watch.ts).
 */
export type RtnlEvent<L, A, R, N> =
  | { kind: 'link'; action: 'new' | 'change' | 'del'; link: L }
  /** 'new' is also an update of an existing address (lifetimes, flags): rtnetlink does not tell them apart. */
  | { kind: 'address'; action: 'new' | 'del'; address: A }
  /** 'change' is a replace (NLM_F_REPLACE). */
  | { kind: 'route'; action: 'new' | 'change' | 'del'; route: R }
  /** 'new' is any state change of an entry too. IPv4/IPv6 only: bridge FDB entries are skipped. */
  | { kind: 'neighbour'; action: 'new' | 'del'; neighbour: N }
  /** Events were lost (or a dump was interrupted, or this is the first listing): forget what you know; a full dump follows. */
  | { kind: 'resync'; reason: 'initial' | 'overflow' | 'interrupted' }
  /** The dump after `resync` is complete: state rebuilt from it is exact. */
  | { kind: 'synced' };

export type NativeEvent = RtnlEvent<NativeLink, NativeAddr, NativeRoute, NativeNeigh> | { kind: 'error'; errno: number };

/** A multicast rtnetlink socket inside a namespace, read by the addon's watch thread. */
export interface NativeWatch {
  /** Asks for one batch: the callback runs once, on a later turn of the loop, when there are events. */
  pull(): void;
  /** Leaves the groups and closes the socket. */
  close(): void;
  ref(): void;
  unref(): void;
  /** The addon's queue: events waiting now, the most ever waiting, resyncs queued, reading paused. */
  stats(): { queued: number; maxQueued: number; resyncs: number; paused: boolean };
}

export interface NativeWatchOptions {
  /** Bits: 1 links, 2 addresses, 4 routes, 8 neighbours. */
  what: number;
  rcvbuf: number;
  queueLimit: number;
  batch: number;
  list: boolean;
}

/** A device by ifindex or by name (resolved in the addon, in one round trip). */
export type DevRef = number | string;

export type LinkAddOp = { op: 'link.add'; kind: string; name: string } & LinkFields;
export type LinkSetOp = { op: 'link.set'; dev: DevRef; name?: string } & LinkFields;
export type AddrOp = {
      op: 'addr.add' | 'addr.del';
      dev: DevRef;
      address: string;
      prefixlen: number;
      peer?: string;
      broadcast?: boolean;
      scope?: number;
      flags?: number;
      label?: string;
    };
export type RouteOp = {
      op: 'route.add' | 'route.replace' | 'route.del';
      family: number;
      dst?: string;
      dstLen: number;
      /** An IPv6 source-specific route's source prefix. */
      src?: string;
      srcLen?: number;
      gateway?: string;
      dev?: DevRef;
      prefsrc?: string;
      table?: number;
      metric?: number;
      scope?: number;
      protocol?: number;
      type?: number;
      onlink?: boolean;
      mtu?: number;
    };
/** A message whose body (family header and attributes) a dump returned, sent back as `type` (a rule removed or made again exactly). */
export type RawOp = { op: 'raw'; type: number; flags?: number; body: Buffer };
export type NeighOp = {
  op: 'neigh.add' | 'neigh.replace' | 'neigh.append' | 'neigh.del';
  dev: DevRef;
  /** A neighbour's address; an FDB entry's remote (optional there). */
  dst?: string;
  lladdr?: string;
  state?: number;
  flags?: number;
  /** AF_BRIDGE (7) for a forwarding database entry; else dst's family. */
  family?: number;
  vni?: number;
};
/** Sends nothing: waits (20 ms at most) until dev answers for the address (Batch.settleAddress). */
export type SettleOp = { op: 'addr.settle'; dev: DevRef; address?: string };
export type NativeOp = LinkAddOp | LinkSetOp | { op: 'link.del'; dev: DevRef } | AddrOp | RouteOp | NeighOp | RawOp | SettleOp;

export interface LinkFields {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** null detaches from the master (nomaster). */
  master?: DevRef | null;
  netns?: NativeNetns;
  txqlen?: number;
  /** IFF_* bits other than up (promisc, noarp, allmulti, multicast): those of mask set to those of value. */
  flags?: { mask: number; value: number };
  group?: number;
  peer?: { name?: string; netns?: NativeNetns; mac?: string; mtu?: number };
  link?: DevRef;
  mode?: number;
  vni?: number;
  remote?: string;
  local?: string;
  port?: number;
  ttl?: number;
  learning?: boolean;
  proxy?: boolean;
  stp?: boolean;
  vlanFiltering?: boolean;
  /** A bridge port's hairpin mode (an existing port only). */
  hairpin?: boolean;
  /** A bridge port forgets the MACs it learned (an existing port only). */
  fdbFlush?: boolean;
  /** IN6_ADDR_GEN_MODE_* (an existing link only). */
  addrGenMode?: number;
  /** [IPV4_DEVCONF_* index, value] pairs (an existing link only). */
  ipv4Conf?: [number, number][];
  /** IFLA_IFALIAS (an existing link only); '' clears it. */
  alias?: string;
}

export interface NativeStats {
  jobs: number;
  /** Times the addon woke the JS thread to settle finished jobs. */
  drains: number;
  /** Longest such wake-up, promise continuations included, in microseconds (wall time). */
  maxDrainUs: number;
  /** The same in CPU time of the JS thread: excludes time the CPU was taken away. */
  maxDrainCpuUs: number;
  /** Wake-ups longer than 2 ms of wall time. */
  drainsOver2ms: number;
  /** Times the JS thread waited (polled) for a quick request it had just handed to a running worker. */
  waits: number;
  /** Such waits that ended with the request done (the rest are settled like any other). */
  waitsDone: number;
  /** Longest such wait, microseconds (bounded by the addon: a few tens). */
  maxWaitUs: number;
  /** Batches of watch events handed to JS. */
  watchDeliveries: number;
  /** Longest such delivery (conversion, the callback and its microtasks), wall time, microseconds. */
  maxWatchDeliveryUs: number;
  /** The same in CPU time of the JS thread. */
  maxWatchDeliveryCpuUs: number;
}

/** Every dump a namespace's reset compares; extras (native/ops/extras.h: link settings, qdiscs, IPsec, ...) held by the addon, when asked for. */
export type NativeSnapshot = { links: NativeLink[]; addresses: NativeAddr[]; routes: NativeRoute[]; rules: NativeRule[]; neighbours: NativeNeigh[]; extras?: NativeExtras };

/** What a tenant can leave beyond a snapshot's dumps (native/ops/extras.h), held by the addon (opaque to JS). */
export type NativeExtras = { readonly __extras: unique symbol };

/** A namespace's /proc/sys/net values, held by the addon (opaque to JS). */
export type NativeSysctls = { readonly __sysctls: unique symbol };

/**
 * Requests for one namespace within a job: rtnetlink ops, one nf_tables
 * transaction, or sysctl writes (key, value) as the namespace sees them.
 * One reply per op either way.
 */
export type NativeGroup = { ns: NativeNetns; ops: NativeOp[] } | { ns: NativeNetns; nft: NativeNftOp[] } | { ns: NativeNetns; sysctl: [string, string][] };

/** A server socket to open inside a namespace (ns::Listener). */
export interface NativeListener {
  family: 4 | 6;
  type: 'udp' | 'tcp';
  address: string;
  port: number;
  /** SO_REUSEADDR: false refuses a UDP address and port another socket holds instead of sharing it. */
  reuse: boolean;
}

/**
 * A unix stream socket whose messages may carry fds (SCM_RIGHTS), read and
 * written by the addon: it reads a copy of the fd it is given.
 */
export interface NativeChannel {
  /** 0 once data (and fds, copies of which the peer gets) is sent whole, else the errno that kept it. */
  send(data: Buffer, fds?: number[]): number;
  /** Reads what is waiting now, as a wake-up would: onData runs within the call. */
  drain(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface Native {
  /** onData gets each read with the fds that came with it (the callee's to close); onEnd the errno that ended it (0: the peer closed). */
  Channel: new (fd: number, onData: (data: Buffer, fds: number[]) => void, onEnd: (errno: number) => void) => NativeChannel;
  stats(reset?: boolean): NativeStats;
  /** Wakes the namespace thread, if it sleeps, to poll for us microseconds for a job about to come. */
  prewake(us: number): void;
  /** An empty handle for nsCreate to fill; ops in that nsCreate may name it. */
  newHandle(): NativeNetns;
  /**
   * Creates a namespace, opens `listeners` in it, then runs `groups` in the
   * same job; on any failure the namespace is released again. The listeners'
   * fds are the caller's from then on.
   */
  nsCreate(
    runDir: string,
    name: string | null,
    handle?: NativeNetns,
    groups?: NativeGroup[],
    listeners?: NativeListener[],
  ): Promise<{ handle: NativeNetns; replies: NativeReply[]; fds: number[] }>;
  nsOpen(path: string): Promise<NativeNetns>;
  nsRelease(runDir: string, name: string): Promise<void>;
  /** Renames a namespace mounted in runDir (from -> to), then runs groups in the same job. */
  nsMove(runDir: string, from: string, to: string, groups?: NativeGroup[]): Promise<{ replies: NativeReply[] }>;
  sysctl(ns: NativeNetns, key: string, value?: string): Promise<string | undefined>;
  socketIn(ns: NativeNetns, family: 4 | 6, type: 'tcp' | 'udp', address?: string, port?: number): Promise<number>;
  /** Server sockets opened inside the namespace (a handle's, or the one at a path) in one visit, all or none; TCP ones listening. */
  listenIn(ns: NativeNetns | string, listeners: NativeListener[]): Promise<number[]>;
  /** Groups run in order, each on its namespace's socket, in one job. */
  exec(groups: NativeGroup[]): Promise<NativeReply[]>;
  links(ns: NativeNetns, ifindex: number, name: string): Promise<NativeList<NativeLink>>;
  addrs(ns: NativeNetns, family: 0 | 4 | 6, ifindex: number): Promise<NativeList<NativeAddr>>;
  routes(ns: NativeNetns, family: 0 | 4 | 6, table: number): Promise<NativeList<NativeRoute>>;
  rules(ns: NativeNetns, family: 0 | 4 | 6): Promise<NativeList<NativeRule>>;
  /** Links, addresses, routes (all tables), rules and neighbours, in one job; with extras, those too. */
  snapshot(ns: NativeNetns, extras?: boolean): Promise<NativeReply & NativeSnapshot>;
  neighs(ns: NativeNetns, family: 0 | 4 | 6): Promise<NativeList<NativeNeigh>>;
  fdb(ns: NativeNetns): Promise<NativeList<NativeFdb>>;
  /** One nf_tables transaction (BATCH_BEGIN ... BATCH_END); genid: refuse unless the ruleset is at that generation. */
  nftTransact(ns: NativeNetns, ops: NativeNftOp[], genid: number | null): Promise<NativeNftResult>;
  /** Opens a watch: `callback` gets each batch pulled with `pull()`. */
  watchOpen(ns: NativeNetns, options: NativeWatchOptions, callback: (events: NativeEvent[]) => void): Promise<NativeWatch>;
  /**
   * The namespace's sockets but the kernel's and nsnet's own; TIME_WAIT
   * ones closed and left out with destroyTimeWait. unlisted: kinds this
   * kernel cannot list (their diag module is missing).
   * kinds: bits tcp 1, udp 2, udplite 4, sctp 8, dccp 16, raw 32, unix 64,
   * packet 128, netlink 256 (default all); states: a TCPF_* mask (default
   * all; with fewer, packet and netlink sockets are left out); families:
   * inet sockets of IPv4 1, IPv6 2 (default both).
   */
  sockets(ns: NativeNetns, destroyTimeWait: boolean, kinds?: number, states?: number, families?: number): Promise<{ items: NativeSocket[]; unlisted: string[]; destroyed: number }>;
  /** Every readable value under /proc/sys/net (but the random TCP Fast Open key), kept in the addon. */
  sysctlDump(ns: NativeNetns): Promise<NativeSysctls>;
  /**
   * One stage of a reset in one job (see native/addon/reset.h): nf_tables and conntrack cleared
   * (and with extras, those put back as a snapshot had them, IPsec flushed), groups run,
   * /proc/sys/net put back (left: still different), the snapshot read.
   */
  resetStep(ns: NativeNetns, o: { clear?: boolean; extras?: NativeExtras; groups?: NativeGroup[]; sysctls?: NativeSysctls }): Promise<NativeReply & NativeSnapshot & { stage: string; changed: string[]; left: [string, string][] }>;
  nftList(ns: NativeNetns, what: 'gen', family: number, table: string, set: string): Promise<NativeReply & { gen: number }>;
  nftList(ns: NativeNetns, what: 'tables', family: number, table: string, set: string): Promise<NativeList<NativeNftTable>>;
  nftList(ns: NativeNetns, what: 'chains', family: number, table: string, set: string): Promise<NativeList<NativeNftChain>>;
  nftList(ns: NativeNetns, what: 'sets', family: number, table: string, set: string): Promise<NativeList<NativeNftSet>>;
  nftList(ns: NativeNetns, what: 'rules', family: number, table: string, set: string): Promise<NativeList<NativeNftRule>>;
  nftList(ns: NativeNetns, what: 'elems', family: number, table: string, set: string): Promise<NativeList<NativeNftElem>>;
  /** SO_PEERCRED of a connected unix socket's fd: who connected (synchronous: it never waits). */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** flock(fd, LOCK_SH or LOCK_EX | LOCK_NB), never waiting: 0, or the errno (EWOULDBLOCK: another holds it). */
  flock(fd: number, exclusive: boolean): number;
  /** The functions that build the addon's objects (native-shapes.ts), from here on. */
  setShapes(fns: typeof shapes): void;
  /** Each shape's keys, in the order its function takes them (as the addon builds them without one). */
  shapeKeys(): Record<keyof typeof shapes, string[]>;
}

const require = createRequire(import.meta.url);
const load = require('node-gyp-build') as (dir: string) => unknown;

// src/native.ts and dist/native.js both sit one level below the package root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// NSNET_ADDON=<path to a .node file> loads that build instead (the sanitizer build of
// scripts/sanitize.sh, say). A path that does not load is an error, never a silent fallback.
function loadAddon(): unknown {
  const chosen = process.env.NSNET_ADDON;
  if (!chosen) return load(root);
  try {
    return require(resolve(chosen));
  } catch (e) {
    throw new Error(`NSNET_ADDON=${chosen}: cannot load the addon: ${(e as Error).message}`, { cause: e });
  }
}

export const native = loadAddon() as Native;
// An addon built before these functions existed would fail at the first dump, far from its cause.
if (typeof native.setShapes !== 'function') throw new Error('the nsnet addon loaded is older than its JS (no setShapes): rebuild it (npm rebuild nsnet)');
native.setShapes(shapes);
