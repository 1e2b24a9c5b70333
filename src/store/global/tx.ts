// One transaction against the global store, as etcd's STM runs one: reads
// come from the mirror (each remembered with the revision it had), writes
// are buffered, and the commit is a single etcd transaction that applies
// them only if nothing read has changed since: a key read or written is
// compared by its mod revision (0: it did not exist), a directory listed
// by "nothing in it changed after the revision the mirror has seen". A name,
// a VNI or an address taken by two hosts at once thus fails one commit, and
// that one runs again on fresher data.
import type { ICompare, IRequestOp, ITxnRequest } from 'etcd3';

import { NsnetError } from '../../errors.js';
import { globalError } from './etcd.js';
import type { EndpointRecord, NetworkRecord } from '../store.js';
import type { GlobalEndpoint, Keys } from './keys.js';
import { prefixEnd, type Entry, type Mirror } from './mirror.js';

interface Touched {
  /** The mod revision it had when first touched (0: absent). */
  mod: number;
  /** Its value and lease then, to put back if the commit has to be undone. */
  raw: string | null;
  lease: string;
}

/** A write: a value to put (leased: under the host's lease), or null to delete. */
export type Write = { raw: string; leased: boolean } | null;

const HEX64 = /^[0-9a-f]{64}$/;

export class GlobalTx {
  readonly touched = new Map<string, Touched>();
  readonly ranges = new Set<string>();
  readonly writes = new Map<string, Write>();
  /** Directories deleted whole (a pool of a network that goes). */
  readonly cleared = new Set<string>();

  constructor(
    private readonly m: Mirror,
    readonly keys: Keys,
    readonly hostId: string,
    private readonly url: string,
  ) {}

  get dirty(): boolean {
    return this.writes.size > 0 || this.cleared.size > 0;
  }

  /** Nothing is known of etcd yet (it was unreachable since the store opened): a read of it is an error, not an absence. */
  private known(): void {
    if (!this.m.synced) throw globalError(this.url, 'read', new Error('No connection since the store was opened: etcd is unreachable'));
  }

  private touch(key: string): Entry | null {
    this.known();
    const e = this.m.get(key);
    if (!this.touched.has(key)) this.touched.set(key, { mod: e?.mod ?? 0, raw: e?.raw ?? null, lease: e?.lease ?? '0' });
    return e;
  }

  /** A key's value as this transaction sees it; a malformed one is an error naming it. */
  private value<T>(key: string): T | null {
    if (this.writes.has(key)) {
      const w = this.writes.get(key)!;
      return w === null ? null : (parse(this.keys, key, w.raw) as T);
    }
    const e = this.touch(key);
    if (!e) return null;
    if (e.bad) throw malformedError(this.url, key, e.bad);
    return e.value as T;
  }

  /** A directory's values as this transaction sees them; malformed ones are left out (listings go on past someone else's junk). */
  private values<T>(dir: string): T[] {
    this.known();
    this.ranges.add(dir);
    const out = new Map<string, T>();
    for (const e of this.m.entries(dir)) if (!e.bad) out.set(e.key, e.value as T);
    for (const [k, w] of this.writes) {
      if (!k.startsWith(dir) || k.slice(dir.length).includes('/')) continue;
      if (w === null) out.delete(k);
      else out.set(k, parse(this.keys, k, w.raw) as T);
    }
    return [...out.values()];
  }

  private put(key: string, raw: string, leased = false): void {
    this.touch(key);
    this.writes.set(key, { raw, leased });
  }

  private del(key: string): void {
    if (this.writes.has(key) ? this.writes.get(key) === null : !this.touch(key)) return;
    this.writes.set(key, null);
  }

  network(idOrName: string): NetworkRecord | null {
    if (!this.m.synced) throw new Unknown(this.url);
    const byName = this.value<string>(this.keys.name(idOrName));
    if (byName) return this.value<NetworkRecord>(this.keys.network(byName));
    return HEX64.test(idOrName) ? this.value<NetworkRecord>(this.keys.network(idOrName)) : null;
  }

  /** Whether a network id is one of the global store's (reads its key, so a commit that depends on it checks it). */
  has(networkId: string): boolean {
    // Unknown while etcd has been unreachable since open: local records are routed locally meanwhile.
    return this.m.synced && HEX64.test(networkId) && this.value<NetworkRecord>(this.keys.network(networkId)) !== null;
  }

  /** The global networks; none while etcd has been unreachable since open (listings of local ones go on). */
  networks(): NetworkRecord[] {
    return this.m.synced ? this.values<NetworkRecord>(this.keys.dir('networks')) : [];
  }

  putNetwork(n: NetworkRecord): void {
    const before = this.value<NetworkRecord>(this.keys.network(n.id));
    if (before && before.name !== n.name) this.del(this.keys.name(before.name));
    const vni = (x: NetworkRecord | null) => (x?.driverState.vni as number | undefined) ?? null;
    if (before && vni(before) !== null && vni(before) !== vni(n)) this.del(this.keys.vni(vni(before)!));
    this.put(this.keys.network(n.id), JSON.stringify(n));
    if (this.value<string>(this.keys.name(n.name)) !== n.id) this.put(this.keys.name(n.name), n.id);
    if (vni(n) !== null && this.value<string>(this.keys.vni(vni(n)!)) !== n.id) this.put(this.keys.vni(vni(n)!), n.id);
  }

  deleteNetwork(id: string): void {
    const n = this.value<NetworkRecord>(this.keys.network(id));
    if (!n) return;
    this.del(this.keys.network(id));
    if (this.value<string>(this.keys.name(n.name)) === id) this.del(this.keys.name(n.name));
    const vni = n.driverState.vni as number | undefined;
    if (vni !== undefined && this.value<string>(this.keys.vni(vni)) === id) this.del(this.keys.vni(vni));
  }

  /** Every host's endpoints on a network. */
  endpoints(networkId: string): GlobalEndpoint[] {
    return this.values<GlobalEndpoint>(this.keys.dir('endpoints', networkId));
  }

  /** This host's endpoint, under its lease. */
  putEndpoint(e: EndpointRecord): void {
    this.put(this.keys.endpoint(e.networkId, e.id), JSON.stringify({ ...e, host: this.hostId }), true);
  }

  deleteEndpoint(networkId: string, id: string): void {
    this.del(this.keys.endpoint(networkId, id));
  }

  allocation(networkId: string, subnet: string, address: string): string | null {
    return this.value<string>(this.keys.pool(networkId, subnet) + address);
  }

  allocations(networkId: string, subnet: string): { address: string; owner: string }[] {
    const dir = this.keys.pool(networkId, subnet);
    this.ranges.add(dir);
    return this.m.entries(dir).filter((e) => !e.bad && !this.writes.has(e.key)).map((e) => ({ address: e.key.slice(dir.length), owner: e.raw }))
      .concat([...this.writes].filter(([k, w]) => k.startsWith(dir) && w).map(([k, w]) => ({ address: k.slice(dir.length), owner: w!.raw })));
  }

  /** An address for an endpoint of this host: under its lease, so it is free again when the host is gone. */
  reserve(networkId: string, subnet: string, address: string, owner: string): void {
    this.put(this.keys.pool(networkId, subnet) + address, owner, true);
  }

  release(networkId: string, subnet: string, address: string): void {
    this.del(this.keys.pool(networkId, subnet) + address);
  }

  /** One range delete, however many addresses the pool has. */
  releasePool(networkId: string, subnet: string): void {
    const dir = this.keys.pool(networkId, subnet);
    this.ranges.add(dir);
    this.cleared.add(dir);
  }

  /**
   * The keys whose mod revision the commit checks: an address found taken
   * and passed over needs no check, only one found free (and taken now)
   * does. So a search that passes over many taken addresses adds one
   * check, not one per address.
   */
  checked(): string[] {
    return [...this.touched].filter(([key, t]) => t.mod === 0 || this.writes.has(key) || this.keys.kind(key) !== 'address').map(([key]) => key);
  }

  /** The etcd transaction: the checks of everything read, then the writes (leased ones under lease). */
  request(lease: string | null): ITxnRequest {
    const compare: ICompare[] = this.checked().map((key) => ({ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: this.touched.get(key)!.mod }));
    for (const dir of this.ranges) compare.push({ key: Buffer.from(dir), range_end: prefixEnd(dir), target: 'Mod', result: 'Less', mod_revision: this.m.rev + 1 });
    const success: IRequestOp[] = [...this.cleared].map((dir) => ({ request_delete_range: { key: Buffer.from(dir), range_end: prefixEnd(dir) } }));
    for (const [key, w] of this.writes) {
      if (w === null) success.push({ request_delete_range: { key: Buffer.from(key) } });
      else {
        if (w.leased && !lease) throw NsnetError.state('ERR_NSNET_GLOBAL_STORE', 'global.commit', this.url, 'this host holds no lease in the global store: run `nsnet daemon --global-store ...` (it registers the host and keeps it alive)');
        success.push({ request_put: { key: Buffer.from(key), value: Buffer.from(w.raw), ...(w.leased ? { lease: lease! } : {}) } });
      }
    }
    return { compare, success, failure: [] };
  }
}

function parse(keys: Keys, key: string, raw: string): unknown {
  const k = keys.kind(key);
  return k === 'name' || k === 'vni' || k === 'address' ? raw : JSON.parse(raw);
}

/** A global lookup while etcd has been unreachable since the store opened: whether the network exists is not known. */
export class Unknown extends NsnetError {
  constructor(url: string) {
    super(`global store ${url}: etcd is unreachable, so its networks are unknown for now (local networks keep working)`, { code: 'ERR_NSNET_GLOBAL_STORE', op: 'global.read', object: url });
  }
}

export function malformedError(url: string, key: string, why: string): NsnetError {
  return new NsnetError(`global store ${url}: key ${key} ${why}: someone other than nsnet wrote it; remove or fix it (etcdctl del ${key})`,
    { code: 'ERR_NSNET_STORE', op: 'global.read', object: key });
}
