// An attachment as the runtime passes it: (network, container id, interface)
// plus the namespace and the per-call arguments, checked as libcni checks
// them before a plugin runs, and each plugin's stdin built from it.
import { CniError, ERR } from '../errors.js';
import type { AnyCniResult } from '../types.js';
import type { NetworkConfigList, PluginConfig } from './config.js';
import { goJson } from './gojson.js';

export interface Attachment {
  /** CNI_CONTAINERID: letters, digits, then also '_', '.' and '-'. */
  containerId: string;
  /** CNI_NETNS: the namespace's path (empty or left out on DEL when it is gone). */
  netns?: string;
  /** CNI_IFNAME (default eth0). */
  ifName?: string;
  /** CNI_ARGS, as pairs or a map: `IgnoreUnknown=1;IP=10.0.0.5`. */
  args?: [string, string][] | Record<string, string>;
  /** Capability arguments (portMappings, ips, mac, bandwidth ...): each plugin gets those it declares, in runtimeConfig. */
  capabilityArgs?: Record<string, unknown>;
}

/** An attachment after its checks, with the defaults filled in. */
export interface CheckedAttachment {
  containerId: string;
  netns: string;
  ifName: string;
  args: [string, string][];
  capabilityArgs: Record<string, unknown>;
}

/** What libcni allows in a container id and a network name (both end up in a cache file's name). */
export function isCniId(s: unknown): s is string {
  return typeof s === 'string' && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(s);
}

/** libcni's checks of the network name, container id and interface name, with the spec's codes. */
export function checkAttachment(a: Attachment, network: string): CheckedAttachment {
  const fail = (code: number, msg: string, details?: string) =>
    new CniError(code, msg, { network, command: 'validate', ...(details !== undefined ? { details } : {}) });
  if (!isCniId(network)) throw fail(ERR.INVALID_CONFIG, 'invalid characters found in network name', network);
  if (!a || typeof a !== 'object') throw fail(ERR.INVALID_ENVIRONMENT, 'an attachment needs a containerId');
  if (typeof a.containerId !== 'string' || !a.containerId) throw fail(ERR.UNKNOWN_CONTAINER, 'missing containerID');
  if (!isCniId(a.containerId)) throw fail(ERR.INVALID_ENVIRONMENT, 'invalid characters in containerID', a.containerId);
  const ifName = a.ifName ?? 'eth0';
  if (typeof ifName !== 'string' || !ifName) throw fail(ERR.INVALID_ENVIRONMENT, 'interface name is empty');
  if (Buffer.byteLength(ifName) > 15) throw fail(ERR.INVALID_ENVIRONMENT, 'interface name is too long', `interface name should be less than 16 characters`);
  if (ifName === '.' || ifName === '..') throw fail(ERR.INVALID_ENVIRONMENT, 'interface name is . or ..');
  if (/[/:\s]/.test(ifName)) throw fail(ERR.INVALID_ENVIRONMENT, 'interface name contains / or : or whitespace characters', ifName);
  if (a.netns !== undefined && typeof a.netns !== 'string') throw fail(ERR.INVALID_ENVIRONMENT, 'netns must be a path');
  const pairs: [string, string][] = Array.isArray(a.args) ? a.args : Object.entries(a.args ?? {});
  for (const p of pairs) {
    if (!Array.isArray(p) || typeof p[0] !== 'string' || typeof p[1] !== 'string' || !p[0] || /[=;]/.test(p[0]) || p[1].includes(';'))
      throw fail(ERR.INVALID_ENVIRONMENT, 'invalid CNI_ARGS pair', JSON.stringify(p));
  }
  const caps = a.capabilityArgs ?? {};
  if (typeof caps !== 'object' || Array.isArray(caps)) throw fail(ERR.INVALID_CONFIG, 'capability arguments must be an object');
  return { containerId: a.containerId, netns: a.netns ?? '', ifName, args: pairs.map(([k, v]) => [k, v]), capabilityArgs: caps };
}

/** `K=V;K2=V2`, as CNI_ARGS carries them. */
export function argsString(args: [string, string][]): string {
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}

/** Parses `K=V;K2=V2` (a CLI's --args, CNI_ARGS) into pairs. */
export function parseArgsString(s: string): [string, string][] {
  if (!s) return [];
  return s.split(';').map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CniError(ERR.INVALID_ENVIRONMENT, 'invalid CNI_ARGS pair', { command: 'validate', details: kv });
    return [kv.slice(0, i), kv.slice(i + 1)];
  });
}

/**
 * A plugin's stdin (the spec's "execution configuration"): its own object
 * with the list's name and version, the previous result when there is one,
 * runtimeConfig holding the capability arguments it declares, and without
 * `capabilities`, which the spec says the runtime must remove (libcni leaves
 * it in; plugins ignore it either way). Written as Go writes JSON.
 */
export function pluginStdin(list: NetworkConfigList, p: PluginConfig, prev: AnyCniResult | undefined, caps: Record<string, unknown> | null): string {
  const { capabilities: _declared, ...own } = p.conf;
  const conf: Record<string, unknown> = { ...own, name: list.name, cniVersion: list.cniVersion };
  if (prev) conf.prevResult = prev;
  if (caps) {
    const rc: Record<string, unknown> = {};
    for (const c of p.capabilities) if (Object.hasOwn(caps, c) && caps[c] !== undefined) rc[c] = caps[c];
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
  }
  return goJson(conf);
}
