// The global store's key layout in etcd, and the values it keeps there.
// Everything lives under one prefix (default /nsnet, then /v1/ so that a
// later layout can sit beside this one):
//
//   <p>/v1/hosts/<host id>                  {id, name, address, vtepMac, started}    leased by the host
//   <p>/v1/networks/<network id>            a network record (scope global)
//   <p>/v1/names/<network name>             the network id holding the name          created by CAS
//   <p>/v1/vnis/<vni>                       the network id holding the VNI           created by CAS
//   <p>/v1/endpoints/<network id>/<ep id>   an endpoint record with its host id      leased by its host
//   <p>/v1/addresses/<network id>/<subnet>/<address>  the endpoint holding it        created by CAS, leased
//
// (<subnet> with its '/' written '_'). A host's id is its local store's id.
// Keys leased by a host vanish with it: when its lease expires, every other
// host sees its endpoints deleted and its addresses are free again. Values
// are JSON (or a bare id); one that does not decode as what nsnet writes
// (someone else's) is kept out of the data and named in errors, never
// overwritten blindly.
import { ValidationError } from '../../errors.js';
import { toBig } from '../../ipaddr.js';
import type { EndpointRecord, NetworkRecord } from '../store.js';

/** A host of the global store, as it registers itself. */
export interface HostRecord {
  /** Its local store's id (16 hex digits). */
  id: string;
  /** Its hostname, for people. */
  name: string;
  /** Its underlay address: the VTEP other hosts send VXLAN to. */
  address: string;
  /** The MAC address of its VXLAN devices. */
  vtepMac: string;
  started: string;
}

/** An endpoint as the global store keeps it: the record plus the host that has it. */
export type GlobalEndpoint = EndpointRecord & { host: string };

export type KeyKind = 'host' | 'network' | 'name' | 'vni' | 'endpoint' | 'address';

const KINDS: Record<string, KeyKind> = { hosts: 'host', networks: 'network', names: 'name', vnis: 'vni', endpoints: 'endpoint', addresses: 'address' };
const ID = /^[0-9a-f]{64}$/;
const HOST = /^[0-9a-f]{16}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export class Keys {
  /** `<prefix>/v1/`, the root of every key. */
  readonly root: string;

  constructor(prefix: string) {
    this.root = `${prefix.replace(/\/+$/, '')}/v1/`;
  }

  host(id: string): string {
    return `${this.root}hosts/${id}`;
  }
  network(id: string): string {
    return `${this.root}networks/${id}`;
  }
  name(name: string): string {
    return `${this.root}names/${name}`;
  }
  vni(vni: number): string {
    return `${this.root}vnis/${vni}`;
  }
  endpoint(networkId: string, id: string): string {
    return `${this.root}endpoints/${networkId}/${id}`;
  }
  /** The keys of a pool (a network's subnet) end in its addresses. */
  pool(networkId: string, subnet: string): string {
    return `${this.root}addresses/${networkId}/${subnet.replace('/', '_')}/`;
  }
  dir(kind: 'hosts' | 'networks' | 'names' | 'vnis' | 'endpoints' | 'addresses', sub = ''): string {
    return `${this.root}${kind}/${sub ? `${sub}/` : ''}`;
  }

  /** What a key under the root is; null for one nsnet does not lay out. */
  kind(key: string): KeyKind | null {
    if (!key.startsWith(this.root)) return null;
    const parts = key.slice(this.root.length).split('/');
    const k = (KINDS as Record<string, KeyKind | undefined>)[parts[0]!];
    const depth = k === 'endpoint' ? 3 : k === 'address' ? 4 : 2;
    return k && parts.length === depth && parts.every(Boolean) ? k : null;
  }
}

/** Why a value under a key is not what nsnet writes there, or null if it is. */
export function malformed(kind: KeyKind, key: string, raw: string): string | null {
  const id = key.slice(key.lastIndexOf('/') + 1);
  if (kind === 'name' || kind === 'vni' || kind === 'address') return ID.test(raw) ? null : `is not an nsnet id (${JSON.stringify(raw.slice(0, 40))})`;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    return `is not JSON (${(e as Error).message})`;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'is not a JSON object';
  if (v.id !== id) return `names id ${JSON.stringify(v.id)}, not its key's ${id}`;
  if (kind === 'host') {
    if (!HOST.test(id) || typeof v.name !== 'string' || typeof v.address !== 'string' || !toBig(v.address) || typeof v.vtepMac !== 'string' || !MAC.test(v.vtepMac))
      return 'is not a host record nsnet wrote (id, name, address, vtepMac)';
    return null;
  }
  if (!ID.test(id) || typeof v.name !== 'string') return `is not a ${kind} record nsnet wrote (no id and name)`;
  if (kind === 'network') {
    if (v.scope !== 'global' || typeof v.driver !== 'string' || !Array.isArray(v.subnets) || !v.driverState || typeof v.driverState !== 'object')
      return 'is not a global network record nsnet wrote (scope, driver, subnets, driverState)';
    return null;
  }
  if (typeof v.host !== 'string' || !HOST.test(v.host) || typeof v.networkId !== 'string' || !Array.isArray(v.addresses) || (v.mac !== null && (typeof v.mac !== 'string' || !MAC.test(v.mac))))
    return 'is not an endpoint record nsnet wrote (host, networkId, addresses, mac)';
  if (!key.includes(`/endpoints/${v.networkId}/`)) return `names network ${String(v.networkId)}, not its key's`;
  return null;
}

/** A value decoded as what its key holds (call malformed() first). */
export function decode(kind: KeyKind, raw: string): string | HostRecord | NetworkRecord | GlobalEndpoint {
  return kind === 'name' || kind === 'vni' || kind === 'address' ? raw : (JSON.parse(raw) as HostRecord);
}

/**
 * `etcd://host:port[,host:port...][/prefix]` (or http://...): the client
 * URLs and the key prefix. A URL that is not one is bad input.
 */
export function parseStoreUrl(url: unknown): { hosts: string[]; prefix: string } {
  if (typeof url !== 'string') throw new ValidationError('globalStore', url, 'must be etcd://host:port[,host:port...][/prefix]');
  const m = /^(etcd|http):\/\/([^/]+)(\/[A-Za-z0-9_./-]*)?$/.exec(url);
  if (!m) throw new ValidationError('globalStore', url, 'must be etcd://host:port[,host:port...][/prefix]');
  const hosts = m[2]!.split(',').map((h) => {
    if (!/^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(h)) throw new ValidationError('globalStore', url, `has ${JSON.stringify(h)}, which is not host:port`);
    return `http://${h}`;
  });
  const prefix = (m[3] ?? '/nsnet').replace(/\/+$/, '') || '/nsnet';
  return { hosts, prefix };
}
