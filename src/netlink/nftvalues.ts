// nf_tables values: nft's datatypes (the ids nft stores in a set's key and
// data type, so `nft list` prints our sets as its own), and their encoding
// into the bytes the kernel compares. Pure: no addon, no kernel.
import { endianness } from 'node:os';

import { ValidationError } from '../errors.js';
import { parseIPv4, parseIPv6 } from '../ipaddr.js';

/** The datatypes nsnet's rulesets use, by nft's names. */
export type NftType = 'ipv4_addr' | 'ipv6_addr' | 'ether_addr' | 'inet_proto' | 'inet_service' | 'mark' | 'ifname';

/** A value of one datatype: an address, `tcp`, a port, a mark, an interface name. */
export type NftValue = string | number;

// nft's enum datatypes (datatype.h); byte order 1 = host, 2 = big endian.
const TYPES: Record<NftType, { id: number; len: number; order: 1 | 2 }> = {
  ipv4_addr: { id: 7, len: 4, order: 2 },
  ipv6_addr: { id: 8, len: 16, order: 2 },
  ether_addr: { id: 9, len: 6, order: 2 },
  inet_proto: { id: 12, len: 1, order: 2 },
  inet_service: { id: 13, len: 2, order: 2 },
  mark: { id: 19, len: 4, order: 1 },
  ifname: { id: 41, len: 16, order: 1 },
};

/** nft's id for a verdict map's data (NFT_DATA_VERDICT). */
export const NFT_DATA_VERDICT = 0xffffff00;

const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };

export function isType(t: unknown): t is NftType {
  return typeof t === 'string' && Object.hasOwn(TYPES, t);
}

export function typeLen(t: NftType): number {
  return TYPES[t].len;
}

export function typeOrder(t: NftType): 1 | 2 {
  return TYPES[t].order;
}

/** A key or data layout: one type, or a concatenation (each field padded to 4 bytes, as registers are). */
export interface Layout {
  types: NftType[];
  /** nft's id: a concatenation packs the ids 6 bits apart, first field highest. */
  id: number;
  len: number;
  /** Per-field lengths, for NFTA_SET_DESC_CONCAT. */
  fieldLen: number[];
}

export function layout(types: NftType | NftType[], field: string): Layout {
  const list = Array.isArray(types) ? types : [types];
  if (list.length === 0) throw new ValidationError(field, types, 'must name at least one type');
  for (const t of list) if (!isType(t)) throw new ValidationError(field, t, `is not one of ${Object.keys(TYPES).join(', ')}`);
  if (list.length > 5) throw new ValidationError(field, types, 'concatenates at most 5 types');
  const concat = list.length > 1;
  let id = 0;
  for (const t of list) id = concat ? id * 64 + TYPES[t].id : TYPES[t].id;
  const fieldLen = list.map((t) => TYPES[t].len);
  const len = concat ? fieldLen.reduce((n, l) => n + pad4(l), 0) : fieldLen[0]!;
  return { types: list, id, len, fieldLen };
}

const pad4 = (n: number) => (n + 3) & ~3;

const LITTLE = endianness() === 'LE';

function writeUint(v: unknown, len: number, order: 1 | 2, field: () => string, out: Buffer, at: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** (8 * len))
    throw new ValidationError(field(), v, `must be an integer from 0 to ${2 ** (8 * len) - 1}`);
  // Host order is what the kernel's registers hold for marks and the like.
  if (order === 1 && LITTLE) out.writeUIntLE(v, at, len);
  else out.writeUIntBE(v, at, len);
}

// Writes one value of type t at out[at] (out is zeroed). The field name is
// made only for an error: elements are encoded per sandbox, on the JS thread.
function writeValue(t: NftType, v: unknown, field: () => string, out: Buffer, at: number): void {
  switch (t) {
    case 'ipv4_addr': {
      const p = typeof v === 'string' ? parseIPv4(v) : null;
      if (!p) throw new ValidationError(field(), v, 'is not an IPv4 address');
      for (let i = 0; i < 4; i++) out[at + i] = p[i]!;
      return;
    }
    case 'ipv6_addr': {
      const p = typeof v === 'string' ? parseIPv6(v) : null;
      if (!p) throw new ValidationError(field(), v, 'is not an IPv6 address');
      for (let i = 0; i < 8; i++) out.writeUInt16BE(p[i]!, at + 2 * i); // parseIPv6 gives eight 16-bit groups
      return;
    }
    case 'ether_addr': {
      if (typeof v !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v)) throw new ValidationError(field(), v, 'is not a MAC address');
      v.split(':').forEach((x, i) => (out[at + i] = parseInt(x, 16)));
      return;
    }
    case 'inet_proto': {
      const n = typeof v !== 'string' ? v : Object.hasOwn(PROTOS, v) ? PROTOS[v] : undefined;
      if (n === undefined) throw new ValidationError(field(), v, `must be a protocol number or one of ${Object.keys(PROTOS).join(', ')}`);
      return writeUint(n, 1, 2, field, out, at);
    }
    case 'inet_service':
      return writeUint(v, 2, 2, field, out, at);
    case 'mark':
      return writeUint(v, 4, 1, field, out, at);
    case 'ifname': {
      // `name*` (nft's wildcard) is the last name of its range: name, then 0xff to the end.
      const wild = typeof v === 'string' && v.length > 1 && v.endsWith('*');
      const name = wild ? (v as string).slice(0, -1) : v;
      if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 15 || name.includes('\0'))
        throw new ValidationError(field(), v, 'must be an interface name of 1 to 15 bytes, or a prefix of one followed by *');
      const n = out.write(name, at);
      if (wild) out.fill(0xff, at + n, at + 16);
      return;
    }
  }
}

/** One value of type t, in the kernel's layout (network order for addresses and ports). */
export function encodeValue(t: NftType, v: unknown, field: string): Buffer {
  const out = Buffer.alloc(TYPES[t].len);
  writeValue(t, v, () => field, out, 0);
  return out;
}

/** A key or data value: one value per field of the layout, concatenated with register padding. */
export function encodeTuple(l: Layout, v: unknown, field: string): Buffer {
  const values = l.types.length > 1 ? v : [v];
  if (!Array.isArray(values) || values.length !== l.types.length)
    throw new ValidationError(field, v, `must be ${l.types.length > 1 ? `a list of ${l.types.length} values (${l.types.join(' . ')})` : `a ${l.types[0]}`}`);
  if (l.types.length === 1) return encodeValue(l.types[0]!, values[0], field);
  // One buffer, each field written at its register-aligned offset.
  const out = Buffer.alloc(l.len);
  let at = 0;
  for (let i = 0; i < l.types.length; i++) {
    const t = l.types[i]!;
    writeValue(t, values[i], () => `${field}[${i}]`, out, at);
    at += pad4(TYPES[t].len);
  }
  return out;
}

/** Whether v is an interface name wildcard (`eth*`): every name it starts. */
export const isIfnameWildcard = (v: unknown): v is string => typeof v === 'string' && v.length > 1 && v.endsWith('*');

/** The names a wildcard covers: the prefix NUL-padded, to the prefix 0xff-padded (nft's range for `name*`). */
export function ifnameRange(v: string, field: string): [Buffer, Buffer] {
  const last = encodeValue('ifname', v, field);
  const first = Buffer.alloc(16);
  first.write(v.slice(0, -1));
  return [first, last];
}

/** The address range a prefix covers: first and last address, as bytes. */
export function prefixRange(t: 'ipv4_addr' | 'ipv6_addr', v: unknown, field: string): [Buffer, Buffer] {
  if (typeof v !== 'string') throw new ValidationError(field, v, 'must be an address or a prefix');
  const slash = v.indexOf('/');
  const first = encodeValue(t, slash < 0 ? v : v.slice(0, slash), field);
  const max = first.length * 8;
  const bits = slash < 0 ? max : Number(v.slice(slash + 1));
  if (!/^\d{1,3}$/.test(slash < 0 ? String(max) : v.slice(slash + 1)) || bits > max)
    throw new ValidationError(field, v, `prefix length must be 0 to ${max}`);
  const last = Buffer.from(first);
  for (let i = 0; i < first.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    const mask = (0xff << (8 - keep)) & 0xff;
    if (first[i]! & ~mask) throw new ValidationError(field, v, 'has host bits set');
    last[i] = first[i]! | (~mask & 0xff);
  }
  return [first, last];
}

/** b + 1 as a big-endian number, or null when b is all ones (nothing follows it). */
export function successor(b: Buffer): Buffer | null {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]!++;
      return out;
    }
    out[i] = 0;
  }
  return null;
}

/** nft's set user data (NFTNL_UDATA_SET_KEYBYTEORDER/DATABYTEORDER): how `nft list` prints values. */
export function setUserdata(key: Layout, data: Layout | null): Buffer | undefined {
  const tlv = (type: number, v: number) => {
    const b = Buffer.alloc(6);
    b[0] = type;
    b[1] = 4;
    b.writeUInt32LE(v, 2);
    return b;
  };
  // nft records a byte order for single types only; concatenations print without.
  const parts: Buffer[] = [];
  if (key.types.length === 1) parts.push(tlv(0, typeOrder(key.types[0]!)));
  if (data && data.types.length === 1) parts.push(tlv(1, typeOrder(data.types[0]!)));
  return parts.length ? Buffer.concat(parts) : undefined;
}

/**
 * A comment as nft stores it in a rule's or an element's user data
 * (NFTNL_UDATA_RULE_COMMENT and NFTNL_UDATA_SET_ELEM_COMMENT are both TLV type 0).
 */
export function commentUserdata(comment: string, field = 'comment'): Buffer {
  const s = Buffer.from(`${comment}\0`);
  if (typeof comment !== 'string' || s.length > 128) throw new ValidationError(field, comment, 'must be a string of at most 127 bytes');
  return Buffer.concat([Buffer.from([0, s.length]), s]);
}

/** The comment in a rule's user data, if nft's TLV holds one. */
export function commentOf(userdata: Buffer | undefined): string | undefined {
  for (let i = 0; userdata && i + 2 <= userdata.length; ) {
    const type = userdata[i]!;
    const len = userdata[i + 1]!;
    if (i + 2 + len > userdata.length) return undefined;
    if (type === 0 && len > 0) return userdata.subarray(i + 2, i + 2 + len - 1).toString();
    i += 2 + len;
  }
  return undefined;
}

function formatIPv6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The inverse of encodeValue. */
export function decodeValue(t: NftType, b: Buffer): NftValue {
  switch (t) {
    case 'ipv4_addr': return [...b.subarray(0, 4)].join('.');
    case 'ipv6_addr': return formatIPv6(b.subarray(0, 16));
    case 'ether_addr': return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    case 'inet_proto': return Object.entries(PROTOS).find(([, n]) => n === b[0])?.[0] ?? b[0]!;
    case 'inet_service': return b.readUInt16BE(0);
    case 'mark': return endianness() === 'BE' ? b.readUInt32BE(0) : b.readUInt32LE(0);
    case 'ifname': {
      const nul = b.indexOf(0);
      // A wildcard's range ends in 0xff to the last byte: `name*`.
      const ff = b.indexOf(0xff);
      if (ff > 0 && (nul < 0 || nul > ff) && b.subarray(ff, 16).every((x) => x === 0xff)) return `${b.subarray(0, ff).toString()}*`;
      return b.subarray(0, nul < 0 ? b.length : nul).toString();
    }
  }
}

/** The inverse of encodeTuple: one value, or a list for a concatenation. */
export function decodeTuple(l: Layout, b: Buffer): NftValue | NftValue[] {
  if (l.types.length === 1) return decodeValue(l.types[0]!, b);
  const out: NftValue[] = [];
  let at = 0;
  for (const t of l.types) {
    out.push(decodeValue(t, b.subarray(at, at + TYPES[t].len)));
    at += pad4(TYPES[t].len);
  }
  return out;
}
