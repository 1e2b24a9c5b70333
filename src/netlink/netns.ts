// Network namespaces: create, open, list, delete; each open Netns carries
// its own netlink socket (created inside it), so every later operation on it
// needs no setns.
import { closeSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { NsnetError, ValidationError } from '../errors.js';
import { native, type NativeNetns } from '../native.js';
import * as v from '../validate.js';
import { Batch } from './batch.js';
import { defaultRunDir } from './nsfiles.js';
import { Addresses, Fdb, Links, Neighbours, Routes } from './objects.js';
import * as sockets from './sockets.js';
import { listSockets, type SocketFilter, type SocketInfo } from './socklist.js';

export interface NetnsOptions {
  /** Where named namespaces are bind-mounted; `ip netns` uses /run/netns. */
  runDir?: string;
}

export interface CreateOptions extends NetnsOptions {
  /**
   * Builds a batch to run right after the namespace exists, in the same trip
   * to the addon (for example the veth into it, then its address and route).
   * The namespace passed in may only be named in that batch. If any request
   * fails, the namespace is released again and create() rejects with that
   * request's error: all or nothing. An nf_tables transaction in the batch
   * (Batch.nftables) must come last, since releasing the namespace cannot
   * undo it.
   */
  then?: (ns: Netns) => Batch;
  /**
   * Server sockets to open inside the new namespace in the same trip (an
   * embedded DNS server's 127.0.0.11:53), once its lo is up and before the
   * batch runs; a failure to open one releases the namespace.
   * takeListening() hands them over.
   */
  listen?: sockets.ListenOptions[];
  /**
   * Hand the listeners over as fds, not taken by Node (to send them to
   * another process): takeListeningFds() instead of takeListening().
   */
  listenFds?: boolean;
}

function runDirOf(opts?: NetnsOptions): string {
  const dir = opts?.runDir ?? defaultRunDir();
  if (typeof dir !== 'string' || !dir.startsWith('/')) throw new ValidationError('runDir', dir, 'must be an absolute path');
  return dir;
}


/**
 * Says a new namespace's trip comes soon, after some work on this thread (a
 * create's plan): the namespace thread wakes now and polls for it for at
 * most a millisecond. Waking a thread whose CPU went idle takes an
 * interrupt (on a VM, an exit to the hypervisor), and it then overlaps that
 * work instead of delaying the trip.
 */
export function expectTrip(): void {
  native.prewake(1000);
}

let warm = false;

/**
 * Runs the request builders once, against nothing: V8 compiles a function
 * on its first call, and a sandbox's first create would otherwise pay for
 * compiling all of them on the JS thread. Netns runs this the first time it
 * opens or creates a namespace, while the addon's threads work on that, so
 * neither importing nsnet nor a later create pays for it.
 */
function warmUp(): void {
  if (warm) return;
  warm = true;
  const fake = { handle: {} as NativeNetns };
  new Batch(fake)
    .addBridge({ name: 'warm0', up: true, mtu: 1500 })
    .addVeth({ name: 'warm1', master: 1, up: true, peer: { name: 'warm2', netns: fake } })
    .in(fake)
    .setUp('warm2')
    .addAddress('warm2', '10.0.0.2/24')
    .addAddress('warm2', 'fd00::2/64', { nodad: true })
    .addRoute({ dst: 'default', gateway: '10.0.0.1' })
    .addRoute({ dst: 'default', gateway: 'fd00::1', dev: 'warm2' })
    .take()
    .check([]);
}

let hostNs: Promise<Netns> | null = null;

/**
 * How a handle came to be, which decides what disposing of it undoes:
 * a namespace this handle created is deleted, one it opened is closed, and
 * the shared host handle is left alone (other code in the process uses it).
 */
type Origin = 'created' | 'opened' | 'shared';

export { defaultRunDir, isMounted, netnsIdAt } from './nsfiles.js';

export class Netns {
  readonly links: Links;
  readonly addresses: Addresses;
  readonly routes: Routes;
  readonly neighbours: Neighbours;
  readonly fdb: Fdb;
  /** What CreateOptions.listen opened, until takeListening() hands it over. */
  private listening: sockets.Listening[] = [];
  /** The same as fds, when CreateOptions.listenFds asked for them. */
  private listeningFds: number[] = [];

  private constructor(
    /** The addon's handle; exposed for the layers above (drivers, firewall). */
    readonly handle: NativeNetns,
    private mountName: string | null,
    private mountPath: string | null,
    private readonly runDir: string | null,
    private readonly origin: Origin,
  ) {
    this.links = new Links(this);
    this.addresses = new Addresses(this);
    this.routes = new Routes(this);
    this.neighbours = new Neighbours(this);
    this.fdb = new Fdb(this);
  }

  /**
   * Creates a namespace with lo up. With a name it is bind-mounted at
   * runDir/name (visible to `ip netns`); without one it lives as long as the
   * handle (or a process in it) does.
   */
  static async create(name?: string, opts?: CreateOptions): Promise<Netns> {
    const runDir = runDirOf(opts);
    const n = name === undefined ? null : v.netnsName(name);
    const ns = new Netns(native.newHandle(), n, n === null ? null : join(runDir, n), n === null ? null : runDir, 'created');
    const batch = opts?.then?.(ns);
    if (batch !== undefined && !(batch instanceof Batch)) throw new ValidationError('then', batch, 'must return a Batch');
    const { groups, check } = batch?.take() ?? { groups: [], check: () => null };
    const listeners = sockets.nativeListeners(opts?.listen);
    const nft = groups.findIndex((g) => 'nft' in g);
    if (nft >= 0 && nft !== groups.length - 1)
      throw new ValidationError('then', 'Batch.nftables', "must be the batch's last group: releasing the namespace cannot undo an nf_tables transaction");
    let replies, fds;
    try {
      const creating = native.nsCreate(runDir, n, ns.handle, groups, listeners);
      warmUp();
      ({ replies, fds } = await creating);
    } catch (e) {
      throw NsnetError.system(`netns '${n ?? '(anonymous)'}'`, e);
    }
    const err = check(replies);
    if (err) throw err;
    if (fds.length && opts?.listenFds) {
      ns.listeningFds = fds;
    } else if (fds.length) {
      try {
        ns.listening = sockets.adoptListeners(listeners, fds);
      } catch (e) {
        await ns.delete();
        throw e;
      }
    }
    return ns;
  }

  /** Opens a namespace by its name in the run dir. */
  static async open(name: string, opts?: NetnsOptions): Promise<Netns> {
    const runDir = runDirOf(opts);
    const n = v.netnsName(name);
    return Netns.openAt(join(runDir, n), n, runDir, 'opened');
  }

  /** Opens a namespace file: a bind mount, or /proc/<pid>/ns/net. */
  static async openPath(path: string): Promise<Netns> {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new ValidationError('path', path, 'must be an absolute path');
    return Netns.openAt(path, null, null, 'opened');
  }

  /** Opens the namespace a process is in. */
  static async openPid(pid: number): Promise<Netns> {
    return Netns.openAt(`/proc/${v.uint(pid, 'pid', 0x7fffffff, 1)}/ns/net`, null, null, 'opened');
  }

  /**
   * The namespace this process started in. The handle is shared by every
   * caller in the process: close(), delete() and disposing of it do nothing.
   */
  static host(): Promise<Netns> {
    hostNs ??= Netns.openAt('/proc/self/ns/net', null, null, 'shared').catch((e) => {
      hostNs = null;
      throw e;
    });
    return hostNs;
  }

  private static async openAt(path: string, name: string | null, runDir: string | null, origin: Origin): Promise<Netns> {
    try {
      const opening = native.nsOpen(path);
      warmUp();
      return new Netns(await opening, name, path, runDir, origin);
    } catch (e) {
      throw NsnetError.system(`netns '${name ?? path}'`, e);
    }
  }

  /** Names of the namespaces mounted in the run dir. */
  static async list(opts?: NetnsOptions): Promise<string[]> {
    const dir = runDirOf(opts);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: string[] = [];
    for (const n of names.sort()) {
      const s = await stat(join(dir, n)).catch(() => null);
      if (s?.isFile()) out.push(n);
    }
    return out;
  }

  /**
   * Unmounts and unlinks a named namespace. The kernel destroys it (and the
   * devices in it) once nothing else holds it; this does not wait for that.
   */
  static async delete(name: string, opts?: NetnsOptions): Promise<void> {
    const runDir = runDirOf(opts);
    const n = v.netnsName(name);
    try {
      await native.nsRelease(runDir, n);
    } catch (e) {
      throw NsnetError.system(`netns '${n}'`, e);
    }
  }

  /** The name under the run dir, for named namespaces. */
  get name(): string | null {
    return this.mountName;
  }

  /** Where it is mounted or was opened from, if anywhere. */
  get path(): string | null {
    return this.mountPath;
  }

  /**
   * Renames a named namespace (its mount moves to runDir/name; the
   * namespace and everything in it stay as they are), and runs the batch
   * `then` builds in the same trip to the addon. If a request of the batch
   * fails, the namespace keeps its new name and the error is thrown: the
   * caller decides what becomes of it.
   */
  async move(name: string, opts: { then?: (ns: Netns) => Batch } = {}): Promise<void> {
    if (this.mountName === null || this.runDir === null) throw new ValidationError('netns', this.mountPath, 'is not a named namespace of a run dir');
    const to = v.netnsName(name);
    const batch = opts.then?.(this);
    if (batch !== undefined && !(batch instanceof Batch)) throw new ValidationError('then', batch, 'must return a Batch');
    const { groups, check } = batch?.take() ?? { groups: [], check: () => null };
    let replies;
    try {
      ({ replies } = await native.nsMove(this.runDir, this.mountName, to, groups));
    } catch (e) {
      throw NsnetError.system(`netns '${this.mountName}'`, e);
    }
    this.mountName = to;
    this.mountPath = join(this.runDir, to);
    const err = check(replies);
    if (err) throw err;
  }

  /** "dev:ino" of the namespace: equal for two handles on one namespace. */
  get id(): string {
    return this.handle.id ?? 'closed';
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** A batch of changes sent together (see Batch). */
  batch(): Batch {
    return new Batch(this);
  }

  async sysctl(key: string): Promise<string> {
    const k = v.sysctlKey(key);
    try {
      return (await native.sysctl(this.handle, k)) ?? '';
    } catch (e) {
      throw NsnetError.system(`sysctl ${k}`, e);
    }
  }

  async setSysctl(key: string, value: string | number): Promise<void> {
    const k = v.sysctlKey(key);
    const val = v.sysctlValue(value);
    try {
      await native.sysctl(this.handle, k, val);
    } catch (e) {
      throw NsnetError.system(`sysctl ${k}`, e);
    }
  }

  /**
   * The sockets open in this namespace (all, or those filter names), as
   * sock_diag lists them from inside it (`ss -a`; nsnet's own netlink
   * sockets and the kernel's left out). Works on any handle, the host's
   * too: `sockets({ protocols: ['tcp'], states: ['LISTEN'] })` is `ss -tl`.
   */
  sockets(filter?: SocketFilter): Promise<SocketInfo[]> {
    return listSockets(this, filter);
  }

  /**
   * The sockets CreateOptions.listen opened, handed over once: from then on
   * they are the caller's to close (a second call returns none).
   */
  takeListening(): sockets.Listening[] {
    const l = this.listening;
    this.listening = [];
    return l;
  }

  /** What CreateOptions.listen opened when listenFds asked for fds, handed over once as takeListening() does. */
  takeListeningFds(): number[] {
    return this.listeningFds.splice(0);
  }

  /** Server sockets opened inside this namespace in one trip to the addon, all or none (see ListenOptions). */
  listen(specs: sockets.ListenOptions[]): Promise<sockets.Listening[]> {
    return sockets.listenIn(this, specs);
  }

  /**
   * Server sockets opened inside the namespace at path (a bind mount, or
   * /proc/<pid>/ns/net) without a handle on it: one trip, and nothing is
   * kept open but the sockets themselves.
   */
  static listenAt(path: string, specs: sockets.ListenOptions[]): Promise<sockets.Listening[]> {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new ValidationError('path', path, 'must be an absolute path');
    return sockets.listenIn(path, specs);
  }

  /** A TCP server listening inside this namespace. */
  listenTcp(port: number, host?: string): Promise<import('node:net').Server> {
    return sockets.listenTcp(this, port, host);
  }

  /** A TCP connection made from inside this namespace. */
  connectTcp(port: number, host: string): Promise<import('node:net').Socket> {
    return sockets.connectTcp(this, port, host);
  }

  /** A UDP socket inside this namespace, bound to port (0: any). */
  bindUdp(port: number, host?: string, family?: 4 | 6): Promise<import('node:dgram').Socket> {
    return sockets.bindUdp(this, port, host, family);
  }

  /** Closes the handle and its socket (and listeners CreateOptions.listen opened that nobody took). A named namespace stays mounted. The shared host handle stays open. */
  close(): void {
    if (this.origin === 'shared') return;
    for (const l of this.takeListening()) l.close(); // nobody took them: they would keep the namespace alive
    for (const fd of this.takeListeningFds()) closeSync(fd);
    this.handle.close();
  }

  /**
   * Closes the handle and, for a named namespace, unmounts and unlinks it
   * (whether this handle created it or opened it). On the shared host
   * handle (Netns.host()) it does nothing, as close() does: the host
   * namespace cannot be deleted, and the handle is not the caller's alone.
   */
  async delete(): Promise<void> {
    if (this.origin === 'shared') return;
    this.close();
    if (this.mountName !== null && this.runDir !== null) await Netns.delete(this.mountName, { runDir: this.runDir });
  }

  /**
   * `await using`: undoes what getting this handle did. A namespace made by
   * Netns.create is deleted; one opened (open, openPath, openPid) is only
   * closed, so `await using ns = await Netns.open('web')` leaves `web`
   * mounted; the shared host handle is left alone.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.origin === 'created') await this.delete();
    else this.close();
  }
}
