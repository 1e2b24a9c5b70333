// `docker run --rm` of a no-op container, as a user runs it, on dockerd
// 20.10 in its default configuration with `nsnet daemon --docker
// --docker-user` as its plugin, all in this fresh private namespace (tmpfs
// over Docker's dirs, so nothing of the host's Docker is touched). Each
// round runs one container of each kind, in a rotating order: with
// --network none (Docker's fixed cost), on a network of the floor plugin
// (docker-floor.ts: what Docker spends on any remote driver's network), on
// an nsnet network, on a Docker bridge network (all user-defined, so all
// get Docker's embedded DNS), and on the last two with one published port. The client is spawned
// synchronously and timed whole: create, start, exit and removal. Per
// nsnet container, the daemon's own time for Docker's plugin calls is read
// from its log (each line ends in the call's time).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const DOCKER = '/usr/bin/docker';
export const VARIANTS = ['none', 'floor', 'nsnet', 'bridge', 'nsnet+port', 'bridge+port'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface DockerRun {
  /** Wall ms of each `docker run --rm`, by variant, in round order. */
  runMs: Record<Variant, number[]>;
  /**
   * The nsnet daemon's ms for each nsnet container's plugin calls, in round
   * order: all of them, and those that differ with a port
   * (ProgramExternalConnectivity and RevokeExternalConnectivity).
   */
  pluginMs: Record<'nsnet' | 'nsnet+port', { all: number[]; ports: number[] }>;
}

const sh = (cmd: string, args: string[], input?: string) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
};

/** Starts a program and resolves once a line of its stderr starts with ready (or once check passes); collects stderr lines. */
function start(cmd: string, args: string[], ready: (lines: string[]) => boolean): Promise<{ p: ChildProcess; lines: string[] }> {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let rest = '';
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => ready(lines) && (clearInterval(poll), resolve({ p, lines })), 100);
    p.stderr!.on('data', (d) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
    });
    p.once('exit', (code) => (clearInterval(poll), reject(new Error(`${cmd} exited (${code}): ${lines.slice(-20).join('\n')}`))));
  });
}

const stop = (p: ChildProcess) => new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : (p.once('exit', () => resolve()), p.kill('SIGTERM'))));

export async function runDocker(o: { n: number }): Promise<DockerRun> {
  for (const d of ['/run/docker', '/var/lib/docker', '/etc/docker', '/run/containerd', '/var/lib/containerd', '/run/nsnet']) {
    mkdirSync(d, { recursive: true });
    sh('mount', ['-t', 'tmpfs', 'nsnet-bench', d]);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'nsnet-bench-docker-'));
  const host = ['-H', 'unix:///run/docker/bench.sock'];
  const docker = (...args: string[]) => sh(DOCKER, [...host, ...args]);
  const nsnet = await start(process.execPath, [CLI, 'daemon', '--docker', '--docker-user', '--state-dir', join(tmp, 'state'), '--cni-socket', join(tmp, 'cni.sock')], (l) =>
    l.some((x) => x.startsWith('docker: listening')),
  );
  const dockerd = await start('dockerd', [...host, '--data-root', '/var/lib/docker/bench', '--exec-root', '/run/docker/x', '--pidfile', '/run/docker/bench.pid'], () =>
    spawnSync(DOCKER, [...host, 'version'], { stdio: 'ignore' }).status === 0,
  );
  const floor = await start(process.execPath, [fileURLToPath(new URL('./docker-floor.js', import.meta.url)), '/run/docker/plugins/floor.sock', 'fl'], (l) =>
    l.some((x) => x.startsWith('floor: listening')),
  );
  // The floor's veth pairs, made before anything is timed: one per floor container.
  const pairs = o.n + 1;
  sh('ip', ['-batch', '-'], Array.from({ length: pairs }, (_, i) => `link add flh${i} up type veth peer name flp${i}`).join('\n'));
  try {
    const root = join(tmp, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    symlinkSync('busybox', join(root, 'bin/true'));
    sh('tar', ['-C', root, '-cf', join(tmp, 'rootfs.tar'), '.']);
    docker('import', join(tmp, 'rootfs.tar'), 'bench:noop');
    docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.200.0.0/16', 'nsnetnet');
    docker('network', 'create', '--subnet', '10.201.0.0/16', 'bridgenet');
    docker('network', 'create', '-d', 'floor', '--ipam-driver', 'floor', '--subnet', '10.202.0.0/16', 'floornet');
    const net = (v: Variant) => (v === 'none' ? 'none' : v === 'floor' ? 'floornet' : v.startsWith('nsnet') ? 'nsnetnet' : 'bridgenet');
    const args = (v: Variant) => ['run', '--rm', '--network', net(v), ...(v.endsWith('+port') ? ['-p', '8080:80'] : []), 'bench:noop', 'true'];
    const runMs = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as DockerRun['runMs'];
    const pluginMs: DockerRun['pluginMs'] = { nsnet: { all: [], ports: [] }, 'nsnet+port': { all: [], ports: [] } };
    const ms = (lines: string[]) => lines.reduce((sum, l) => sum + Number(/\(([\d.]+) ms\)$/.exec(l)?.[1] ?? NaN), 0);
    for (const v of VARIANTS) docker(...args(v)); // warm: the image's layers, the plugin's activation
    for (let r = 0; r < o.n; r++) {
      for (let i = 0; i < VARIANTS.length; i++) {
        const v = VARIANTS[(i + r) % VARIANTS.length]!;
        const mark = nsnet.lines.length;
        const t0 = performance.now();
        docker(...args(v));
        runMs[v].push(performance.now() - t0);
        if (v === 'nsnet' || v === 'nsnet+port') {
          // The daemon logs a call once it has answered; a moment for the last line to arrive.
          await new Promise((res) => setTimeout(res, 20));
          const calls = nsnet.lines.slice(mark).filter((l) => l.startsWith('docker '));
          pluginMs[v].all.push(ms(calls));
          pluginMs[v].ports.push(ms(calls.filter((l) => /ExternalConnectivity /.test(l))));
        }
      }
    }
    docker('network', 'rm', 'nsnetnet', 'bridgenet', 'floornet');
    return { runMs, pluginMs };
  } finally {
    await stop(dockerd.p);
    await stop(nsnet.p);
    await stop(floor.p);
    rmSync(tmp, { recursive: true, force: true });
  }
}
