// Simulated hosts as the acceptance asks for them: each a network namespace
// plugged into the underlay bridge, with a mount namespace of its own (its
// own /run/netns, /run/nsnet, /etc/netns and state dir, on tmpfs), running
// its own `nsnet daemon --global-store`; commands run inside it as a person
// would run them on that host. A holder process keeps the mount namespace,
// so a host whose daemon was killed keeps its sandboxes, as a real one does.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Netns } from '../src/index.js';
import { Etcd, underlay, type Underlay } from './etcd-helpers.js';
import { uniq } from './helpers.js';

const run = promisify(execFile);
const NSNET = fileURLToPath(new URL('../bin/nsnet.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export class DaemonHost {
  holder: ChildProcess | null = null;
  daemon: ChildProcess | null = null;
  log = '';

  constructor(
    readonly ns: Netns,
    readonly address: string,
    readonly url: string,
    readonly ttl: number,
  ) {}

  get pid(): number {
    return this.holder!.pid!;
  }

  /** The holder: a private mount namespace (tmpfs over the host's run and state dirs) in the host's network namespace. */
  async boot(): Promise<void> {
    const dirs = ['/run/netns', '/run/nsnet', '/etc/netns', '/var/lib/nsnet'];
    const script = `${dirs.map((d) => `mkdir -p ${d} && mount -t tmpfs -o mode=0755 h ${d}`).join(' && ')} && echo ready && exec sleep infinity`;
    const h = spawn('nsenter', [`--net=${this.ns.path}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.holder = h;
    await new Promise<void>((resolve, reject) => {
      h.stdout!.once('data', () => resolve());
      h.once('exit', (c) => reject(new Error(`host holder exited (${c})`)));
    });
  }

  private enter(cmd: string[]): string[] {
    return ['-t', String(this.pid), '-n', '-m', ...cmd];
  }

  /** Starts `nsnet daemon --global-store` and waits until it serves. */
  async start(): Promise<void> {
    const d = spawn('nsenter', this.enter([process.execPath, NSNET, 'daemon', '--global-store', this.url, '--host-ttl', String(this.ttl)]), {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NSNET_GLOBAL_STORE: '' },
    });
    this.daemon = d;
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer) => {
        this.log += String(b);
        if (this.log.includes('cni: listening')) resolve();
      };
      d.stderr!.on('data', onData);
      d.once('exit', (c) => reject(new Error(`daemon exited (${c}): ${this.log}`)));
    });
  }

  /** Kills the daemon (SIGKILL: it cannot clean up) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const d = this.daemon;
    this.daemon = null;
    if (!d || d.exitCode !== null) return;
    const gone = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill(signal);
    await gone;
  }

  /** Runs `nsnet ...args` on this host; its stdout. */
  async nsnet(...args: string[]): Promise<string> {
    const { stdout } = await run('nsenter', this.enter([process.execPath, NSNET, ...args]), { env: { ...process.env, NSNET_GLOBAL_STORE: '' }, maxBuffer: 1 << 24 });
    return stdout;
  }

  /** Runs a fixture script (test/fixtures) on this host; its stdout. */
  async fixture(name: string, ...args: string[]): Promise<string> {
    const { stdout } = await run('nsenter', this.enter([process.execPath, FIXTURES + name, ...args]), { maxBuffer: 1 << 24 });
    return stdout;
  }

  /** A sandbox's namespace file, seen from outside the host's mount namespace. */
  netnsPath(sandbox: string): string {
    return `/proc/${this.pid}/root/run/netns/${sandbox}`;
  }

  async close(): Promise<void> {
    await this.kill('SIGTERM');
    const h = this.holder;
    this.holder = null;
    if (h && h.exitCode === null) {
      const gone = new Promise<void>((r) => h.once('exit', () => r()));
      h.kill('SIGKILL');
      await gone;
    }
    await this.ns.delete();
  }
}

export interface Hosts {
  ul: Underlay;
  etcd: Etcd;
  hosts: DaemonHost[];
  close(): Promise<void>;
}

/** An underlay, etcd on it, and n hosts each running its daemon. */
export async function daemonHosts(n: number, ttl = 3): Promise<Hosts> {
  const ul = await underlay();
  const etcd = new Etcd(ul.ns, `${ul.net}.1`);
  await etcd.start();
  const hosts: DaemonHost[] = [];
  for (let i = 0; i < n; i++) {
    const ns = await Netns.create(uniq('mh'));
    const h = new DaemonHost(ns, await ul.plug(ns, 10 + i), etcd.url, ttl);
    await h.boot();
    hosts.push(h);
  }
  await Promise.all(hosts.map((h) => h.start()));
  return {
    ul, etcd, hosts,
    async close() {
      for (const h of hosts) await h.close().catch(() => {});
      await etcd.close();
      await ul.close();
    },
  };
}
