// nsnet beside Docker's firewall. dockerd sets the policy of iptables'
// FORWARD chain (nf_tables `ip filter`) to drop, and a packet must pass
// every base chain at a hook: nsnet's own forward chain accepting it is
// not enough, so with dockerd in its default configuration nothing of
// nsnet's networks is forwarded. Docker keeps the chain DOCKER-USER, which
// FORWARD jumps to first, for the host's own rules. This backend wraps
// another (nsnet daemon --docker-user) and keeps a few rules there per
// network, each commented with the store's tag and the network's id, so
// that it adds, checks and removes exactly its own and never another's.
// They let through what nsnet's chain then decides on (it still drops
// what nsnet isolates): replies and published ports into the network, and
// what the network sends, except new connections into Docker's own
// bridges (docker0, br-*), which go back to Docker's rules: nsnet's
// sandboxes see Docker's containers as a machine outside does.
//
// iptables is run as a program (iptables-restore, one per change): it is
// the one tool whose rules Docker's own share a table with, and these
// changes come per network, not per sandbox.
import { spawn } from 'node:child_process';

import type { Batch } from '../netlink/batch.js';
import { ownerOf, ownerTag } from '../owner.js';
import type { FirewallBackend, FirewallReport, FirewallState, NetworkSpec, PortSpec } from './backend.js';

/** Runs a program with stdin; resolves with its stdout, rejects with its stderr when it fails. */
export type Runner = (cmd: string, args: string[], stdin?: string) => Promise<string>;

export const CHAIN = 'DOCKER-USER';
/** Docker's bridges by their default names: new connections into them return to Docker's rules. */
const DOCKER_BRIDGES = ['docker0', 'br-+'];

/** Runs the iptables programs in the namespace at netnsPath (when it is not this process's). */
export function iptablesRunner(netnsPath: string | null): Runner {
  const own = netnsPath === null || netnsPath === '/proc/self/ns/net';
  return (cmd, args, stdin) =>
    new Promise((resolve, reject) => {
      const p = own ? spawn(cmd, args) : spawn('nsenter', [`--net=${netnsPath}`, cmd, ...args]);
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))));
      p.stdin.on('error', () => {});
      p.stdin.end(stdin ?? '');
    });
}

/** The rules of one network, in order, as `iptables -S` prints them (less `-A CHAIN`). */
export function dockerUserRules(owner: string, n: NetworkSpec): string[] {
  // A routed network's host veths by their prefix, as iptables writes a wildcard.
  const br = n.interface.kind === 'bridge' ? n.interface.name : `${n.interface.prefix}+`;
  const c = `-m comment --comment "${ownerTag(owner, n.id)}"`;
  return [
    `-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT ${c} -j ACCEPT`,
    `-i ${br} -o ${br} ${c} -j ACCEPT`,
    ...DOCKER_BRIDGES.map((d) => `-i ${br} -o ${d} ${c} -j RETURN`),
    `-i ${br} ${c} -j ACCEPT`,
  ];
}

/** The network id a listed rule's comment names, when this store's tag is on it. */
function taggedFor(owner: string, line: string): string | null {
  const m = /--comment "([^"]*)"/.exec(line);
  if (!m || ownerOf(m[1]) !== owner) return null;
  return m[1]!.split(' ')[2] ?? null;
}

export class DockerUserFirewall implements FirewallBackend {
  constructor(
    private readonly inner: FirewallBackend,
    private readonly owner: string,
    private readonly run: Runner,
  ) {}

  get kind() {
    return this.inner.kind;
  }
  get publishes() {
    return this.inner.publishes;
  }
  get canStage() {
    return this.inner.canStage;
  }

  /** DOCKER-USER's rules (`-A DOCKER-USER ...` lines); with make, the chain made (empty) if it is not there. */
  private async listed(make = true): Promise<string[]> {
    const out = await this.run('iptables', ['-w', '-S', CHAIN]).catch(async () => {
      // Made now, Docker takes it over as it is when it starts (it never flushes it).
      if (make) await this.restore([`:${CHAIN} - [0:0]`]);
      return '';
    });
    return out.split('\n').filter((l) => l.startsWith(`-A ${CHAIN} `));
  }

  private async restore(lines: string[]): Promise<void> {
    if (lines.length) await this.run('iptables-restore', ['-w', '--noflush'], `*filter\n${lines.join('\n')}\nCOMMIT\n`);
  }

  /** Puts nets' rules first in the chain, each network's in order; drops first the listed lines given. */
  private async apply(drop: string[], nets: NetworkSpec[]): Promise<void> {
    const add = nets.flatMap((n) => dockerUserRules(this.owner, n)).reverse().map((r) => `-I ${CHAIN} 1 ${r}`);
    await this.restore([...drop.map((l) => l.replace(/^-A /, '-D ')), ...add]);
  }

  async setupNetwork(n: NetworkSpec): Promise<void> {
    await this.inner.setupNetwork(n);
    try {
      const mine = (await this.listed()).filter((l) => taggedFor(this.owner, l) === n.id);
      await this.apply(mine, [n]);
    } catch (e) {
      await this.inner.teardownNetwork(n).catch(() => {});
      throw e;
    }
  }

  async teardownNetwork(n: NetworkSpec): Promise<void> {
    const mine = (await this.listed(false)).filter((l) => taggedFor(this.owner, l) === n.id);
    await this.apply(mine, []);
    await this.inner.teardownNetwork(n);
  }

  publish(ports: PortSpec[]): Promise<void> {
    return this.inner.publish(ports);
  }
  unpublish(ports: PortSpec[]): Promise<void> {
    return this.inner.unpublish(ports);
  }
  unpublished(ports: PortSpec[]): Promise<PortSpec[]> {
    return this.inner.unpublished(ports);
  }
  stage(b: Batch, ports: PortSpec[], gone?: PortSpec[]): void {
    this.inner.stage(b, ports, gone);
  }
  lost(e: unknown): boolean {
    return this.inner.lost(e);
  }

  /**
   * The inner backend's reconcile, then DOCKER-USER brought in line: this
   * store's rules for networks it no longer has go, and a network whose
   * rules are not as written here gets them anew.
   */
  async reconcile(want: () => Promise<FirewallState>, o?: { orphans?: boolean }): Promise<FirewallReport> {
    const report = await this.inner.reconcile(want, o);
    const { networks } = await want();
    const lines = await this.listed(networks.length > 0);
    const byNet = new Map<string, string[]>();
    for (const l of lines) {
      const id = taggedFor(this.owner, l);
      if (id !== null) byNet.set(id, [...(byNet.get(id) ?? []), l]);
    }
    const stale: string[] = [];
    const missing: NetworkSpec[] = [];
    for (const [id, ls] of byNet) if (!networks.some((n) => n.id === id)) stale.push(...ls);
    for (const n of networks) {
      const have = (byNet.get(n.id) ?? []).map((l) => l.slice(`-A ${CHAIN} `.length));
      if (JSON.stringify(have) === JSON.stringify(dockerUserRules(this.owner, n))) continue;
      stale.push(...(byNet.get(n.id) ?? []));
      missing.push(n);
    }
    await this.apply(stale, missing);
    report.dockerUser = { removed: stale.length, added: missing.flatMap((n) => dockerUserRules(this.owner, n)).length };
    return report;
  }
}
