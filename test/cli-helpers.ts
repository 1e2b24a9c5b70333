// Shared by the CLI tests: the built nsnet command, run as a user runs it,
// with its own state dir.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import type { Command, Group } from '../src/cli/args.js';
import { isGroup } from '../src/cli/help.js';

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
}

/**
 * A private state dir for this test file (made before its tests, removed
 * after), and functions that run `nsnet ...args` against it: `nsnet` as
 * is, `cli` with options.
 */
export function cliWithStateDir(): {
  env: () => NodeJS.ProcessEnv;
  nsnet: (...args: string[]) => Promise<CliResult>;
  cli: (o: CliOptions, ...args: string[]) => Promise<CliResult>;
} {
  let stateDir = '';
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'nsnet-cli-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });
  const env = () => ({ ...process.env, NSNET_STATE_DIR: stateDir });
  const cli = (o: CliOptions, ...args: string[]) =>
    new Promise<CliResult>((resolve) => {
      const argv = [...(o.prefix ?? []), process.execPath, CLI, ...args];
      const p = spawn(argv[0]!, argv.slice(1), { env: { ...env(), ...o.env } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.stdin.on('error', () => {}); // a command that exits without reading it
      p.stdin.end(o.input ?? '');
      p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  return { env, nsnet: (...args) => cli({}, ...args), cli };
}

/** Every command and group in the tree below node, with the names that lead to it. */
export function walk(node: Command | Group, path: string[] = []): { node: Command | Group; path: string[] }[] {
  return [{ node, path }, ...(isGroup(node) ? node.commands.flatMap((c) => walk(c, [...path, c.name])) : [])];
}
