// Debian's Podman (4.3, CNI backend) for tests: its storage, run and temp
// dirs in a directory of the test's own, CNI configurations from the test's
// directory and plugins from its plugin dirs, an image imported offline from
// busybox, and every command run inside a namespace playing the host
// (nsenter --net), so its bridges and iptables rules live and die with that
// namespace. Nothing of the host's Podman setup is read or changed.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CliResult } from './cli-helpers.js';
import { busyboxRootfs } from './rootfs.js';

export interface Podman {
  /** `podman <args>` with the test's storage and configuration. */
  run(...args: string[]): Promise<CliResult>;
  /** run(), which must succeed: its stdout, trimmed (else an error with its stderr). */
  ok(...args: string[]): Promise<string>;
  /** The busybox image's name. */
  image: string;
  /** Removes every container and the storage. */
  cleanup(): Promise<void>;
}

export interface PodmanOptions {
  /** The namespace playing the host (a path). */
  hostNetns: string;
  /** Where Podman reads CNI configurations (network_config_dir). */
  confDir: string;
  /** Where it looks for plugins (cni_plugin_dirs), in order. */
  pluginDirs: string[];
  /** busybox applets the image has besides sh, sleep, ip and cat. */
  applets?: string[];
  /** More files in the image, by path inside it. */
  files?: Record<string, string>;
}

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

/** Limits Podman gives containers: within this process's own hard limits, or runc cannot set them. */
async function ulimits(): Promise<string[]> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const hard = (row: string) => {
    const v = text.split('\n').find((l) => l.startsWith(row))?.trim().split(/\s{2,}/)[2];
    return v === undefined || v === 'unlimited' ? Infinity : Number(v);
  };
  return [['nofile', 'Max open files'], ['nproc', 'Max processes']].map(([k, row]) => {
    const n = Math.min(1024, hard(row!));
    return `${k}=${n}:${n}`;
  });
}

export async function podman(o: PodmanOptions): Promise<Podman> {
  const base = await mkdtemp(join(tmpdir(), 'nsnet-podman-'));
  const conf = join(base, 'containers.conf');
  await mkdir(join(base, 'tmp'));
  await writeFile(conf, [
    '[containers]',
    `default_ulimits = ${JSON.stringify(await ulimits())}`,
    '[network]',
    'network_backend = "cni"',
    `cni_plugin_dirs = ${JSON.stringify(o.pluginDirs)}`,
    `network_config_dir = ${JSON.stringify(o.confDir)}`,
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "none"',
    `tmp_dir = ${JSON.stringify(join(base, 'tmp'))}`,
    '',
  ].join('\n'));
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const globals = ['--root', join(base, 'root'), '--runroot', join(base, 'runroot'), '--storage-driver', 'vfs'];
  const run = (...args: string[]) => exec('nsenter', [`--net=${o.hostNetns}`, '--', 'podman', ...globals, ...args], env);
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
  };

  // A root filesystem of busybox alone (and the files asked for), imported without any registry.
  const rootfs = await busyboxRootfs(base, o.applets, o.files);
  const image = 'localhost/nsnet-busybox:test';
  const imported = await exec('sh', ['-c', `tar -C "$1" -c . | podman ${globals.join(' ')} import - "$2"`, 'sh', rootfs, image], env);
  if (imported.code !== 0) throw new Error(`podman import: ${imported.stderr}`);
  return {
    run,
    ok,
    image,
    async cleanup() {
      await run('rm', '--all', '--force', '--time', '0');
      await rm(base, { recursive: true, force: true });
    },
  };
}
