// Pools sit under the Controller: for each pooled network, namespaces made
// ahead of time (netlink/pool.ts) with lo up and the network's interface
// already plugged in (the driver's prepool: for a bridge, the veth on the
// bridge), so a create takes one and finishes it in one trip, and a delete
// with recycle gives it back once the reset proved nothing of the tenant is
// left. A pooled namespace and its interfaces carry this process's tag
// (store, pid, start time) and its mount a name that says the same, so a
// reconcile in any process removes the pool of one that died.
import type { Driver, PooledInterface } from '../drivers/driver.js';
import { ValidationError } from '../errors.js';
import { Batch } from '../netlink/batch.js';
import { NetnsPool, type PoolStats } from '../netlink/pool.js';
import type { Netns } from '../netlink/netns.js';
import { ownerTag } from '../owner.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import { alive, me } from './busy.js';
import type { CnmContext, PoolClaim, Pools } from './context.js';

export interface PoolOptions {
  /** Namespaces kept ready per pooled network. */
  size: number;
  /**
   * The networks (names or ids) whose sandboxes come from the pool, '*' for
   * every network whose driver can pool (bridge); one not made yet gets its
   * pool when it is.
   */
  networks: string[];
  /** At most this many namespaces made per second, per network (default 200). */
  rate?: number;
}

const PREFIX = 'nsp-';
/** lo's ifindex in every namespace. */
const LOOPBACK = 1;

/** The tag of a process's pooled objects, and the start of its pooled namespaces' names. */
function poolId(store: string, p: { pid: number; start: string }): string {
  return `${store}-${p.pid}-${p.start}`;
}

/**
 * A pooled namespace's name or a pooled object's tag object, parsed: the
 * process whose pool it is, if it is this store's.
 */
export function poolOwner(store: string, text: string): { pid: number; start: string } | null {
  const m = new RegExp(`^(?:${PREFIX}|pool-)${store}-(\\d+)-(\\d+)(?:-\\d+)*$`).exec(text);
  return m ? { pid: Number(m[1]), start: m[2]! } : null;
}

/** Whether a pooled object (by name or tag) belongs to a process of this store that is still running. */
export function poolAlive(store: string, text: string): boolean {
  const o = poolOwner(store, text);
  return o !== null && alive(o);
}

export function checkPoolOptions(o: unknown): PoolOptions {
  const p = o as PoolOptions;
  if (!p || typeof p !== 'object') throw new ValidationError('pool', o, 'must be { size, networks }');
  if (!Number.isInteger(p.size) || p.size < 0 || p.size > 1024) throw new ValidationError('pool.size', p.size, 'must be an integer from 0 to 1024');
  if (!Array.isArray(p.networks) || p.networks.some((n) => typeof n !== 'string' || !n)) throw new ValidationError('pool.networks', p.networks, 'must be a list of network names');
  if (p.rate !== undefined && !(typeof p.rate === 'number' && p.rate > 0)) throw new ValidationError('pool.rate', p.rate, 'must be a positive number');
  return p;
}

interface NetPool {
  net: NetworkRecord;
  driver: Driver;
  pool: NetnsPool<PooledInterface>;
}

export interface ControllerPoolStats extends PoolStats {
  /** refillRate: the highest of the networks'; lastError: the last of any. */
  networks: Record<string, PoolStats>;
}

export class SandboxPools implements Pools {
  private readonly byNet = new Map<string, NetPool>();
  private readonly tag: string;
  private readonly prefix: string;
  private closed = false;

  constructor(
    private readonly ctx: CnmContext,
    private readonly o: PoolOptions,
  ) {
    const id = poolId(ctx.owner, me());
    this.tag = ownerTag(ctx.owner, `pool-${id}`);
    this.prefix = `${PREFIX}${id}-`;
  }

  /** Starts the pool of a network if it is one of the pooled ones (by name or id) and its driver can pool. */
  start(net: NetworkRecord): void {
    const named = this.o.networks.includes(net.name) || this.o.networks.includes(net.id);
    if (this.closed || this.byNet.has(net.id) || this.o.size === 0 || !(named || this.o.networks.includes('*'))) return;
    const driver = this.ctx.knownDriver(net.driver);
    if (!driver?.prepool || !driver.adopt) return;
    const pool = new NetnsPool<PooledInterface>({
      size: this.o.size,
      // One counter per process: each network's names must differ.
      prefix: `${this.prefix}${this.byNet.size}-`,
      runDir: this.ctx.runDir,
      ...(this.o.rate !== undefined ? { rate: this.o.rate } : {}),
      prepare: (ns) => {
        const b = new Batch(ns);
        const data = driver.prepool!(this.ctx, net, ns, b, this.tag);
        b.in(ns).setLink('lo', { alias: this.tag });
        return { batch: b, data };
      },
    });
    this.byNet.set(net.id, { net, driver, pool });
  }

  /** A ready namespace of the network (name or id), or null. */
  claim(network: string): PoolClaim | null {
    for (const p of this.byNet.values()) {
      if (p.net.id !== network && p.net.name !== network) continue;
      const claim = p.pool.take();
      return claim && { claim, net: p.net, driver: p.driver };
    }
    return null;
  }

  /**
   * Gives ep's namespace back to its network's pool, reset; or says why
   * not (the caller then releases it as any delete does).
   */
  async recycle(ns: Netns, ep: EndpointRecord): Promise<string | null> {
    const p = this.byNet.get(ep.networkId);
    if (!p) return 'its network has no pool';
    // Its links go down at once (the driver's pooled interface carries
    // nothing a link going down loses: see Driver.prepool), then the
    // driver's host-side requests follow them (a bridge port forgets the
    // tenant's MAC): until its reset runs, the network would otherwise
    // still send here the traffic of the next sandbox given its address.
    const r = await p.pool.recycle(ns, (b, links) => {
      for (const l of links) if (l.ifindex !== LOOPBACK) b.setLink(l.ifindex, { up: false });
      p.driver.unadopt?.(this.ctx, p.net, ep, b, this.tag);
    });
    return r.ok ? null : r.reason;
  }

  /** Stops the pool of a network that is going; its ready namespaces are released. */
  async drop(networkId: string): Promise<void> {
    const p = this.byNet.get(networkId);
    this.byNet.delete(networkId);
    await p?.pool.close();
  }

  stats(): ControllerPoolStats {
    const networks: Record<string, PoolStats> = {};
    const total: ControllerPoolStats = { size: 0, ready: 0, resetting: 0, hits: 0, misses: 0, made: 0, recycled: 0, refused: 0, refillRate: 0, failures: 0, lastError: null, networks };
    for (const { net, pool } of this.byNet.values()) {
      const s = (networks[net.name] = pool.stats());
      for (const k of ['size', 'ready', 'resetting', 'hits', 'misses', 'made', 'recycled', 'refused', 'failures'] as const) total[k] += s[k];
      total.refillRate = Math.max(total.refillRate, s.refillRate);
      total.lastError = s.lastError ?? total.lastError;
    }
    return total;
  }

  /** Resolves once every pool is full and every recycled namespace reset. */
  async warm(): Promise<void> {
    await Promise.all([...this.byNet.values()].map(async (p) => (await p.pool.settled(), await p.pool.warm())));
  }

  /** Releases every ready namespace. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.byNet.values()];
    this.byNet.clear();
    await Promise.all(all.map((p) => p.pool.close()));
  }
}

/** The reason a sandbox cannot be recycled before anything is tried, or null. */
export function recycleRefusal(pools: Pools | null, own: boolean, eps: EndpointRecord[], joiners: number): string | null {
  if (!pools) return 'the controller has no pool';
  if (!own) return 'it has no namespace of its own';
  if (joiners) return 'other sandboxes share its namespace';
  if (eps.length !== 1) return `it is on ${eps.length} networks (a pooled namespace is on one)`;
  return null;
}

