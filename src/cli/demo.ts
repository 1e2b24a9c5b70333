// `nsnet demo`: a guided run of every mode, with timings. It runs in a mount
// namespace of its own, with its state, sandbox files and namespaces on a
// tmpfs there, and in a network namespace that plays the host: the
// machine's network and files are never changed, the sandboxes can have the
// plain names a user would give them, and whatever happens to the demo,
// the kernel takes all of it away when the demo's process ends.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller } from '../cnm/controller.js';
import type { Network, Sandbox } from '../cnm/objects.js';
import { createSandbox, defaultNetwork, type ModeOptions } from '../modes.js';
import { Netns } from '../netlink/netns.js';
import { waitExit } from './enter.js';

/** Set for the demo's second process, the one in the private mount namespace: the tmpfs it works in. */
const INSIDE = 'NSNET_DEMO_DIR';

const ms = (t: number) => `${(performance.now() - t).toFixed(2)} ms`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

async function reach(from: Sandbox, host: string, port: number): Promise<string> {
  const ns = await from.netns();
  // A firewall drop is silence: give up after a few seconds rather than
  // TCP's minutes, but not before TCP has sent its SYN again (after 1 s): a
  // veth just made forwards nothing until the kernel has seen its carrier,
  // which on a busy machine can take the first SYN with it.
  const conn = ns.connectTcp(port, host);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 2500)));
  try {
    const s = await Promise.race([conn, timeout]);
    if (s === 'timeout') {
      void conn.then((x) => x.destroy(), () => {});
      return 'no (dropped)';
    }
    s.destroy();
    return 'yes';
  } catch (e) {
    return `no (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    clearTimeout(timer);
  }
}

function describe(what: string, n: Network, info: Awaited<ReturnType<Network['info']>>): string {
  return `network ${n.name}${what}: bridge ${info.bridge}, ${info.subnets.map((s) => `${s.subnet} via ${s.gateway}`).join(', ')}`;
}

/** The tour itself, in dir (a tmpfs of a private mount namespace). */
async function tour(dir: string): Promise<number> {
  const say = (s = '') => console.log(s);
  let t = performance.now();
  const runDir = join(dir, 'netns');
  const host = await Netns.create('host', { runDir });
  const c = await Controller.open({ host, runDir, stateDir: join(dir, 'state'), filesDir: join(dir, 'files'), etcDir: join(dir, 'etc') });
  say(`nsnet demo: a private namespace plays the host, so your network is not touched     ${ms(t)}`);
  const made: Sandbox[] = [];
  try {
    // The default network first, as dockerd makes docker0 when it starts: it takes the first default pool.
    t = performance.now();
    const bridge = await defaultNetwork(c);
    say(`${describe(' (the default, as docker0)', bridge, await bridge.info())}     ${ms(t)}`);
    t = performance.now();
    const net = await c.createNetwork('demo', { ipv6: true });
    say(`${describe('', net, await net.info())}     ${ms(t)}`);

    const steps: [string, ModeOptions][] = [
      ['--name web --net demo -p 8080:80', { name: 'web', mode: { network: 'demo' }, ports: ['8080:80'] }],
      ['--name client --net demo', { name: 'client', mode: { network: 'demo' } }],
      ['--name other --net bridge', { name: 'other', mode: 'bridge' }],
      ['--name isolated --net none', { name: 'isolated', mode: 'none' }],
      ['--name agent --net host', { name: 'agent', mode: 'host' }],
      ['--name sidecar --net container:web', { name: 'sidecar', mode: { container: 'web' } }],
    ];
    say('\nsandboxes, as nsnet run would make them:');
    for (const [flags, o] of steps) {
      t = performance.now();
      made.push(await createSandbox(c, o));
      say(`  ${flags.padEnd(36)} created in ${ms(t)}`);
    }
    const [web, client, other, isolated, agent, sidecar] = made as [Sandbox, Sandbox, Sandbox, Sandbox, Sandbox, Sandbox];

    say('\nwhat each one sees (interfaces, addresses, default route):');
    for (const sb of made) {
      const ns = await sb.netns();
      const links = await ns.links.list();
      const addrs = await ns.addresses.list();
      const routes = await ns.routes.list({ family: 4 });
      const names = new Map(links.map((l) => [l.ifindex, l.name]));
      const def = routes.find((r) => r.dst === 'default');
      const a = addrs.filter((x) => x.scope === 'global' || x.scope === 'host').map((x) => `${names.get(x.ifindex)}:${x.cidr}`);
      say(`  ${sb.name.padEnd(9)} ${plural(links.length, 'interface').padEnd(13)} ${a.join(' ')}; default route ${def ? `via ${def.gateway}` : 'none'}`);
    }

    const webInfo = await web.info();
    const webIp = webInfo.endpoints[0]!.addresses[0]!.split('/')[0]!;
    const webIp6 = webInfo.endpoints[0]!.addresses.find((x) => x.includes(':'))?.split('/')[0];
    const server = await (await web.netns()).listenTcp(80, '::');
    server.on('connection', (s) => s.end());
    say(`\nwho reaches the TCP server on port 80 of web:`);
    const checks: [string, Sandbox, string, number, string?][] = [
      ['client -> web', client, webIp, 80],
      ...(webIp6 ? ([['client -> web over IPv6', client, webIp6, 80]] as [string, Sandbox, string, number][]) : []),
      ['sidecar -> 127.0.0.1', sidecar, '127.0.0.1', 80, "web's own namespace"],
      ['agent -> web', agent, webIp, 80, 'the host, through the bridge'],
      ['agent -> 127.0.0.1:8080', agent, '127.0.0.1', 8080, "the host's port 8080, published to web:80"],
      ['isolated -> web', isolated, webIp, 80, 'no interface but lo'],
      ['other -> web', other, webIp, 80, 'networks are isolated from each other'],
    ];
    for (const [label, from, addr, port, why] of checks) {
      t = performance.now();
      const r = await reach(from, addr, port);
      say(`  ${label.padEnd(26)} ${r.padEnd(18)} ${ms(t).padStart(10)}${why ? `   (${why})` : ''}`);
    }
    server.close();
    say(`\nsandbox files (what commands in web see as /etc/hostname and /etc/resolv.conf):`);
    say(`  hostname ${webInfo.hostname}; resolv.conf ${webInfo.resolvConf}`);
  } finally {
    say('\ncleaning up:');
    t = performance.now();
    for (const sb of made.reverse()) await sb.delete({ force: true }).catch((e: Error) => say(`  ${sb.name}: ${e.message}`));
    say(`  ${plural(made.length, 'sandbox', 'sandboxes')} removed in ${ms(t)}`);
    t = performance.now();
    const nets = (await c.networks()).filter((n) => n.name !== 'none' && n.name !== 'host');
    for (const n of nets) await n.delete({ force: true }).catch((e: Error) => say(`  ${n.name}: ${e.message}`));
    say(`  ${plural(nets.length, 'network')} removed in ${ms(t)}`);
    c.close();
    await host.delete();
  }
  return 0;
}

export async function demo(): Promise<number> {
  const inside = process.env[INSIDE];
  if (inside) return tour(inside);
  // A second process in a mount namespace of its own, on a tmpfs there: its
  // namespaces' mounts, files and store go when it ends, however it ends.
  const dir = mkdtempSync(join(tmpdir(), 'nsnet-demo-'));
  try {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs nsnet-demo "$0" && exec "$@"', dir, process.execPath, process.argv[1]!, 'demo'],
      { stdio: 'inherit', env: { ...process.env, [INSIDE]: dir } },
    );
    return await waitExit(child);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
