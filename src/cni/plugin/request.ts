// A plugin call as the spec delivers it: the command and the attachment in
// CNI_* variables, the configuration as JSON on stdin. Everything is checked
// here, before any plugin code runs, and each fault gets the spec's code: 4
// a missing or bad variable, 6 stdin that does not decode, 7 a required
// field missing, 1 a version nsnet does not implement. The fields a plugin
// reads from the configuration go through the typed getters below, which
// answer 7 for a value of the wrong type and 2 for a field nobody knows.
import type { Controller } from '../../cnm/controller.js';
import { CniError, ERR } from '../errors.js';
import { compareVersions, type AnyCniResult } from '../types.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

/** The versions nsnet's plugins speak: every one whose result has `interfaces` (0.3.0 on). */
export const PLUGIN_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const PLUGIN_CURRENT = '1.1.0';

export type Conf = Record<string, unknown>;

export interface CniRequest {
  command: Command;
  /** CNI_CONTAINERID ('' where the command takes none: STATUS, GC). */
  containerId: string;
  /** CNI_NETNS ('' when absent: DEL may come without one). */
  netns: string;
  /** CNI_IFNAME. */
  ifname: string;
  /** CNI_ARGS as pairs. */
  args: Map<string, string>;
  /** The configuration (stdin). */
  conf: Conf;
  /** Its cniVersion: every answer is in it. */
  version: string;
}

/**
 * What one command of a plugin does: a result for ADD, nothing for the
 * others. The Controller is opened only by commands that need it, so a
 * command refused for its input opens nothing.
 */
export type Handler = (req: CniRequest, open: () => Promise<Controller>) => Promise<AnyCniResult | void>;

/** Which variables each command needs (the spec's lists; CNI_PATH matters only to a plugin that delegates). */
const NEEDS: Record<Command, { containerId: boolean; netns: boolean; ifname: boolean }> = {
  ADD: { containerId: true, netns: true, ifname: true },
  CHECK: { containerId: true, netns: true, ifname: true },
  DEL: { containerId: true, netns: false, ifname: true },
  STATUS: { containerId: false, netns: false, ifname: false },
  GC: { containerId: false, netns: false, ifname: false },
  VERSION: { containerId: false, netns: false, ifname: false },
};

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const envError = (name: string, value: string | undefined, why: string) =>
  new CniError(ERR.INVALID_ENVIRONMENT, `${name} ${value === undefined ? 'is not set' : `${JSON.stringify(value)} ${why}`}`);

/** CNI_COMMAND, checked (code 4 names it). */
export function commandOf(env: Record<string, string | undefined>): Command {
  const c = env.CNI_COMMAND;
  if (!(COMMANDS as readonly string[]).includes(c ?? '')) throw envError('CNI_COMMAND', c, `is not one of ${COMMANDS.join(', ')}`);
  return c as Command;
}

/** CNI_ARGS: `K=V;K2=V2`. */
function cniArgs(raw: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!raw) return m;
  for (const pair of raw.split(';')) {
    const i = pair.indexOf('=');
    if (i <= 0) throw envError('CNI_ARGS', raw, `has ${JSON.stringify(pair)}, which is not KEY=VALUE`);
    m.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return m;
}

function ifnameOk(s: string): boolean {
  const n = Buffer.byteLength(s);
  return n >= 1 && n <= 15 && !/[/:\s\0]/.test(s) && s !== '.' && s !== '..';
}

/** A version string: `x.y.z`, else code 6 (it does not decode); one nsnet does not speak: code 1. */
export function checkVersion(v: unknown, field = 'cniVersion'): string {
  if (v === undefined) throw new CniError(ERR.INVALID_CONFIG, `${field} is missing`);
  if (typeof v !== 'string' || !/^\d+\.\d+\.\d+$/.test(v)) throw new CniError(ERR.DECODE, `${field} ${JSON.stringify(v)} is not a version (major.minor.patch)`);
  if (!(PLUGIN_VERSIONS as readonly string[]).includes(v))
    throw new CniError(ERR.INCOMPATIBLE_VERSION, `incompatible CNI version ${v}`, { details: `nsnet's plugins speak ${PLUGIN_VERSIONS.join(', ')}` });
  return v;
}

/** Decodes stdin; a VERSION call may come with none. */
function decodeConf(stdin: Buffer, command: Command): Conf {
  const text = stdin.toString('utf8');
  if (command === 'VERSION' && !text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CniError(ERR.DECODE, 'the network configuration on stdin is not JSON', { details: (e as Error).message });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CniError(ERR.DECODE, 'the network configuration on stdin is not a JSON object');
  return v as Conf;
}

/** The call, checked: throws a CniError with the spec's code. */
export function parseRequest(env: Record<string, string | undefined>, stdin: Buffer): CniRequest {
  const command = commandOf(env);
  const need = NEEDS[command];
  const get = (name: string, needed: boolean, ok: (s: string) => boolean, why: string): string => {
    const v = env[name];
    if (v === undefined || v === '') {
      if (needed) throw envError(name, undefined, '');
      return '';
    }
    if (!ok(v)) throw envError(name, v, why);
    return v;
  };
  const containerId = get('CNI_CONTAINERID', need.containerId, (s) => CONTAINER_ID.test(s), 'must start with a letter or digit and hold only letters, digits, _ . -');
  const netns = get('CNI_NETNS', need.netns, (s) => s.startsWith('/') && !s.includes('\0'), 'must be an absolute path');
  const ifname = get('CNI_IFNAME', need.ifname, ifnameOk, "must be 1 to 15 bytes without '/', ':' or whitespace");
  const args = cniArgs(env.CNI_ARGS);
  const conf = decodeConf(stdin, command);
  // VERSION answers whatever version it was asked in: the answer lists them all.
  const version = command === 'VERSION' ? PLUGIN_CURRENT : checkVersion(conf.cniVersion);
  if (conf.cniVersions !== undefined) {
    const vs = conf.cniVersions;
    if (!Array.isArray(vs) || vs.some((x) => typeof x !== 'string')) throw wrongType('cniVersions', vs, 'a list of versions');
  }
  if (command !== 'VERSION') name(conf);
  return { command, containerId, netns, ifname, args, conf, version };
}

/** The network's name: required, Docker's (and the spec's) characters. */
export function name(conf: Conf): string {
  const n = conf.name;
  if (n === undefined) throw new CniError(ERR.INVALID_CONFIG, 'name is missing');
  if (typeof n !== 'string') throw wrongType('name', n, 'a string');
  if (!CONTAINER_ID.test(n) || n.length > 63) throw new CniError(ERR.INVALID_CONFIG, `name ${JSON.stringify(n)} must be 1 to 63 letters, digits, _ . - starting with a letter or digit`);
  return n;
}

export const wrongType = (field: string, v: unknown, want: string) =>
  new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${field} ${JSON.stringify(v)} must be ${want}`);

/** Refuses fields outside `known` (code 2, naming the key and its value). */
export function onlyKnown(o: Conf, known: readonly string[], where = ''): void {
  for (const [k, v] of Object.entries(o)) {
    if (!known.includes(k)) throw new CniError(ERR.UNSUPPORTED_FIELD, `unsupported field ${where}${k}: ${JSON.stringify(v)}`, { details: `known: ${known.join(', ')}` });
  }
}

/** Typed, optional reads of configuration fields: a value of the wrong type is code 7. */
export const read = {
  str(o: Conf, k: string, where = ''): string | undefined {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw wrongType(where + k, v, 'a string');
    return v;
  },
  bool(o: Conf, k: string, where = ''): boolean | undefined {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw wrongType(where + k, v, 'true or false');
    return v;
  },
  int(o: Conf, k: string, where = ''): number | undefined {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType(where + k, v, 'an integer');
    return v;
  },
  obj(o: Conf, k: string, where = ''): Conf | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw wrongType(where + k, v, 'an object');
    return v as Conf;
  },
  list(o: Conf, k: string, where = ''): unknown[] | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw wrongType(where + k, v, 'a list');
    return v;
  },
  strs(o: Conf, k: string, where = ''): string[] | undefined {
    const v = read.list(o, k, where);
    if (v && v.some((x) => typeof x !== 'string')) throw wrongType(where + k, v, 'a list of strings');
    return v as string[] | undefined;
  },
};

/** Whether a is an older version than b (both checked). */
export const older = (a: string, b: string) => compareVersions(a, b) < 0;
