// libcni's result cache: one file per attachment,
// <cacheDir>/results/<network>-<containerid>-<ifname>, holding what DEL,
// CHECK and GC need later (the configuration's bytes, the attachment's
// arguments, the final result). The file is written byte for byte as libcni
// writes it, so Podman, containerd or CRI-O and nsnet can each tear down an
// attachment the other made.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { NsnetError } from '../../errors.js';
import { goJson } from './gojson.js';

export const CACHE_KIND = 'cniCacheV1';
/** libcni's default cache directory. */
export const DEFAULT_CACHE_DIR = '/var/lib/cni';

export interface CacheEntry {
  containerId: string;
  /** The configuration list's bytes, as ADD read them. */
  config: Buffer;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  /** The final result of ADD, as JSON. */
  result?: Record<string, unknown>;
}

export function cacheFile(cacheDir: string, network: string, containerId: string, ifName: string): string {
  return join(cacheDir, 'results', `${network}-${containerId}-${ifName}`);
}

/** The file's bytes: libcni's struct, its fields in their order, empty ones left out, maps in Go's key order. */
export function encodeCache(e: CacheEntry): string {
  const fields: [string, string][] = [
    ['kind', goJson(CACHE_KIND)],
    ['containerId', goJson(e.containerId)],
    ['config', goJson(e.config.toString('base64'))],
    ['ifName', goJson(e.ifName)],
    ['networkName', goJson(e.networkName)],
  ];
  if (e.netns) fields.push(['netns', goJson(e.netns)]);
  if (e.cniArgs?.length) fields.push(['cniArgs', goJson(e.cniArgs)]);
  const caps = e.capabilityArgs ?? {};
  const capKeys = Object.keys(caps).filter((k) => caps[k] !== undefined).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  // A Go map (keys sorted) of whatever values the runtime passed, each written as it was passed.
  if (capKeys.length) fields.push(['capabilityArgs', `{${capKeys.map((k) => `${goJson(k)}:${goJson(caps[k], false)}`).join(',')}}`]);
  if (e.result && Object.keys(e.result).length) fields.push(['result', goJson(e.result)]);
  return `{${fields.map(([k, v]) => `${goJson(k)}:${v}`).join(',')}}`;
}

function isArgs(v: unknown): v is [string, string][] {
  return Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}

/**
 * Reads an entry from a file's bytes. A file that is not a cniCacheV1
 * record is read as a bare result, the format libcni wrote before it had
 * one (it too falls back so). Returns null for anything else.
 */
export function decodeCache(bytes: Buffer, from: { network: string; containerId: string; ifName: string }): CacheEntry | null {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) return null;
  if (j.kind !== CACHE_KIND) return { containerId: from.containerId, config: Buffer.alloc(0), ifName: from.ifName, networkName: from.network, result: j };
  const e: CacheEntry = {
    containerId: typeof j.containerId === 'string' ? j.containerId : from.containerId,
    config: typeof j.config === 'string' ? Buffer.from(j.config, 'base64') : Buffer.alloc(0),
    ifName: typeof j.ifName === 'string' ? j.ifName : from.ifName,
    networkName: typeof j.networkName === 'string' ? j.networkName : from.network,
  };
  if (typeof j.netns === 'string' && j.netns) e.netns = j.netns;
  if (isArgs(j.cniArgs) && j.cniArgs.length) e.cniArgs = j.cniArgs;
  if (j.capabilityArgs && typeof j.capabilityArgs === 'object' && !Array.isArray(j.capabilityArgs)) e.capabilityArgs = j.capabilityArgs as Record<string, unknown>;
  if (j.result && typeof j.result === 'object' && !Array.isArray(j.result)) e.result = j.result as Record<string, unknown>;
  return e;
}

export async function readCache(cacheDir: string, network: string, containerId: string, ifName: string): Promise<CacheEntry | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(cacheFile(cacheDir, network, containerId, ifName));
  } catch {
    // libcni ignores a cache it cannot read: there may be none.
    return null;
  }
  return decodeCache(bytes, { network, containerId, ifName });
}

/** Writes the entry (0600 in a 0700 dir, as libcni does), replacing any earlier one in one rename. */
export async function writeCache(cacheDir: string, e: CacheEntry): Promise<void> {
  const file = cacheFile(cacheDir, e.networkName, e.containerId, e.ifName);
  try {
    await mkdir(join(cacheDir, 'results'), { recursive: true, mode: 0o700 });
    // Beside results/, not in it, so a listing never sees a half-written entry.
    const tmp = join(cacheDir, `.nsnet-${process.pid}-${e.containerId.slice(0, 16)}`);
    await writeFile(tmp, encodeCache(e), { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    throw NsnetError.system(`CNI cache ${file}`, err);
  }
}

export async function deleteCache(cacheDir: string, network: string, containerId: string, ifName: string): Promise<void> {
  await rm(cacheFile(cacheDir, network, containerId, ifName), { force: true });
}

/** Every cached attachment (of one container, if given), as libcni's GetCachedAttachments lists them. */
export async function cachedAttachments(cacheDir: string, containerId?: string): Promise<CacheEntry[]> {
  const dir = join(cacheDir, 'results');
  let names: string[];
  try {
    names = (await readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  } catch {
    return [];
  }
  const out: CacheEntry[] = [];
  for (const name of names) {
    if (containerId && name.indexOf(`-${containerId}-`) <= 0) continue;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      continue;
    }
    const e = decodeCache(bytes, { network: '', containerId: '', ifName: '' });
    // Only records that name their attachment: a bare legacy result cannot be placed.
    if (!e || !e.networkName || !e.ifName) continue;
    if (containerId && e.containerId !== containerId) continue;
    out.push(e);
  }
  return out;
}
