// A real etcd (Debian's etcd-server) for the multi-host tests and the
// overlay benchmark, on an underlay bridge inside their private namespace:
// its own namespace holds the bridge and etcd's address, and each
// simulated host plugs a veth into it. etcd's data dir is a tmpfs of the
// caller's own mount namespace.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Netns } from 'nsnet';

let counter = 0;
/** A name unique to this process, short enough for an interface. */
const uniq = (prefix: string) => `${prefix}${(process.pid % 10000).toString(36)}${(++counter).toString(36)}`.slice(0, 15);

export interface Underlay {
  ns: Netns;
  /** The underlay's /24, e.g. 10.99.0 */
  net: string;
  /** Plugs a namespace into the underlay as .host and returns its address. */
  plug(ns: Netns, host: number): Promise<string>;
  /** Plugs this process's own namespace in (as .2), so that clients in this process reach etcd. */
  plugSelf(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An underlay /24 of its own for each test process: test files run in
 * parallel in one sandbox, and the one whose own namespace joins the
 * underlay (to reach etcd from the test process) must not meet another's.
 */
export function underlayNet(): string {
  return `10.${100 + (process.pid % 150)}.${Math.floor(process.pid / 150) % 250}`;
}

export async function underlay(net = underlayNet()): Promise<Underlay> {
  const ns = await Netns.create(uniq('ul'));
  await ns.links.addBridge({ name: 'ul0', up: true });
  await ns.addresses.add('ul0', `${net}.1/24`);
  return {
    ns,
    net,
    async plug(host: Netns, n: number) {
      const name = uniq('ulp');
      await ns.links.addVeth({ name, master: 'ul0', up: true, peer: { name: 'ul', netns: host } });
      await host.batch().setUp('ul').addAddress('ul', `${net}.${n}/24`).commit();
      return `${net}.${n}`;
    },
    async plugSelf() {
      const self = await Netns.host();
      const name = uniq('uls');
      await ns.links.addVeth({ name, master: 'ul0', up: true, peer: { name, netns: self } });
      await self.batch().setUp(name).addAddress(name, `${net}.2/24`).commit();
    },
    async close() {
      // The self end (if any) goes with its peer in the underlay's namespace.
      await ns.delete();
    },
  };
}

export class Etcd {
  proc: ChildProcess | null = null;
  readonly dataDir: string;
  readonly url: string;
  private log = '';

  constructor(
    private readonly ns: Netns,
    readonly address: string,
    private readonly port = 2379,
  ) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'nsnet-etcd-'));
    execFileSync('mount', ['-t', 'tmpfs', 'nsnet-etcd', this.dataDir]);
    this.url = `etcd://${address}:${port}`;
  }

  /**
   * Starts etcd and waits until it answers. The probe runs asynchronously:
   * a test's traffic goes on meanwhile, and an event loop stalled by a
   * synchronous etcdctl fires its connect timeouts late, as failures.
   */
  async start(): Promise<void> {
    const c = `http://${this.address}:${this.port}`;
    const peer = `http://${this.address}:${this.port + 1}`;
    this.proc = spawn('nsenter', [`--net=${this.ns.path}`, 'etcd', '--name', 'n0', '--data-dir', join(this.dataDir, 'd'),
      '--listen-client-urls', c, '--advertise-client-urls', c, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `n0=${peer}`, '--log-level', 'error', '--logger', 'zap'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.log += String(d)).length > 1e5 && (this.log = this.log.slice(-5e4)));
    for (let i = 0; i < 200; i++) {
      try {
        await promisify(execFile)('nsenter', [`--net=${this.ns.path}`, 'etcdctl', '--endpoints', c, '--dial-timeout', '300ms', '--command-timeout', '1s', 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' } });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`etcd did not come up: ${this.log.slice(-2000)}`);
  }

  /** Stops etcd (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  /** etcdctl against this etcd. */
  ctl(...args: string[]): string {
    return execFileSync('nsenter', [`--net=${this.ns.path}`, 'etcdctl', '--endpoints', `http://${this.address}:${this.port}`, ...args], {
      encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' },
    });
  }

  async close(): Promise<void> {
    await this.stop();
    try {
      execFileSync('umount', [this.dataDir]);
    } catch {
      /* not mounted */
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
