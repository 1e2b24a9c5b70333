// Shared by the CLI tests: the built nsnet command, run as a user runs it,
// with its own state dir.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

export const CLI = 'dist/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A private state dir for this test file (made before its tests, removed
 * after), and a function that runs `nsnet ...args` against it.
 */
export function cliWithStateDir(): { env: () => NodeJS.ProcessEnv; nsnet: (...args: string[]) => Promise<CliResult> } {
  let stateDir = '';
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'nsnet-cli-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });
  const env = () => ({ ...process.env, NSNET_STATE_DIR: stateDir });
  const nsnet = (...args: string[]) =>
    new Promise<CliResult>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], { env: env() });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  return { env, nsnet };
}
