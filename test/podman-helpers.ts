// Debian's Podman (4.3, CNI backend) for tests: its storage, run and temp
// dirs in a directory of the test's own, CNI configurations from the test's
// directory, an image imported offline from busybox, and every command run
// inside a namespace playing the host (nsenter --net), so its bridges and
// iptables rules live and die with that namespace.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CliResult } from './cli-helpers.js';

export interface Podman {
  /** `podman <args>` with the test's storage and configuration. */
  run(...args: string[]): Promise<CliResult>;
  /** The busybox image's name. */
  image: string;
  /** Removes every container and the storage. */
  cleanup(): Promise<void>;
}

/** Flags every `podman run` of a test needs: rlimits this machine lets a container keep. */
export const RUN_FLAGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function podman(o: { hostNetns: string; confDir: string; pluginDirs: string[] }): Promise<Podman> {
  const base = await mkdtemp(join(tmpdir(), 'nsnet-podman-'));
  const conf = join(base, 'containers.conf');
  await mkdir(join(base, 'tmp'));
  await writeFile(conf, [
    '[network]',
    'network_backend = "cni"',
    `cni_plugin_dirs = ${JSON.stringify(o.pluginDirs)}`,
    `network_config_dir = ${JSON.stringify(o.confDir)}`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "none"',
    `tmp_dir = ${JSON.stringify(join(base, 'tmp'))}`,
    '',
  ].join('\n'));
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const globals = ['--root', join(base, 'root'), '--runroot', join(base, 'runroot'), '--storage-driver', 'vfs'];
  const run = (...args: string[]) => exec('nsenter', [`--net=${o.hostNetns}`, '--', 'podman', ...globals, ...args], env);

  // A root filesystem of busybox alone, imported without any registry.
  const rootfs = join(base, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const c of ['sh', 'sleep', 'ip', 'cat']) await symlink('busybox', join(rootfs, 'bin', c));
  const image = 'localhost/nsnet-busybox:test';
  const imported = await exec('sh', ['-c', `tar -C "$1" -c . | podman ${globals.join(' ')} import - "$2"`, 'sh', rootfs, image], env);
  if (imported.code !== 0) throw new Error(`podman import: ${imported.stderr}`);
  return {
    run,
    image,
    async cleanup() {
      await run('rm', '--all', '--force', '--time', '0');
      await rm(base, { recursive: true, force: true });
    },
  };
}
