// The plugins' entry: one call (the CNI_* environment and stdin) in, the
// exit code and stdout out, as the spec has a plugin answer. The command
// table of each plugin does the work; this answers VERSION, turns every
// failure into the spec's error JSON (in the configuration's version when
// it could be read), and reports what happened for a log line. The daemon
// and the slow path (a node process per call) both run it.
import type { Controller } from '../../cnm/controller.js';
import { toCniError } from './errors.js';
import { ipamCommands } from './ipam.js';
import { nsnetCommands } from './nsnet.js';
import { PLUGIN_CURRENT, PLUGIN_VERSIONS, parseRequest, type CniRequest } from './request.js';

export const PLUGINS = { nsnet: nsnetCommands, 'nsnet-ipam': ipamCommands } as const;
export type PluginName = keyof typeof PLUGINS;

export const isPlugin = (s: string): s is PluginName => Object.hasOwn(PLUGINS, s);

export interface CniReply {
  /** The process's exit code: 0, or 1 with the error on stdout. */
  exit: number;
  stdout: string;
  /** What the call was and what came of it, for a log line. */
  command: string;
  request: Partial<Pick<CniRequest, 'containerId' | 'netns' | 'ifname'>> & { network?: string };
  error?: { code: number; msg: string; details?: string };
  /** The addresses ADD handed out. */
  addresses?: string[];
}

/** What VERSION answers (the native shim answers the same itself; a test holds the two together). */
export function versionInfo(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: PLUGIN_CURRENT, supportedVersions: [...PLUGIN_VERSIONS] };
}

/** The configuration's version if stdin has one nsnet speaks, for an error found before the request was read through. */
function versionOf(stdin: Buffer): string {
  try {
    const v = (JSON.parse(stdin.toString('utf8')) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && (PLUGIN_VERSIONS as readonly string[]).includes(v)) return v;
  } catch {
    /* not JSON: the error says so */
  }
  return PLUGIN_CURRENT;
}

/** Runs one plugin call; never throws. `open` gives the Controller to commands that need one. */
export async function runPlugin(plugin: PluginName, env: Record<string, string | undefined>, stdin: Buffer, open: () => Promise<Controller>): Promise<CniReply> {
  const reply: CniReply = { exit: 0, stdout: '', command: env.CNI_COMMAND ?? '', request: {} };
  try {
    const req = parseRequest(env, stdin);
    reply.request = { containerId: req.containerId, netns: req.netns, ifname: req.ifname, ...(typeof req.conf.name === 'string' ? { network: req.conf.name } : {}) };
    if (req.command === 'VERSION') {
      reply.stdout = `${JSON.stringify(versionInfo())}\n`;
      return reply;
    }
    const result = await PLUGINS[plugin][req.command](req, open);
    if (result) {
      reply.stdout = `${JSON.stringify(result)}\n`;
      if ('ips' in result) reply.addresses = (result.ips ?? []).map((i) => i.address);
    }
  } catch (e) {
    const err = toCniError(e);
    reply.exit = 1;
    reply.error = err.toJSON();
    reply.stdout = `${JSON.stringify({ cniVersion: versionOf(stdin), ...reply.error })}\n`;
  }
  return reply;
}
