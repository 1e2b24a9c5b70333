// Running one plugin as the spec prescribes: the binary named by `type`
// found in the CNI_PATH dirs, the command and attachment in CNI_* variables
// (on top of this process's environment, as libcni passes them), the
// configuration on stdin, the result or the spec's error on stdout. Each
// call is bounded: at its timeout the plugin's whole process group is
// killed, so a plugin stuck in a child (iptables waiting on its lock) goes too.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { CniError, ERR } from '../errors.js';
import type { CniErrorJson } from '../types.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface PluginCall {
  command: CniCommand;
  /** The plugin's type, for errors. */
  plugin: string;
  network?: string;
  /** The binary (from findPlugin). */
  binary: string;
  stdin: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS, already joined (`K=V;K2=V2`). */
  args?: string;
  /** The plugin dirs, for CNI_PATH (plugins that delegate, to IPAM say, search them). */
  path: string[];
  /** Milliseconds before the plugin is killed. */
  timeout: number;
  /** Run the plugin inside this network namespace (a path) instead of this process's. */
  hostNetns?: string;
}

/** More output than any result needs: a plugin writing past it is killed. */
const MAX_OUTPUT = 16 << 20;
/** After the plugin exits, how long its stdout may stay open (held by a child it left behind). */
const DRAIN_MS = 1000;

/** The plugin's binary: the first regular file named `type` in the dirs (libcni's FindInPath). */
export async function findPlugin(type: string, dirs: string[], network?: string): Promise<string> {
  if (!type || type.includes('/')) throw new CniError(ERR.INVALID_CONFIG, `invalid plugin name ${JSON.stringify(type)}`, { plugin: type, command: 'find', ...(network ? { network } : {}) });
  for (const d of dirs) {
    const p = join(d, type);
    try {
      if ((await stat(p)).isFile()) return p;
    } catch {
      /* not in this dir */
    }
  }
  throw new CniError(ERR.NOT_AVAILABLE, `failed to find plugin "${type}" in path [${dirs.join(' ')}]`, { plugin: type, command: 'find', ...(network ? { network } : {}) });
}

/** The spec's error object from a failed plugin's stdout, as libcni reads it. */
function pluginError(call: PluginCall, stdout: string, stderr: string, status: string): CniError {
  const ctx = { plugin: call.plugin, command: call.command, ...(call.network ? { network: call.network } : {}) };
  let e: CniError;
  if (!stdout.trim()) {
    e = new CniError(ERR.UNKNOWN, stderr.trim() ? `plugin failed: ${stderr.trim()}` : `plugin failed with no error message: ${status}`, ctx);
  } else {
    let j: Partial<CniErrorJson> | null = null;
    try {
      j = JSON.parse(stdout) as Partial<CniErrorJson>;
    } catch {
      /* reported below */
    }
    if (j && typeof j === 'object' && typeof j.msg === 'string')
      e = new CniError(Number.isInteger(j.code) ? j.code! : ERR.UNKNOWN, j.msg, { ...ctx, ...(typeof j.details === 'string' && j.details ? { details: j.details } : {}) });
    else e = new CniError(ERR.UNKNOWN, `plugin failed (${status}) and its error did not decode`, { ...ctx, details: stdout.slice(0, 4096) });
  }
  if (stderr.trim()) e.stderr = stderr;
  return e;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  overflow: boolean;
}

function once(call: PluginCall): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_ARGS: call.args ?? '',
    CNI_IFNAME: call.ifName ?? '',
    CNI_PATH: call.path.join(':'),
  };
  const [file, argv] = call.hostNetns ? ['nsenter', [`--net=${call.hostNetns}`, '--', call.binary]] : [call.binary, []];
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills whatever it started too.
    const child = spawn(file, argv, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let overflow = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let drain: NodeJS.Timeout | undefined;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, call.timeout);
    const take = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) {
        overflow = true;
        killGroup();
        return;
      }
      into.push(d);
    };
    child.stdout.on('data', take(out));
    child.stderr.on('data', take(err));
    const settle = () => {
      clearTimeout(timer);
      clearTimeout(drain);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...exit!, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut, overflow });
    };
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      drain = setTimeout(settle, DRAIN_MS);
    });
    child.on('close', () => {
      if (exit) settle();
    });
    child.stdin.on('error', () => {
      /* a plugin that exits without reading its stdin */
    });
    child.stdin.end(call.stdin);
  });
}

/** Runs the plugin; its stdout on success, else a CniError naming the plugin and the spec's code. */
export async function runPlugin(call: PluginCall): Promise<string> {
  const ctx = { plugin: call.plugin, command: call.command, ...(call.network ? { network: call.network } : {}) };
  let r: Outcome | undefined;
  // A binary being replaced while it is started fails with ETXTBSY; libcni retries those.
  for (let attempt = 0; !r; attempt++) {
    try {
      r = await once(call);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ETXTBSY' && attempt < 5) {
        await sleep(1000);
        continue;
      }
      throw new CniError(ERR.IO, `cannot run ${call.binary}: ${(e as Error).message}`, { ...ctx, cause: e });
    }
  }
  if (r.timedOut) throw Object.assign(new CniError(ERR.TRY_AGAIN_LATER, `plugin did not finish within ${call.timeout} ms and was killed`, ctx), r.stderr ? { stderr: r.stderr } : {});
  if (r.overflow) throw new CniError(ERR.IO, `plugin wrote more than ${MAX_OUTPUT} bytes and was killed`, ctx);
  if (r.code === 0) return r.stdout;
  throw pluginError(call, r.stdout, r.stderr, r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
}

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

/** The plugin's VERSION answer (libcni's GetVersionInfo, dummy attachment values included). */
export async function versionInfo(call: Omit<PluginCall, 'command' | 'stdin'>, current: string): Promise<VersionInfo> {
  let stdout: string;
  try {
    stdout = await runPlugin({ ...call, command: 'VERSION', stdin: JSON.stringify({ cniVersion: current }), netns: 'dummy', ifName: 'dummy' });
  } catch (e) {
    // Plugins from before VERSION existed (spec 0.1.0).
    if (e instanceof CniError && e.msg === 'unknown CNI_COMMAND: VERSION') return { cniVersion: '0.1.0', supportedVersions: ['0.1.0'] };
    throw e;
  }
  const ctx = { plugin: call.plugin, command: 'VERSION', ...(call.network ? { network: call.network } : {}) };
  let j: Partial<VersionInfo>;
  try {
    j = JSON.parse(stdout) as Partial<VersionInfo>;
  } catch (e) {
    throw new CniError(ERR.DECODE, `decoding version info: ${(e as Error).message}`, ctx);
  }
  if (typeof j?.cniVersion !== 'string' || !j.cniVersion) throw new CniError(ERR.DECODE, 'decoding version info: missing field cniVersion', ctx);
  if (Array.isArray(j.supportedVersions) && j.supportedVersions.length && j.supportedVersions.every((v) => typeof v === 'string'))
    return { cniVersion: j.cniVersion, supportedVersions: j.supportedVersions };
  if (j.cniVersion === '0.2.0') return { cniVersion: '0.2.0', supportedVersions: ['0.1.0', '0.2.0'] };
  throw new CniError(ERR.DECODE, 'decoding version info: missing field supportedVersions', ctx);
}
