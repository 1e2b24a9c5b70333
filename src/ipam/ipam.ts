// Address management: subnets for networks and addresses for endpoints.
// Allocation state lives in the store (so it survives restarts and is shared
// between processes); this file is only the policy, run inside a store
// transaction. A dynamic allocation resumes after the last address handed
// out, so its cost does not grow with the number already allocated.
import { randomBytes } from 'node:crypto';

import { NsnetError, ValidationError } from '../errors.js';
import type { StoreTx, SubnetRecord } from '../store/store.js';
import { fromBig, toBig, type Family } from '../ipaddr.js';
import { Prefix } from './prefix.js';

export class Pool {
  readonly subnet: Prefix;
  readonly range: Prefix;
  readonly gateway: bigint | null;
  readonly excluded: Prefix[];
  /** First and last addresses dynamic allocation may hand out. */
  readonly lo: bigint;
  readonly hi: bigint;
  /** rangeStart and rangeEnd, when given: no address outside them is handed out, asked for or not. */
  readonly bounds: [bigint, bigint] | null;

  constructor(
    /** The store's key for this pool's allocations. */
    readonly key: string,
    rec: SubnetRecord,
  ) {
    this.subnet = Prefix.parse(rec.subnet);
    this.range = rec.ipRange ? Prefix.parse(rec.ipRange, 'ipRange') : this.subnet;
    this.gateway = rec.gateway ? toBig(rec.gateway)!.n : null;
    this.excluded = rec.excluded.map((x) => Prefix.parse(x, 'excluded'));
    const s = this.subnet;
    // The subnet's own address is never a host's (IPv4 network address,
    // IPv6 subnet-router anycast); IPv4's last one is broadcast, except on
    // /31 and /32 where every address is a host (RFC 3021).
    const reserveEnds = s.family === 4 ? s.len <= 30 : s.len < 128;
    const lo = reserveEnds ? s.base + 1n : s.base;
    const hi = s.family === 4 && s.len <= 30 ? s.last - 1n : s.last;
    this.bounds = rec.rangeStart && rec.rangeEnd ? [toBig(rec.rangeStart)!.n, toBig(rec.rangeEnd)!.n] : null;
    const from = [this.range.base, lo, ...(this.bounds ? [this.bounds[0]] : [])];
    const to = [this.range.last, hi, ...(this.bounds ? [this.bounds[1]] : [])];
    this.lo = from.reduce((a, b) => (b > a ? b : a));
    this.hi = to.reduce((a, b) => (b < a ? b : a));
  }

  /** Where addresses come from, for a message: the range's bounds, or its prefix. */
  private get where(): string {
    return this.bounds ? `${fromBig(this.family, this.bounds[0])}-${fromBig(this.family, this.bounds[1])}` : String(this.range);
  }

  get family(): Family {
    return this.subnet.family;
  }

  /** `address/prefixlen` of the subnet, for an interface address. */
  cidr(address: string): string {
    return `${address}/${this.subnet.len}`;
  }

  private excludedAt(n: bigint): Prefix | undefined {
    for (const e of this.excluded) if (e.contains(n)) return e;
    return undefined;
  }

  /** Why `address` cannot be asked for statically, or null if it may be. */
  refusal(n: bigint): string | null {
    if (!this.subnet.contains(n)) return `is outside the subnet ${this.subnet}`;
    if (this.bounds && (n < this.bounds[0] || n > this.bounds[1])) return `is outside the range ${this.where}`;
    if (n === this.gateway) return 'is the gateway address';
    if (n < this.lo && n === this.subnet.base) return "is the subnet's own address";
    if (this.family === 4 && this.subnet.len <= 30 && n === this.subnet.last) return 'is the broadcast address';
    if (this.excludedAt(n)) return 'is excluded from allocation';
    return null;
  }

  /**
   * Reserves an address for owner: `request` if given (it must be free and
   * in the subnet), else the next free one after the last handed out.
   */
  allocate(tx: StoreTx, owner: string, request?: string): string {
    if (request !== undefined) {
      const r = toBig(request);
      if (!r || r.family !== this.family) throw new ValidationError('ip', request, `is not an IPv${this.family} address`);
      const why = this.refusal(r.n);
      if (why) throw new ValidationError('ip', request, why);
      const addr = fromBig(this.family, r.n);
      const holder = tx.allocation(this.key, addr);
      if (holder !== null)
        throw new NsnetError(`address ${addr} is already in use by ${holder}`, { code: 'ERR_NSNET_IN_USE', op: 'ipam.allocate', object: addr });
      tx.reserve(this.key, addr, owner);
      return addr;
    }
    const total = this.hi - this.lo + 1n;
    if (total <= 0n) return this.exhausted();
    const c = tx.cursor(this.key);
    let n = c ? toBig(c)!.n + 1n : this.lo;
    if (n < this.lo || n > this.hi) n = this.lo;
    for (let probed = 0n; probed < total; ) {
      const ex = this.excludedAt(n);
      if (ex) {
        const end = ex.last < this.hi ? ex.last : this.hi;
        probed += end - n + 1n;
        n = end + 1n;
      } else {
        if (n !== this.gateway) {
          const addr = fromBig(this.family, n);
          if (tx.allocation(this.key, addr) === null) {
            tx.reserve(this.key, addr, owner);
            tx.setCursor(this.key, addr);
            return addr;
          }
        }
        probed++;
        n++;
      }
      if (n > this.hi) n = this.lo;
    }
    return this.exhausted();
  }

  private exhausted(): never {
    throw new NsnetError(`no free address left in ${this.where}`, { code: 'ERR_NSNET_EXHAUSTED', op: 'ipam.allocate', object: this.where });
  }
}

/** The store key of a network's pool for one subnet. */
export function poolKey(networkId: string, subnet: string): string {
  return `${networkId}/${subnet}`;
}

/**
 * Docker's default pools: 172.17-31.0.0/16, then the /20s of 192.168.0.0/16.
 * A pool is free when it overlaps no route of the host and no network.
 */
function* defaultPools4(): Generator<Prefix> {
  for (let b = 17; b <= 31; b++) yield Prefix.parse(`172.${b}.0.0/16`);
  for (let c = 0; c < 256; c += 16) yield Prefix.parse(`192.168.${c}.0/20`);
}

export function pickSubnet(family: Family, taken: Prefix[]): Prefix {
  const free = (p: Prefix) => !taken.some((t) => t.overlaps(p));
  if (family === 4) {
    for (const p of defaultPools4()) if (free(p)) return p;
  } else {
    // A random ULA /64 (RFC 4193), as Docker does for IPv6 without a subnet.
    for (let i = 0; i < 16; i++) {
      const b = randomBytes(5);
      const id = [0xfd00 | b[0]!, (b[1]! << 8) | b[2]!, (b[3]! << 8) | b[4]!].map((x) => x.toString(16)).join(':');
      const p = Prefix.parse(`${id}::/64`);
      if (free(p)) return p;
    }
  }
  throw new NsnetError(`no default IPv${family} pool is free: all overlap routes or networks; give a subnet`, {
    code: 'ERR_NSNET_EXHAUSTED',
    op: 'ipam.pickSubnet',
    object: `IPv${family} default pools`,
  });
}

/** The gateway a subnet gets when none is given: its first host address. */
export function defaultGateway(p: Prefix): string {
  return p.addr(1n);
}
