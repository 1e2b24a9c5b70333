// The names the embedded DNS server answers, in memory: for each network
// with names, which sandboxes are on it under which names, and at which
// addresses. Lookups are made on behalf of one sandbox (the one whose
// socket the query came in on) and see only the networks it is on, so a
// network's isolation holds for its names too. Kept current by the DNS
// service as sandboxes become live, change networks and go.
import { fromBig, toBig } from '../ipaddr.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { namedNetwork } from './policy.js';

/** One sandbox's addresses on one network. */
interface Entry {
  sandboxId: string;
  v4: string[];
  v6: string[];
}

interface NetNames {
  /** The network's name, lowercased: `web.mynet` names web on mynet. */
  name: string;
  /** name -> the sandboxes that answer to it there (several share an alias). */
  names: Map<string, Map<string, Entry>>;
  /** address -> the name its PTR gives. */
  reverse: Map<string, string>;
}

interface SandboxNames {
  /** Its own upstreams (--dns), or [] for the host's. */
  upstreams: string[];
  /** Network id -> the names and addresses it has there. */
  nets: Map<string, { names: string[]; entry: Entry; ptr: string }>;
}

export type Lookup =
  /** The name is on a network the asker is on: its addresses (either list may be empty). */
  | { found: true; v4: string[]; v6: string[] }
  /** known: it is a name of sandboxes on other networks only (isolation: no such name here). */
  | { found: false; known: boolean };

/** A normalised address (one spelling per address), or null. */
export function canonical(address: string): string | null {
  const b = toBig(address);
  return b ? fromBig(b.family, b.n) : null;
}

/** Lowercased, without the root's trailing dot. */
export const normalName = (qname: string) => (qname.endsWith('.') ? qname.slice(0, -1) : qname).toLowerCase();

/** Rotates a list by k places: several sandboxes with one name take turns at being first. */
function rotate<T>(xs: T[], k: number): T[] {
  if (xs.length < 2) return xs;
  const i = k % xs.length;
  return [...xs.slice(i), ...xs.slice(0, i)];
}

export class NameTable {
  private readonly nets = new Map<string, NetNames>();
  private readonly sandboxes = new Map<string, SandboxNames>();
  /** How many (network, sandbox) pairs hold each name: a name held nowhere is not ours. */
  private readonly held = new Map<string, number>();
  /** Lookups per name, to rotate answers. */
  private readonly turns = new Map<string, number>();

  /** Whether the sandbox is in the table (it has joined endpoints, or a server). */
  has(sandboxId: string): boolean {
    return this.sandboxes.has(sandboxId);
  }

  /** The sandbox's own upstreams (--dns); [] when it has none or is unknown. */
  upstreams(sandboxId: string): string[] {
    return this.sandboxes.get(sandboxId)?.upstreams ?? [];
  }

  /** Makes the table say what sb is now: on these endpoints' networks, under its name, hostname and their aliases. */
  set(sb: SandboxRecord, eps: EndpointRecord[], nets: ReadonlyMap<string, NetworkRecord>): void {
    this.remove(sb.id);
    const mine: SandboxNames = { upstreams: [...sb.dns], nets: new Map() };
    this.sandboxes.set(sb.id, mine);
    for (const ep of eps) {
      const net = nets.get(ep.networkId);
      if (!net || !namedNetwork(net) || ep.sandboxId !== sb.id) continue;
      // A sandbox on a network through several endpoints (a CNI container
      // with two interfaces on it) answers there with all their addresses.
      const had = mine.nets.get(net.id);
      const entry: Entry = had?.entry ?? { sandboxId: sb.id, v4: [], v6: [] };
      const added: string[] = [];
      for (const cidr of ep.addresses) {
        const a = canonical(cidr.split('/')[0]!);
        if (!a) continue;
        (a.includes(':') ? entry.v6 : entry.v4).push(a);
        added.push(a);
      }
      const names = [...new Set([sb.name, sb.hostname, ...(ep.aliases ?? [])].map(normalName))].filter((x) => !had?.names.includes(x));
      let n = this.nets.get(net.id);
      if (!n) this.nets.set(net.id, (n = { name: net.name.toLowerCase(), names: new Map(), reverse: new Map() }));
      for (const name of names) {
        let holders = n.names.get(name);
        if (!holders) n.names.set(name, (holders = new Map()));
        holders.set(sb.id, entry);
        this.held.set(name, (this.held.get(name) ?? 0) + 1);
      }
      // As Docker answers: the sandbox's name qualified by the network's, which resolves back here.
      const ptr = `${normalName(sb.name)}.${n.name}`;
      for (const a of added) n.reverse.set(a, ptr);
      mine.nets.set(net.id, { names: [...(had?.names ?? []), ...names], entry, ptr });
    }
  }

  /** Forgets a sandbox: its names stop resolving at once. */
  remove(sandboxId: string): void {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return;
    this.sandboxes.delete(sandboxId);
    for (const [netId, { names, entry, ptr }] of sb.nets) {
      const n = this.nets.get(netId)!;
      for (const name of names) {
        const holders = n.names.get(name)!;
        holders.delete(sandboxId);
        if (!holders.size) n.names.delete(name);
        const c = this.held.get(name)! - 1;
        if (c) this.held.set(name, c);
        else {
          this.held.delete(name);
          this.turns.delete(name);
        }
      }
      for (const a of [...entry.v4, ...entry.v6]) if (n.reverse.get(a) === ptr) n.reverse.delete(a);
      if (!n.names.size) this.nets.delete(netId);
    }
  }

  /**
   * What `qname` (normalised) is to the asker: the addresses of every
   * sandbox that holds it on a network the asker is on, in rotating order;
   * `name.network` asks on that network alone.
   */
  lookup(askerId: string, qname: string): Lookup {
    const asker = this.sandboxes.get(askerId);
    const holders = new Map<string, Entry>();
    if (asker) {
      for (const netId of asker.nets.keys()) {
        const n = this.nets.get(netId)!;
        for (const [id, e] of n.names.get(qname) ?? []) holders.set(`${netId}/${id}`, e);
        if (qname.endsWith(`.${n.name}`)) for (const [id, e] of n.names.get(qname.slice(0, -n.name.length - 1)) ?? []) holders.set(`${netId}/${id}`, e);
      }
    }
    if (!holders.size) return { found: false, known: this.held.has(qname) || this.heldAsQualified(qname) };
    const turn = this.turns.get(qname) ?? 0;
    this.turns.set(qname, turn + 1);
    const all = [...holders.values()];
    return { found: true, v4: rotate(all.flatMap((e) => e.v4), turn), v6: rotate(all.flatMap((e) => e.v6), turn) };
  }

  /** The name of the sandbox at address on a network the asker is on; known: it is one of another network's. */
  reverse(askerId: string, address: string): { name: string } | { name: null; known: boolean } {
    const asker = this.sandboxes.get(askerId);
    for (const netId of asker?.nets.keys() ?? []) {
      const name = this.nets.get(netId)!.reverse.get(address);
      if (name) return { name };
    }
    for (const n of this.nets.values()) if (n.reverse.has(address)) return { name: null, known: true };
    return { name: null, known: false };
  }

  /** `name.network` for a network and name the table holds. */
  private heldAsQualified(qname: string): boolean {
    for (const n of this.nets.values()) if (qname.endsWith(`.${n.name}`) && n.names.has(qname.slice(0, -n.name.length - 1))) return true;
    return false;
  }
}
