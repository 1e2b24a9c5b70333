// Keeps this host's VXLAN devices in line with the global store: for each
// endpoint of another host on a network this host has devices for, a
// forwarding entry (its MAC -> its host's VTEP) and a neighbour entry for
// each of its addresses; for each that went (left, deleted, or its host's
// lease expired), none. Each change set the mirror reports (a watch
// response, a listing after a resync, a commit of this process) becomes
// one batch for all networks at once, sent in trips of a few dozen peers
// (overlay.ts commitPeers). What is programmed
// is known from the kernel (listed when a device appears, when the mirror
// lists afresh, and after a batch failed) and from the batches since, so a
// device someone else made (another process's join) or emptied is brought
// in line too. The process that registered the host runs it.
import type { Peer } from '../drivers/driver.js';
import { commitPeers, overlayState, type PeerChange } from '../drivers/overlay.js';
import type { Netns } from '../netlink/netns.js';
import { Watcher, type NetnsEvent } from '../netlink/watch.js';
import type { GlobalEndpoint, HostRecord } from '../store/global/keys.js';
import type { Change } from '../store/global/mirror.js';
import type { GlobalStore } from '../store/global/store.js';
import type { NetworkRecord } from '../store/store.js';

/** The joined endpoints of other hosts on a network, with their hosts' VTEPs, from the mirror (a snapshot, read as iterated). */
export function* remotePeerList(g: GlobalStore, networkId: string): Generator<Peer> {
  const hosts = new Map(g.hosts().map((h) => [h.id, h]));
  for (const e of g.mirror.entries(g.keys.dir('endpoints', networkId))) {
    const ep = e.value as GlobalEndpoint | null;
    if (!ep || e.bad || ep.host === g.hostId || !ep.sandboxId || !ep.mac) continue;
    const h: HostRecord | undefined = hosts.get(ep.host);
    if (!h) continue;
    yield { mac: ep.mac, ips: ep.addresses.map((a) => a.split('/')[0]!), vtep: h.address };
  }
}

export const remotePeers = (g: GlobalStore, networkId: string): Peer[] => [...remotePeerList(g, networkId)];

const same = (a: Peer, b: Peer) => a.vtep === b.vtep && a.ips.length === b.ips.length && a.ips.every((ip) => b.ips.includes(ip));

/**
 * Peers compared per turn of the JS thread: a change set of thousands of
 * peers is worked out over several turns, as it is sent in several trips,
 * so that nothing else waits for all of it. The mirror's listing is a
 * snapshot, and this runs in PeerSync's queue: what changes meanwhile is
 * the next change set's.
 */
const PEERS_PER_TURN = 500;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface PeerStats {
  /** Netlink trips sent. */
  trips: number;
  /** The last device this process made with its peers: how many, how long its trips took, and how many. */
  initial: { peers: number; ms: number; trips: number } | null;
  /** Entries they added or removed (a peer counts once, and once more if it also dropped addresses). */
  entries: number;
  /** Full listings of a device's entries from the kernel. */
  dumps: number;
  errors: string[];
}

export class PeerSync {
  /** What each network's VXLAN device has, by peer MAC (null: to be read from the kernel first). */
  private readonly programmed = new Map<string, Map<string, Peer> | null>();
  /** Networks whose devices exist here, by VXLAN device name. */
  private readonly devices = new Map<string, string>();
  /** Networks whose devices this process is making and programming (ensureDevices), and how many times at once: their link events are its own. */
  private readonly made = new Map<string, number>();
  /**
   * Bumped whenever what is known of a network's device changes (a link
   * event, a resync, adopt, forget): a program() that was suspended
   * meanwhile does not record its view over the newer one.
   */
  private readonly gen = new Map<string, number>();
  private pending = new Set<string>();
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();
  private links: Watcher | null = null;
  private readonly onChange = (changes: Change[]) => this.changed(changes);
  private readonly onResync = () => this.resyncAll();
  readonly stats: PeerStats = { trips: 0, initial: null, entries: 0, dumps: 0, errors: [] };
  /** Called after each batch with the networks it programmed (tests and benchmarks wait on it). */
  onProgrammed: ((networks: string[]) => void) | null = null;

  constructor(
    private readonly host: Netns,
    private readonly g: GlobalStore,
    private readonly log: (line: string) => void,
  ) {}

  private networks(): NetworkRecord[] {
    return this.g.mirror.entries(this.g.keys.dir('networks')).filter((e) => !e.bad).map((e) => e.value as NetworkRecord).filter((n) => n.driver === 'overlay');
  }

  /** Watches this host's links (devices coming and going) and the mirror; programs every device that exists now. */
  async start(): Promise<void> {
    const links = new Watcher(this.host, { links: true });
    this.links = links;
    links.on('event', (e: NetnsEvent) => {
      if (e.kind === 'resync') return this.resyncAll();
      if (e.kind !== 'link' || !e.link.name.startsWith('nsvx-')) return;
      const net = this.networks().find((n) => overlayState(n).vxlan === e.link.name);
      if (!net || this.made.has(net.id)) return;
      this.bump(net.id);
      if (e.action === 'del') {
        this.devices.delete(net.id);
        this.programmed.delete(net.id);
      } else if (!this.devices.has(net.id) || this.programmed.get(net.id) === undefined) {
        this.devices.set(net.id, e.link.name);
        this.programmed.set(net.id, null);
        this.request([net.id]);
      }
    });
    await links.ready;
    this.g.mirror.on('change', this.onChange);
    this.g.mirror.on('resync', this.onResync);
    await this.resyncAll();
  }

  /** Reads every device from the kernel and programs what differs. */
  resyncAll(): Promise<void> {
    return this.enqueue(async () => {
      const names = new Set((await this.host.links.list()).filter((l) => l.kind === 'vxlan').map((l) => l.name));
      this.devices.clear();
      for (const n of this.networks()) {
        const vx = overlayState(n).vxlan;
        this.bump(n.id);
        // A device this process is still making is adopted when made.
        if (names.has(vx) && !this.made.has(n.id)) this.devices.set(n.id, vx);
      }
      for (const id of this.devices.keys()) this.programmed.set(id, null);
      for (const id of [...this.programmed.keys()]) if (!this.devices.has(id)) this.programmed.delete(id);
      await this.program(new Set(this.devices.keys()));
    });
  }

  /**
   * This process is making a network's devices and programs their peers
   * (ensureDevices): adopt() follows, or making(id, false) if that failed
   * (the devices may be gone, or left with some peers missing), after which
   * the kernel says what is there: its link events were skipped meanwhile.
   */
  making(networkId: string, on: boolean): void {
    if (on) return void this.made.set(networkId, (this.made.get(networkId) ?? 0) + 1);
    this.unmark(networkId);
    this.recheck(networkId);
  }

  private unmark(networkId: string): void {
    const n = (this.made.get(networkId) ?? 0) - 1;
    if (n > 0) this.made.set(networkId, n);
    else this.made.delete(networkId);
  }

  /** Reads whether a network's device is there, and if so what it holds, and programs what differs. */
  private recheck(networkId: string): void {
    void this.enqueue(async () => {
      if (this.made.has(networkId)) return;
      const net = this.networks().find((n) => n.id === networkId);
      const vx = net ? overlayState(net).vxlan : null;
      const here = vx !== null && (await this.host.links.find(vx)) !== null;
      this.bump(networkId);
      if (!here || !vx) {
        this.devices.delete(networkId);
        this.programmed.delete(networkId);
        return;
      }
      this.devices.set(networkId, vx);
      this.programmed.set(networkId, null);
      await this.program(new Set([networkId]));
    });
  }

  private bump(networkId: string): void {
    this.gen.set(networkId, (this.gen.get(networkId) ?? 0) + 1);
  }

  /** A device this process made with these peers programmed (ensureDevices): known without reading it back. */
  adopt(networkId: string, vxlan: string, peers: Peer[], ms: number, trips: number): void {
    this.unmark(networkId);
    this.devices.set(networkId, vxlan);
    this.programmed.set(networkId, new Map(peers.map((p) => [p.mac, p])));
    this.bump(networkId);
    this.stats.initial = { peers: peers.length, ms, trips };
    // What changed while the trip was under way is programmed now.
    this.request([networkId]);
  }

  private changed(changes: Change[]): void {
    const nets: string[] = [];
    for (const c of changes) {
      // This host's own endpoints are never its peers.
      if (c.kind === 'endpoint' && ((c.after ?? c.before)?.value as GlobalEndpoint | null)?.host === this.g.hostId) continue;
      if (c.kind === 'endpoint') nets.push(c.key.split('/').at(-2)!);
      // A host's VTEP moved, or a host came or went: every network may have its endpoints.
      else if (c.kind === 'host' || c.kind === 'network') return this.request([...this.devices.keys()]);
    }
    this.request(nets.filter((n) => this.devices.has(n)));
  }

  private request(nets: string[]): void {
    for (const n of nets) this.pending.add(n);
    if (this.scheduled || !this.pending.size) return;
    this.scheduled = true;
    // Changes that arrive together (one watch response is one change set) go in one batch.
    setImmediate(() => {
      this.scheduled = false;
      const nets = this.pending;
      this.pending = new Set();
      void this.enqueue(() => this.program(nets));
    });
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.running = this.running.then(work).catch((e: Error) => {
      this.stats.errors.push(e.message);
      this.log(`overlay peers: ${e.message}`);
    });
    return this.running;
  }

  /**
   * One batch for every network in nets: what the mirror wants minus what
   * the device has. What it then records a device has is dropped, and the
   * network asked for again, if what is known of the device changed while
   * this was suspended (a link event, a resync, this process's own join).
   */
  private async program(nets: Set<string>, retried = false): Promise<void> {
    const changes: PeerChange[] = [];
    const done: { id: string; want: Map<string, Peer>; gen: number | undefined }[] = [];
    let entries = 0;
    let n = 0;
    const turn = async () => {
      if (++n % PEERS_PER_TURN === 0) await nextTurn();
    };
    for (const id of nets) {
      const vx = this.devices.get(id);
      if (!vx) continue;
      const gen = this.gen.get(id);
      const have = this.programmed.get(id) ?? (await this.dump(vx));
      const want = new Map<string, Peer>();
      for (const p of remotePeerList(this.g, id)) {
        want.set(p.mac, p);
        const had = have.get(p.mac);
        if (!had || !same(had, p)) {
          changes.push({ vxlan: vx, peer: p, remove: false });
          entries++;
          // The addresses a changed peer no longer has (its forwarding entry is replaced).
          const gone = had?.ips.filter((ip) => !p.ips.includes(ip)) ?? [];
          if (gone.length) {
            changes.push({ vxlan: vx, peer: { mac: p.mac, vtep: '', ips: gone }, remove: true });
            entries++;
          }
        }
        await turn();
      }
      // Gone peers.
      for (const p of have.values()) {
        if (!want.has(p.mac)) {
          changes.push({ vxlan: vx, peer: p, remove: true });
          entries++;
        }
        await turn();
      }
      done.push({ id, want, gen });
    }
    const current = (d: (typeof done)[number]) => this.gen.get(d.id) === d.gen && this.devices.has(d.id);
    const record = (what: (d: (typeof done)[number]) => Map<string, Peer> | null) => {
      const stale = done.filter((d) => !current(d)).map((d) => d.id);
      for (const d of done) if (current(d)) this.programmed.set(d.id, what(d));
      this.request(stale.filter((id) => this.devices.has(id)));
    };
    if (!entries) return record((d) => d.want);
    try {
      await commitPeers(this.host.batch(), () => this.host.batch(), changes, () => this.stats.trips++);
      this.stats.entries += entries;
      record((d) => d.want);
      this.onProgrammed?.(done.map((d) => d.id));
    } catch (e) {
      // The device changed under us (someone deleted an entry, or the device): read it again and retry once.
      record(() => null);
      if (retried) throw e;
      await this.program(nets, true);
    }
  }

  /** What a VXLAN device has programmed, read from the kernel: its forwarding entries with a remote, and its neighbours. */
  private async dump(vxlan: string): Promise<Map<string, Peer>> {
    this.stats.dumps++;
    const dev = await this.host.links.find(vxlan);
    if (!dev) return new Map();
    const [fdb, neigh] = await Promise.all([this.host.fdb.list({ ifindex: dev.ifindex }), this.host.neighbours.list()]);
    const out = new Map<string, Peer>();
    for (const f of fdb) if (f.dst && f.flags.includes('self') && f.lladdr !== '00:00:00:00:00:00') out.set(f.lladdr, { mac: f.lladdr, vtep: f.dst, ips: [] });
    for (const n of neigh) {
      if (n.ifindex !== dev.ifindex || !n.lladdr) continue;
      const p = out.get(n.lladdr) ?? { mac: n.lladdr, vtep: '', ips: [] };
      p.ips.push(n.dst);
      out.set(n.lladdr, p);
    }
    return out;
  }

  /** This process removed a network's devices: forgotten now, before the kernel's event says so. */
  forget(networkId: string): void {
    this.bump(networkId);
    this.devices.delete(networkId);
    this.programmed.delete(networkId);
  }

  /** Whether a network's device has a peer's MAC programmed (as far as this process knows). */
  has(networkId: string, mac: string): boolean {
    return this.programmed.get(networkId)?.has(mac) ?? false;
  }

  /** How many peers a network's device has programmed. */
  count(networkId: string): number {
    return this.programmed.get(networkId)?.size ?? 0;
  }

  /** Resolves once the work queued so far is done. */
  settled(): Promise<void> {
    return this.running;
  }

  close(): void {
    this.g.mirror.off('change', this.onChange);
    this.g.mirror.off('resync', this.onResync);
    this.links?.close();
    this.links = null;
  }
}
