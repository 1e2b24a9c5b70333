// Network configurations as libcni reads them: .conflist files first, in
// byte order of their names, then single-plugin .conf and .json files (the
// pre-1.0 format, turned into a one-plugin list); the first whose name
// matches wins, and a file that does not parse on the way is an error, as it
// is for libcni. `cniVersions` (1.1) picks the highest version nsnet
// implements, as libcni picks the highest it does.
import { readdir, readFile as read } from 'node:fs/promises';
import { extname, join } from 'node:path';

import { NsnetError } from '../../errors.js';
import { CniError, ERR } from '../errors.js';
import { CNI_CURRENT, compareVersions } from '../types.js';
import { goJson } from './gojson.js';

export interface PluginConfig {
  /** The plugin's binary name. */
  type: string;
  /** Its configuration object, as written in the list. */
  conf: Record<string, unknown>;
  /** The capabilities it declares (`capabilities: { portMappings: true }`). */
  capabilities: string[];
}

export interface NetworkConfigList {
  name: string;
  /** The version every plugin is called with (from `cniVersion`, or the best of `cniVersions`). */
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConfig[];
  /** The bytes it was read from: what libcni keeps in its cache as `config`. */
  bytes: Buffer;
  /** The file it came from, if it came from one. */
  file?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(msg: string, file?: string): CniError {
  return new CniError(ERR.INVALID_CONFIG, msg, { command: 'load', ...(file ? { details: file } : {}) });
}

function decode(bytes: Buffer, what: string, file?: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new CniError(ERR.DECODE, `error parsing ${what}: ${(e as Error).message}`, { command: 'load', ...(file ? { details: file } : {}) });
  }
  if (!isObj(v)) throw invalid(`error parsing ${what}: not a JSON object`, file);
  return v;
}

function flag(o: Obj, key: string, file?: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalid(`error parsing configuration list: invalid value ${JSON.stringify(v)} for ${key}`, file);
}

function chooseVersion(o: Obj, file?: string): string {
  const v = o.cniVersion;
  if (v !== undefined && typeof v !== 'string') throw invalid(`error parsing configuration list: invalid cniVersion type ${typeof v}`, file);
  let version = (v as string | undefined) ?? '';
  if (o.cniVersions === undefined) return version;
  const vs = o.cniVersions;
  if (!Array.isArray(vs) || vs.some((x) => typeof x !== 'string')) throw invalid('error parsing configuration list: cniVersions must be a list of strings', file);
  const usable = [...(vs as string[]), ...(version ? [version] : [])].filter((x) => {
    try {
      return compareVersions(x, CNI_CURRENT) <= 0;
    } catch {
      throw invalid(`error parsing configuration list: invalid cniVersions entry ${JSON.stringify(x)}`, file);
    }
  });
  for (const x of usable) if (!version || compareVersions(x, version) > 0 || compareVersions(version, CNI_CURRENT) > 0) version = x;
  return version;
}

function plugin(p: unknown, i: number, file?: string): PluginConfig {
  if (!isObj(p)) throw invalid(`failed to parse plugin config ${i}: not a JSON object`, file);
  if (typeof p.type !== 'string' || !p.type) throw invalid(`failed to parse plugin config ${i}: missing 'type'`, file);
  const caps = p.capabilities;
  if (caps !== undefined && (!isObj(caps) || Object.values(caps).some((x) => typeof x !== 'boolean')))
    throw invalid(`failed to parse plugin config ${i} (${p.type}): capabilities must map names to true or false`, file);
  return { type: p.type, conf: p, capabilities: Object.entries((caps as Record<string, boolean> | undefined) ?? {}).filter(([, on]) => on).map(([k]) => k) };
}

/** A configuration list from its bytes (libcni's NetworkConfFromBytes). */
export function parseConfList(bytes: Buffer | string, file?: string): NetworkConfigList {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const o = decode(buf, 'configuration list', file);
  if (o.name === undefined) throw invalid('error parsing configuration list: no name', file);
  if (typeof o.name !== 'string') throw invalid(`error parsing configuration list: invalid name type ${typeof o.name}`, file);
  const cniVersion = chooseVersion(o, file);
  if (!Array.isArray(o.plugins)) throw invalid(o.plugins === undefined ? 'error parsing configuration list: no plugins in list' : "error parsing configuration list: invalid 'plugins' type", file);
  if (!o.plugins.length) throw invalid('error parsing configuration list: no plugins in list', file);
  return {
    name: o.name, cniVersion, disableCheck: flag(o, 'disableCheck', file), disableGC: flag(o, 'disableGC', file),
    plugins: o.plugins.map((p, i) => plugin(p, i, file)), bytes: buf, ...(file ? { file } : {}),
  };
}

/** A single-plugin configuration (.conf, .json) as the one-plugin list libcni makes of it. */
export function parseConf(bytes: Buffer | string, file?: string): NetworkConfigList {
  const o = decode(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, 'configuration', file);
  return parseConfList(goJson({ cniVersion: o.cniVersion ?? '', name: o.name ?? '', plugins: [o] }), file);
}

/** The files of dir with one of the extensions, in libcni's order (byte order of their paths). */
async function confFiles(dir: string, exts: string[]): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw NsnetError.system(`CNI configuration directory ${dir}`, e);
  }
  return entries
    .filter((e) => !e.isDirectory() && exts.includes(extname(e.name)))
    .map((e) => join(dir, e.name))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function readFile(file: string): Promise<Buffer> {
  try {
    return await read(file);
  } catch (e) {
    throw NsnetError.system(`CNI configuration ${file}`, e);
  }
}

/** The network named `name` in dir, found the way libcni's LoadConfList finds it. */
export async function loadNetwork(dir: string, name: string): Promise<NetworkConfigList> {
  const lists = await confFiles(dir, ['.conflist']);
  for (const f of lists) {
    const l = parseConfList(await readFile(f), f);
    if (l.name === name) return l;
  }
  const confs = await confFiles(dir, ['.conf', '.json']);
  for (const f of confs) {
    const l = parseConf(await readFile(f), f);
    if (l.name === name) return l;
  }
  if (!lists.length && !confs.length) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'cni.load', name, `no network configurations found in ${dir}`);
  throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'cni.load', name, `no network configuration named "${name}" in ${dir}`);
}

export interface NetworkListing {
  /** Every network that parsed, in the order runtimes read them (by file name). */
  networks: NetworkConfigList[];
  /** Files that did not parse, each with its error. */
  invalid: { file: string; error: CniError | NsnetError }[];
}

/** Every network in dir (.conf, .conflist and .json, by file name, as containerd and CRI-O list them). */
export async function listNetworks(dir: string): Promise<NetworkListing> {
  const out: NetworkListing = { networks: [], invalid: [] };
  for (const f of await confFiles(dir, ['.conf', '.conflist', '.json'])) {
    try {
      const bytes = await readFile(f);
      out.networks.push(extname(f) === '.conflist' ? parseConfList(bytes, f) : parseConf(bytes, f));
    } catch (e) {
      out.invalid.push({ file: f, error: e as CniError });
    }
  }
  return out;
}
