// Input checks that run before anything reaches the kernel, so bad input
// fails with a clear ValidationError and changes nothing.
import { ValidationError } from './errors.js';
import { ipFamily } from './ipaddr.js';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  address: string;
  prefixlen: number;
}

/** Interface names: 1 to 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace. */
export function ifname(value: unknown, field = 'interface name'): string {
  return nameLike(value, field, /[/:\s\0]/, "'/', ':', whitespace or NUL");
}

/**
 * An IPv4 address's label: an interface name, which may carry an alias
 * after a colon (`eth0:1`, as `ip addr add ... label eth0:1` and ifconfig
 * write it); the kernel keeps at most IFNAMSIZ - 1 bytes of it.
 */
export function addrLabel(value: unknown, field = 'label'): string {
  return nameLike(value, field, /[/\s\0]/, "'/', whitespace or NUL");
}

function nameLike(value: unknown, field: string, banned: RegExp, what: string): string {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string');
  const bytes = Buffer.byteLength(value);
  if (bytes < 1 || bytes > 15) throw new ValidationError(field, value, 'must be 1 to 15 bytes long');
  if (banned.test(value)) throw new ValidationError(field, value, `must not contain ${what}`);
  if (value === '.' || value === '..') throw new ValidationError(field, value, "must not be '.' or '..'");
  return value;
}

/** A device as an ifindex (positive integer) or an interface name. */
export function dev(value: unknown, field = 'device'): number | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) throw new ValidationError(field, value, 'ifindex must be a positive integer');
    return value;
  }
  return ifname(value, field);
}

/** Namespace names become file names in the run directory: they must not escape it. */
export function netnsName(value: unknown, field = 'namespace name'): string {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string');
  const bytes = Buffer.byteLength(value);
  if (bytes < 1 || bytes > 255) throw new ValidationError(field, value, 'must be 1 to 255 bytes long');
  if (value.includes('/') || value.includes('\0')) throw new ValidationError(field, value, "must not contain '/' or NUL");
  if (value === '.' || value === '..') throw new ValidationError(field, value, "must not be '.' or '..'");
  return value;
}

export function ip(value: unknown, field = 'address'): { family: Family; address: string } {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string');
  const family = ipFamily(value);
  if (family === 0) throw new ValidationError(field, value, 'is not an IPv4 or IPv6 address');
  return { family: family as Family, address: value };
}

/** `10.88.0.2/16`, `fd00::2/64`; a bare address means a host prefix. */
export function cidr(value: unknown, field = 'address'): Cidr {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string like 10.0.0.2/24');
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const { family } = ip(addr, field);
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { family, address: addr, prefixlen: max };
  const p = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new ValidationError(field, value, `prefix length must be 0 to ${max}`);
  return { family, address: addr, prefixlen: Number(p) };
}

/** Ethernet MTU bounds: 68 (IPv4's minimum) to 65535 (ETH_MAX_MTU). */
export function mtu(value: unknown, field = 'mtu'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 68 || value > 65535)
    throw new ValidationError(field, value, 'must be an integer from 68 to 65535');
  return value;
}

/**
 * An Ethernet address of any kind: a forwarding entry's key may be all
 * zeroes (where a VXLAN device sends what has no entry of its own) or multicast.
 */
export function anyMac(value: unknown, field = 'mac'): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(value))
    throw new ValidationError(field, value, 'must look like 02:42:ac:11:00:02');
  return value.toLowerCase();
}

/** A unicast Ethernet address (the kernel refuses multicast ones). */
export function mac(value: unknown, field = 'mac'): string {
  anyMac(value, field);
  if (parseInt((value as string).slice(0, 2), 16) & 1) throw new ValidationError(field, value, 'must be a unicast address');
  if (/^(00:){5}00$/.test(value as string)) throw new ValidationError(field, value, 'must not be all zeroes');
  return (value as string).toLowerCase();
}

/** An options object (a link's spec, a change): refused, rather than read, when it is not one. */
export function spec<T>(value: T, field: string): T {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError(field, value, 'must be an object');
  return value;
}

/** A namespace to put a link in: a Netns (anything that holds the addon's handle), never silently nothing. */
export function handle<H>(ns: { handle: H }, field: string): H {
  if (!ns || typeof ns !== 'object' || !ns.handle) throw new ValidationError(field, ns, 'must be a Netns');
  return ns.handle;
}

export function uint(value: unknown, field: string, max = 0xffffffff, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ValidationError(field, value, `must be an integer from ${min} to ${max}`);
  return value;
}

/** Per-namespace sysctls live under net.; keys cannot walk out of /proc/sys/net. */
export function sysctlKey(value: unknown, field = 'sysctl'): string {
  if (typeof value !== 'string' || !/^net[./][A-Za-z0-9_.\-/]+$/.test(value))
    throw new ValidationError(field, value, 'must be a key under net., like net.ipv4.ip_forward');
  if (value.split(/[/]/).some((s) => s === '..' || s === '.' || s === ''))
    throw new ValidationError(field, value, "must not contain empty, '.' or '..' path segments");
  return value;
}

export function sysctlValue(value: unknown, field = 'sysctl value'): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length > 4096 || value.includes('\0'))
    throw new ValidationError(field, value, 'must be a string or number');
  return value;
}
