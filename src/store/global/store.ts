// The global store: etcd, shared by every host, for what spans hosts
// (global-scope networks, their addresses and endpoints, the hosts
// themselves). It opens bounded in time, keeps a mirror of its prefix
// (mirror.ts), commits transactions with compare-and-swap (tx.ts), and,
// for the process that registers the host, keeps the host's lease alive
// (etcd.ts): the host and its endpoints and addresses live under it.
import { hostname } from 'node:os';

import type { Etcd3, IKeyValue, ITxnResponse } from 'etcd3';

import { NsnetError } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, globalError, HostLease, openClient, whileUnreachable } from './etcd.js';
import { Keys, parseStoreUrl, type HostRecord } from './keys.js';
import { Mirror } from './mirror.js';
import { GlobalTx } from './tx.js';

export interface GlobalStoreOptions {
  /** etcd://host:port[,host:port...][/prefix] */
  url: string;
  /** This host's id (its local store's). */
  hostId: string;
  /** How long a call to etcd may take, ms. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** What a registered host announces. */
export interface Registration {
  address: string;
  vtepMac: string;
  /** The lease's TTL, seconds. */
  ttl: number;
  /** Puts this host's endpoints and addresses (from its local store) under a new lease, after the old one was lost. */
  republish: (lease: string) => Promise<void>;
}

export class GlobalStore {
  readonly keys: Keys;
  readonly mirror: Mirror;
  readonly timeoutMs: number;
  private lease: HostLease | null = null;
  private readonly log: (line: string) => void;

  private constructor(
    readonly url: string,
    readonly client: Etcd3,
    readonly hostId: string,
    prefix: string,
    o: GlobalStoreOptions,
  ) {
    this.timeoutMs = o.timeoutMs ?? (Number(process.env.NSNET_ETCD_TIMEOUT_MS) || DEFAULT_TIMEOUT_MS);
    this.keys = new Keys(prefix);
    this.mirror = new Mirror(client, this.keys, this.timeoutMs);
    this.log = o.log ?? ((l) => process.stderr.write(`nsnet: ${l}\n`));
  }

  /**
   * Connects and lists the prefix; an unreachable etcd fails within the
   * timeout, saying so. With lazy, it does not fail: the store keeps trying,
   * and meanwhile local work goes on and global reads say etcd is unreachable.
   */
  static async open(o: GlobalStoreOptions & { lazy?: boolean }): Promise<GlobalStore> {
    const { hosts, prefix } = parseStoreUrl(o.url);
    const timeoutMs = o.timeoutMs ?? (Number(process.env.NSNET_ETCD_TIMEOUT_MS) || DEFAULT_TIMEOUT_MS);
    const client = await openClient(hosts, timeoutMs);
    const s = new GlobalStore(o.url, client, o.hostId, prefix, { ...o, timeoutMs });
    try {
      // A lazy store keeps trying in the background anyway: it does not wait here.
      const deadline = Date.now() + timeoutMs;
      await (o.lazy ? s.mirror.start(deadline) : whileUnreachable(deadline, (d) => s.mirror.start(d)));
    } catch (e) {
      if (o.lazy) {
        s.mirror.startLater();
        return s;
      }
      s.mirror.close();
      client.close();
      throw globalError(o.url, 'open', e);
    }
    return s;
  }

  begin(): GlobalTx {
    return new GlobalTx(this.mirror, this.keys, this.hostId, this.url);
  }

  /** The lease this host's keys go under: the one this process keeps, or the one its registered host record has. */
  leaseId(): string | null {
    if (this.lease?.id) return this.lease.id;
    const h = this.mirror.get(this.keys.host(this.hostId));
    return h && !h.bad && h.lease !== '0' ? h.lease : null;
  }

  /**
   * Commits t; false when something it read changed meanwhile (the mirror
   * then has the new values, and the caller runs it again).
   */
  async commit(t: GlobalTx): Promise<{ ok: boolean; rev: number }> {
    const lease = this.leaseId();
    const req = t.request(lease);
    let res;
    try {
      res = await this.client.kv.txn(req, { deadline: Date.now() + this.timeoutMs });
    } catch (e) {
      throw globalError(this.url, 'commit', e);
    }
    const rev = Number(res.header.revision);
    if (!res.succeeded) {
      // Only what was checked can have failed it: addresses passed over are left to the watch.
      await this.mirror.refresh(t.checked(), [...t.ranges]).catch((e) => {
        throw globalError(this.url, 'read', e);
      });
      return { ok: false, rev };
    }
    const puts = [...t.writes].filter(([, w]) => w).map(([key, w]) => ({ key, raw: w!.raw, lease: w!.leased ? lease! : '0' }));
    const cleared = [...t.cleared].flatMap((d) => this.mirror.entries(d).map((e) => e.key));
    this.mirror.applyOwn(rev, puts, [...t.writes].filter(([, w]) => !w).map(([k]) => k).concat(cleared));
    return { ok: true, rev };
  }

  /** Puts back what a commit at rev changed, where nobody changed it since (the local half of the transaction failed). */
  async undo(t: GlobalTx, rev: number): Promise<void> {
    const ops = [...t.writes.keys()].map((key) => {
      const was = t.touched.get(key)!;
      return this.client.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: rev }],
        success: [was.raw === null ? { request_delete_range: { key: Buffer.from(key) } } : { request_put: { key: Buffer.from(key), value: Buffer.from(was.raw), lease: was.lease } }],
        failure: [],
      }, { deadline: Date.now() + this.timeoutMs });
    });
    await Promise.allSettled(ops);
    await this.mirror.refresh([...t.writes.keys()], []).catch(() => {});
  }

  /** Registers this host under a lease it keeps alive; its host record says where its VTEP is. */
  async register(r: Registration): Promise<void> {
    const put = async (lease: string, deadline = Date.now() + this.timeoutMs) => {
      const rec: HostRecord = { id: this.hostId, name: hostname(), address: r.address, vtepMac: r.vtepMac, started: new Date().toISOString() };
      await this.client.kv.put({ key: Buffer.from(this.keys.host(this.hostId)), value: Buffer.from(JSON.stringify(rec)), lease }, { deadline });
      await this.mirror.refresh([this.keys.host(this.hostId)], []);
    };
    const lease = new HostLease(this.client, r.ttl, this.timeoutMs, async (id) => {
      await put(id);
      await r.republish(id);
    }, this.log);
    try {
      // Each step within its own timeout, as before it was tried again. A
      // grant whose answer was lost leaves a lease nothing uses: it expires.
      const id = await whileUnreachable(Date.now() + this.timeoutMs, (deadline) => lease.grant(deadline));
      await whileUnreachable(Date.now() + this.timeoutMs, (deadline) => put(id, deadline));
    } catch (e) {
      await lease.close(true);
      throw globalError(this.url, 'register', e);
    }
    this.lease = lease;
  }

  /** Whether this process keeps the host's lease alive. */
  get registered(): boolean {
    return this.lease !== null;
  }

  /** Re-puts keys under the lease (after a lease was lost, or on start), where they are as expected. */
  async putLeased(entries: { key: string; raw: string; expect: 'absent-or-same' }[]): Promise<string[]> {
    const lease = this.leaseId();
    if (!lease) throw NsnetError.state('ERR_NSNET_GLOBAL_STORE', 'global.republish', this.url, 'this host holds no lease in the global store');
    const refused: string[] = [];
    for (const e of entries) {
      const res: ITxnResponse = await this.client.kv.txn({
        compare: [{ key: Buffer.from(e.key), target: 'Version', result: 'Equal', version: 0 }],
        success: [{ request_put: { key: Buffer.from(e.key), value: Buffer.from(e.raw), lease } }],
        failure: [{ request_range: { key: Buffer.from(e.key) } }],
      }, { deadline: Date.now() + this.timeoutMs }).catch((x) => {
        throw globalError(this.url, 'republish', x);
      });
      if (res.succeeded) continue;
      const kv: IKeyValue | undefined = res.responses[0]?.response_range?.kvs[0];
      if (kv && kv.value.toString() === e.raw) {
        if (String(kv.lease) === lease) continue;
        // Ours, under an older lease: moved under this one, unless it changed meanwhile.
        const moved = await this.client.kv.txn({
          compare: [{ key: Buffer.from(e.key), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_put: { key: Buffer.from(e.key), value: Buffer.from(e.raw), lease } }],
          failure: [],
        }, { deadline: Date.now() + this.timeoutMs });
        if (moved.succeeded) continue;
      }
      refused.push(e.key);
    }
    await this.mirror.refresh(entries.map((e) => e.key), []).catch(() => {});
    return refused;
  }

  /** The hosts registered now (a host whose lease expired is gone). */
  hosts(): (HostRecord & { lease: string })[] {
    return this.mirror.entries(this.keys.dir('hosts')).filter((e) => !e.bad).map((e) => ({ ...(e.value as HostRecord), lease: e.lease }));
  }

  /** Seconds left on a lease, or -1 when it is gone. */
  async ttlOf(lease: string): Promise<number> {
    const r = await this.client.leaseClient.leaseTimeToLive({ ID: lease }, { deadline: Date.now() + this.timeoutMs });
    return Number(r.TTL);
  }

  /** How the lease and the mirror fared: for `host ls` and the daemon's log. */
  stats(): { registered: boolean; regrants: number; relists: number; connected: boolean; rev: number } {
    return { registered: this.registered, regrants: this.lease?.regrants ?? 0, relists: this.mirror.relists, connected: this.mirror.connected, rev: this.mirror.rev };
  }

  /**
   * Stops the watch and the lease's keepalive and closes the connection.
   * The host's keys stay until their lease runs out (a restart within the
   * TTL keeps them); leave revokes them at once.
   */
  async close(o: { leave?: boolean } = {}): Promise<void> {
    this.mirror.close();
    await this.lease?.close(!!o.leave);
    this.client.close();
  }
}
