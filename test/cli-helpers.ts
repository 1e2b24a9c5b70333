// Shared by the CLI tests: the built nsnet command, run as a user runs it,
// with its own state dir, and if asked in a network namespace of its own
// that plays the host (so its bridges, nf_tables table and ports meet no
// other test file's).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll } from 'vitest';

import type { Command, Group } from '../src/cli/args.js';
import { isGroup } from '../src/cli/help.js';
import { Netns } from '../src/index.js';
import { readAll, uniq } from './helpers.js';

export const CLI = 'dist/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** What the command reads on stdin (default: nothing, stdin closed). */
  input?: string;
  /** A command that runs node in turn (`setpriv --reuid=65534 --`), to run nsnet as someone else. */
  prefix?: string[];
  /** Added to the environment. */
  env?: NodeJS.ProcessEnv;
  /** Another path to node and to the checkout (nobodyView's, for another user). */
  node?: string;
  cwd?: string;
}

export interface Cli {
  env: () => NodeJS.ProcessEnv;
  /** `nsnet ...args`: its exit code and output. */
  nsnet: (...args: string[]) => Promise<CliResult>;
  cli: (o: CliOptions, ...args: string[]) => Promise<CliResult>;
  /** Starts `nsnet ...args` and hands back the process (to signal it). */
  start: (o: CliOptions, ...args: string[]) => ChildProcess;
  /** The namespace that plays the host, with ownHost; null otherwise. */
  host: () => { name: string; path: string } | null;
  /** argv prefixed to run a command in the host namespace (nothing without ownHost). */
  inHost: (...argv: string[]) => string[];
}

/**
 * A private state dir for this test file (made before its tests, removed
 * after), and functions that run `nsnet ...args` against it. With ownHost,
 * every command runs in a namespace made for this file (lo up), which
 * plays the host.
 */
export function cliWithStateDir(o: { ownHost?: boolean } = {}): Cli {
  let stateDir = '';
  let host: { name: string; path: string } | null = null;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'nsnet-cli-'));
    if (o.ownHost) {
      const ns = await Netns.create(uniq('clih'));
      host = { name: ns.name!, path: ns.path! };
      ns.close();
    }
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
    if (host) await Netns.delete(host.name);
  });
  const env = () => ({ ...process.env, NSNET_STATE_DIR: stateDir });
  const inHost = (...argv: string[]) => (host ? ['nsenter', `--net=${host.path}`, '--', ...argv] : argv);
  const start = (c: CliOptions, ...args: string[]) => {
    const argv = inHost(...(c.prefix ?? []), c.node ?? process.execPath, CLI, ...args);
    const p = spawn(argv[0]!, argv.slice(1), { env: { ...env(), ...c.env }, cwd: c.cwd });
    p.stdin!.on('error', () => {}); // a command that exits without reading it
    p.stdin!.end(c.input ?? '');
    return p;
  };
  const cli = (c: CliOptions, ...args: string[]) =>
    new Promise<CliResult>((resolve) => {
      const p = start(c, ...args);
      let stdout = '';
      let stderr = '';
      p.stdout!.on('data', (d) => (stdout += d));
      p.stderr!.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  return { env, nsnet: (...args) => cli({}, ...args), cli, start, host: () => host, inHost };
}

/** Every command and group in the tree below node, with the names that lead to it. */
export function walk(node: Command | Group, path: string[] = []): { node: Command | Group; path: string[] }[] {
  return [{ node, path }, ...(isGroup(node) ? node.commands.flatMap((c) => walk(c, [...path, c.name])) : [])];
}

/** Connects over TCP from the namespace at nsPath: 'ok <what the server said>', the error's code, or 'timeout' after 5 s. */
export async function connectFrom(nsPath: string, port: number, address: string): Promise<string> {
  const ns = await Netns.openPath(nsPath);
  try {
    const s = await Promise.race([ns.connectTcp(port, address), sleep(5000).then(() => 'timeout' as const)]);
    if (s === 'timeout') return s;
    return `ok ${await readAll(s)}`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  } finally {
    ns.close();
  }
}

/** A TCP server on port in a sandbox's namespace (every address) that answers each client with answer(client address); returns what stops it. */
export async function serve(sandbox: string, port: number, answer: (client: string) => string = () => sandbox): Promise<() => void> {
  const ns = await Netns.open(sandbox);
  const server = await ns.listenTcp(port, '::');
  server.on('connection', (c) => c.end(answer(c.remoteAddress ?? '')));
  return () => {
    server.close();
    ns.close();
  };
}
