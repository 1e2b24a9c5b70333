// Shared by the CNI tests: a plugin call as a runtime makes it (the CNI_*
// environment and the configuration on stdin), either in this process
// (runPlugin, with the test's Controller) or by exec'ing a binary, as
// libcni does, optionally inside a namespace playing the host.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Cni, type Controller } from '../src/index.js';
import { installPlugins } from '../src/cni/plugin/install.js';
import { runPlugin, type PluginName } from '../src/cni/plugin/plugin.js';
import { confDir, REFERENCE, type ConfDir } from './cni-runtime-helpers.js';
import { world, type World } from './cnm-helpers.js';

/** The environment a runtime gives a plugin: this process's, without nsnet's own variables. */
export const runtimeEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NSNET_') || k === 'NSNET_IN_SANDBOX'));

export interface PluginHost {
  w: World;
  /** A private plugin dir holding nsnet's plugins (as `nsnet cni install` puts them). */
  bin: string;
  /** Where the daemon of this host listens (startDaemon). */
  socket: string;
  /** A configuration directory of the test's own. */
  conf: ConfDir;
  /** nsnet's runtime on conf, finding nsnet's plugins first, then the reference plugins, and running them in w's host. */
  cni: Cni;
  cleanup(): Promise<void>;
}

/** A world (a namespace playing the host, a state dir) with nsnet's plugins installed for it. */
export async function pluginHost(tag: string): Promise<PluginHost> {
  const w = await world(tag);
  const bin = mkdtempSync(join(tmpdir(), `nsnet-${tag}-bin-`));
  const socket = `/run/nsnet/${tag}-${process.pid}.sock`;
  installPlugins({ dir: bin, socket, stateDir: w.stateDir });
  const conf = await confDir(tag);
  return {
    w, bin, socket, conf,
    cni: new Cni({ confDir: conf.dir, path: [bin, REFERENCE], hostNetns: w.host.path! }),
    async cleanup() {
      await w.cleanup();
      await conf.remove();
      rmSync(bin, { recursive: true, force: true });
    },
  };
}

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
}

/** The CNI_* variables of a call (only those given). */
export function cniEnv(call: CniCall, path = REFERENCE): Record<string, string> {
  const env: Record<string, string> = { CNI_COMMAND: call.command, CNI_PATH: path };
  if (call.containerId !== undefined) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined) env.CNI_NETNS = call.netns;
  if (call.ifname !== undefined) env.CNI_IFNAME = call.ifname;
  if (call.args !== undefined) env.CNI_ARGS = call.args;
  return env;
}

export interface CniOutcome {
  code: number;
  stdout: string;
  /** stdout parsed, or null when empty. */
  json: any;
  stderr?: string;
}

const parsed = (code: number, stdout: string, stderr?: string): CniOutcome => ({
  code, stdout, json: stdout.trim() ? JSON.parse(stdout) : null, ...(stderr !== undefined ? { stderr } : {}),
});

/** One call of nsnet's plugin in this process, against c. */
export async function callPlugin(c: Controller, call: CniCall, conf: unknown, plugin: PluginName = 'nsnet'): Promise<CniOutcome> {
  const stdin = Buffer.from(typeof conf === 'string' ? conf : JSON.stringify(conf));
  const r = await runPlugin(plugin, cniEnv(call), stdin, async () => c);
  return parsed(r.exit, r.stdout);
}

/**
 * Execs a plugin binary with the call's environment (on top of env, as
 * libcni passes its own) and conf on stdin; inside hostNetns if given
 * (nsenter: only the network namespace changes), where the reference
 * plugins then make their host-side changes.
 */
export function execPlugin(binary: string, call: CniCall, conf: unknown, o: { hostNetns?: string; env?: NodeJS.ProcessEnv; path?: string } = {}): Promise<CniOutcome> {
  const [cmd, args] = o.hostNetns ? ['nsenter', [`--net=${o.hostNetns}`, binary]] : [binary, []];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...(o.env ?? process.env), ...cniEnv(call, o.path) } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      try {
        resolve(parsed(code ?? -1, stdout, stderr));
      } catch (e) {
        reject(new Error(`${binary} ${call.command}: stdout is not JSON: ${stdout} (stderr: ${stderr})`, { cause: e }));
      }
    });
    p.stdin.on('error', () => {}); // a plugin may answer (VERSION) without reading stdin
    p.stdin.end(typeof conf === 'string' ? conf : JSON.stringify(conf));
  });
}

/** The conflist runtime's step between two plugins: the next one's configuration with the previous result. */
export function chained(conf: Record<string, unknown>, name: string, cniVersion: string, prevResult?: unknown): Record<string, unknown> {
  return { ...conf, name, cniVersion, ...(prevResult !== undefined ? { prevResult } : {}) };
}

export interface DaemonProcess {
  proc: import('node:child_process').ChildProcess;
  /** Where its DNS door listens. */
  dnsSocket: string;
  /** Every line it wrote to stderr so far. */
  lines: string[];
  /** Sends the signal and resolves with the exit code (or the signal's name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts `nsnet daemon` as its own process inside hostNetns (its Controller's
 * host), with more flags if given, and resolves once the door named by
 * ready (default cni) listens.
 */
export function startDaemon(o: { hostNetns: string; socket: string; stateDir: string; args?: string[]; ready?: string }): Promise<DaemonProcess> {
  const dnsSocket = o.socket.replace(/(\.sock)?$/, '-dns.sock');
  const args = ['dist/cli/main.js', 'daemon', '--cni-socket', o.socket, '--dns-socket', dnsSocket, '--state-dir', o.stateDir, ...(o.args ?? [])];
  const proc = spawn('nsenter', [`--net=${o.hostNetns}`, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ready = `${o.ready ?? 'cni'}: listening`;
  const lines: string[] = [];
  let rest = '';
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
      if (parts.some((l) => l.startsWith(ready))) resolve({ proc, dnsSocket, lines, stop: (sig = 'SIGTERM') => (proc.kill(sig), exited) });
    });
    void exited.then((code) => reject(new Error(`nsnet daemon exited (${code}) before it listened: ${lines.join('\n')}${rest}`)));
  });
}
