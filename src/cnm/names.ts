// Checks for the names and values the CNM layer takes, so bad input fails
// before the store or the kernel is touched.
import { randomFillSync } from 'node:crypto';

import { ValidationError } from '../errors.js';
import { ipFamily } from '../ipaddr.js';

/**
 * Network and sandbox names: Docker's rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*),
 * at most 63 bytes so a sandbox name can serve as its hostname and as a
 * file name under the run directory.
 */
export function objectName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(field, value, 'must be a non-empty string');
  if (value.length > 63) throw new ValidationError(field, value, 'must be at most 63 characters long');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(value))
    throw new ValidationError(field, value, "must start with a letter or digit and contain only letters, digits, '_', '.' and '-' (no '/')");
  return value;
}

/** A hostname the kernel accepts (at most 64 bytes) and resolvers can use (RFC 1123 labels). */
export function hostname(value: unknown, field = 'hostname'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) throw new ValidationError(field, value, 'must be 1 to 64 characters long');
  for (const label of value.split('.'))
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$/.test(label))
      throw new ValidationError(field, value, 'must be dot-separated labels of letters, digits and inner hyphens');
  return value;
}

export function ipList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  const arr = Array.isArray(value) ? value : [value];
  for (const a of arr) if (typeof a !== 'string' || ipFamily(a) === 0) throw new ValidationError(field, a, 'is not an IP address');
  return arr as string[];
}

export function stringList(value: unknown, field: string, check: (s: string) => boolean = () => true, why = 'is not valid'): string[] {
  if (value === undefined) return [];
  const arr = Array.isArray(value) ? value : [value];
  for (const s of arr) if (typeof s !== 'string' || !s || /[\n\0]/.test(s) || !check(s)) throw new ValidationError(field, s, why);
  return arr as string[];
}

/** A list option: absent is empty; anything but an array is refused, not iterated. */
export function list(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError(field, value, 'must be a list');
  return value;
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError(field, value, 'must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new ValidationError(`${field}.${k}`, v, 'must be a string');
    out[k] = String(v);
  }
  return out;
}

// One getrandom call per 128 ids: each call is a system call made on the JS
// thread, so ids are drawn from a pool rather than one call each.
const pool = Buffer.alloc(32 * 128);
let next = pool.length;

/** A 64-hex-digit id, as Docker's. */
export function newId(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  next += 32;
  return pool.toString('hex', next - 32, next);
}
