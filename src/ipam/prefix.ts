// Address arithmetic for IPAM: an address is a bigint, so IPv4 and IPv6 share
// one code path. Pure: no I/O.
import { ValidationError } from '../errors.js';
import { fromBig, toBig, type Family } from '../ipaddr.js';

/** A subnet: its first address (host bits zero) and prefix length. */
export class Prefix {
  readonly bits: number;
  constructor(readonly family: Family, readonly base: bigint, readonly len: number) {
    this.bits = family === 4 ? 32 : 128;
  }

  /** Parses `a.b.c.d/len`; host bits must be zero unless `loose`. */
  static parse(s: unknown, field = 'subnet', loose = false): Prefix {
    if (typeof s !== 'string') throw new ValidationError(field, s, 'must be a string like 10.0.0.0/24');
    const slash = s.indexOf('/');
    const a = toBig(slash < 0 ? s : s.slice(0, slash));
    if (!a) throw new ValidationError(field, s, 'is not an IPv4 or IPv6 prefix');
    const max = a.family === 4 ? 32 : 128;
    const ls = slash < 0 ? String(max) : s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(ls) || Number(ls) > max) throw new ValidationError(field, s, `prefix length must be 0 to ${max}`);
    const p = new Prefix(a.family, 0n, Number(ls));
    const base = a.n & p.mask;
    if (base !== a.n && !loose) throw new ValidationError(field, s, `has host bits set (did you mean ${fromBig(a.family, base)}/${ls}?)`);
    return new Prefix(a.family, base, Number(ls));
  }

  get mask(): bigint {
    const all = (1n << BigInt(this.bits)) - 1n;
    return all ^ ((1n << BigInt(this.bits - this.len)) - 1n);
  }

  /** Number of addresses in the prefix. */
  get size(): bigint {
    return 1n << BigInt(this.bits - this.len);
  }

  get last(): bigint {
    return this.base + this.size - 1n;
  }

  contains(n: bigint): boolean {
    return n >= this.base && n <= this.last;
  }

  overlaps(o: Prefix): boolean {
    return this.family === o.family && this.base <= o.last && o.base <= this.last;
  }

  addr(offset: bigint): string {
    return fromBig(this.family, this.base + offset);
  }

  toString(): string {
    return `${fromBig(this.family, this.base)}/${this.len}`;
  }
}
