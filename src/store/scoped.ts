// The store as the controller sees it when there is a global store too:
// one Store, routing each record by its network's scope. Local networks,
// sandboxes, cursors and this host's endpoints stay in the local store
// (SQLite); global networks, every host's endpoints on them and their
// addresses live in the global store (etcd). This host's endpoints on a
// global network are in both: the local copy is its durable intent (what
// it republishes after its lease was lost), the global one is what other
// hosts see.
//
// A transaction that writes only locally commits as before. One that
// writes globally runs in three steps, so that SQLite's lock is never held
// across a round trip to etcd: (1) fn runs against the local store (every
// local read and write recorded, then rolled back) and the global mirror
// (writes buffered); (2) the global writes commit in one etcd transaction
// that checks everything fn read there; (3) the local half is replayed in a
// new local transaction, which checks that every local read is still what
// fn saw. A conflict at (2) runs fn again on fresher data; a difference at
// (3) undoes (2) where nobody changed it since and runs fn again. So fn may
// run more than once (the Store interface says it must have no side effects).
import { NsnetError } from '../errors.js';
import type { GlobalStore } from './global/store.js';
import type { GlobalTx } from './global/tx.js';
import { Recording, Stale } from './replay.js';
import type { EndpointRecord, Store, StoreTx } from './store.js';

/** Commits that conflict this many times in a row give up. */
const MAX_ATTEMPTS = 200;

/** Thrown inside the local transaction to roll it back once fn has run (step 1). */
class DryRun extends Error {}

/** A pool key is `<network id>/<subnet>`. */
const splitPool = (pool: string) => ({ net: pool.slice(0, 64), subnet: pool.slice(65) });

/** The transaction fn sees: local and global behind one StoreTx. */
function scopedTx(l: StoreTx, g: GlobalTx): StoreTx {
  const isGlobal = (networkId: string) => g.has(networkId);
  return {
    network: (k) => l.network(k) ?? g.network(k),
    networks: () => [...l.networks(), ...g.networks()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    putNetwork: (n) => {
      if (n.scope !== 'global') return l.putNetwork(n);
      g.putNetwork(n);
    },
    deleteNetwork: (id) => (isGlobal(id) ? g.deleteNetwork(id) : l.deleteNetwork(id)),
    endpoint: (id) => l.endpoint(id),
    // Names are this host's: sandboxes on two hosts may share a name.
    endpointByName: (net, name) => l.endpointByName(net, name),
    endpoints: (f) => (f?.networkId && !f.sandboxId && isGlobal(f.networkId) ? g.endpoints(f.networkId).map(stripHost) : l.endpoints(f)),
    putEndpoint: (e) => {
      l.putEndpoint(e);
      if (isGlobal(e.networkId)) g.putEndpoint(e);
    },
    deleteEndpoint: (id) => {
      const e = l.endpoint(id);
      l.deleteEndpoint(id);
      if (e && isGlobal(e.networkId)) g.deleteEndpoint(e.networkId, id);
    },
    sandbox: (k) => l.sandbox(k),
    sandboxes: (f) => l.sandboxes(f),
    putSandbox: (s) => l.putSandbox(s),
    deleteSandbox: (id) => l.deleteSandbox(id),
    allocation: (pool, a) => {
      const p = splitPool(pool);
      return isGlobal(p.net) ? g.allocation(p.net, p.subnet, a) : l.allocation(pool, a);
    },
    allocations: (pool) => {
      const p = splitPool(pool);
      return isGlobal(p.net) ? g.allocations(p.net, p.subnet) : l.allocations(pool);
    },
    reserve: (pool, a, owner) => {
      const p = splitPool(pool);
      return isGlobal(p.net) ? g.reserve(p.net, p.subnet, a, owner) : l.reserve(pool, a, owner);
    },
    release: (pool, a) => {
      const p = splitPool(pool);
      return isGlobal(p.net) ? g.release(p.net, p.subnet, a) : l.release(pool, a);
    },
    releasePool: (pool) => {
      const p = splitPool(pool);
      if (isGlobal(p.net)) {
        g.releasePool(p.net, p.subnet);
        l.setCursor(pool, null);
      } else l.releasePool(pool);
    },
    // Where a host's next search starts is its own: hosts allocating at once do not chase one cursor.
    cursor: (pool) => l.cursor(pool),
    setCursor: (pool, a) => l.setCursor(pool, a),
  };
}

/** A global endpoint record as the controller knows endpoints (the host it is on is the global store's business). */
function stripHost(e: EndpointRecord & { host?: string }): EndpointRecord {
  const { host: _host, ...rec } = e;
  return rec;
}

export class ScopedStore implements Store {
  /** Commits that conflicted and ran again (for tests and benchmarks). */
  retries = 0;

  constructor(
    readonly local: Store,
    readonly global: GlobalStore,
  ) {}

  get id(): string {
    return this.local.id;
  }

  async update<T>(fn: (tx: StoreTx) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS)
        throw NsnetError.state('ERR_NSNET_GLOBAL_STORE', 'global.commit', this.global.url, `gave up after ${MAX_ATTEMPTS} conflicting commits: other hosts keep changing the same records`);
      if (attempt > 0) {
        this.retries++;
        // Others are committing the same keys: let them, and the mirror catch up.
        await new Promise((r) => setTimeout(r, Math.min(50, 2 ** Math.min(attempt, 6) * Math.random())));
      }
      const g = this.global.begin();
      const rec = new Recording();
      let result!: T;
      try {
        return await this.local.update((t) => {
          result = fn(scopedTx(rec.wrap(t), g));
          if (g.dirty) throw new DryRun();
          return result;
        });
      } catch (e) {
        if (!(e instanceof DryRun)) throw e;
      }
      const c = await this.global.commit(g);
      if (!c.ok) continue;
      if (!rec.writes) return result;
      try {
        await this.local.update((t) => rec.replay(t));
        return result;
      } catch (e) {
        await this.global.undo(g, c.rev);
        if (!(e instanceof Stale)) throw e;
      }
    }
  }

  view<T>(fn: (tx: StoreTx) => T): Promise<T> {
    const g = this.global.begin();
    return this.local.view((t) => fn(scopedTx(t, g)));
  }

  close(): void {
    this.local.close();
    void this.global.close();
  }
}

/** What a caller that needs the global store gets when there is none. */
export function noGlobalStore(what: string): NsnetError {
  return NsnetError.state('ERR_NSNET_UNSUPPORTED', 'network.create', what,
    `${what} needs a global store: Controller.open({ globalStore: 'etcd://host:2379' }), nsnet daemon --global-store, or NSNET_GLOBAL_STORE`);
}
