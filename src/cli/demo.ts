// `nsnet demo`: a guided run of every mode, with timings. It works inside a
// private namespace that plays the host, so the machine's own network is
// never changed, and it removes everything it made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller } from '../cnm/controller.js';
import type { Sandbox } from '../cnm/objects.js';
import { createSandbox } from '../modes.js';
import { Netns } from '../netlink/netns.js';

const ms = (t: number) => `${(performance.now() - t).toFixed(2)} ms`;

async function reach(from: Sandbox, host: string, port: number): Promise<string> {
  const ns = await from.netns();
  // A firewall drop is silence: give up after a second rather than TCP's minutes.
  const conn = ns.connectTcp(port, host);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 1000)));
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

export async function demo(): Promise<number> {
  const say = (s = '') => console.log(s);
  const tag = process.pid.toString(36);
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-demo-'));
  let t = performance.now();
  const host = await Netns.create(`nsnet-demo-${tag}`);
  say(`nsnet demo: a private namespace plays the host (your network is not touched)     ${ms(t)}`);
  const c = await Controller.open({ stateDir, host });
  const made: Sandbox[] = [];
  try {
    t = performance.now();
    const net = await c.createNetwork('demo', { ipv6: true });
    const ni = await net.info();
    say(`network demo: bridge ${ni.bridge}, ${ni.subnets.map((s) => `${s.subnet} via ${s.gateway}`).join(', ')}     ${ms(t)}`);
    const steps: [string, Parameters<typeof createSandbox>[1]][] = [
      ['web     --net demo -p 8080:80', { name: `web-${tag}`, mode: { network: 'demo' }, ports: ['8080:80'] }],
      ['client  --net demo', { name: `client-${tag}`, mode: { network: 'demo' } }],
      ['other   --net bridge', { name: `other-${tag}`, mode: 'bridge' }],
      ['none    --net none', { name: `none-${tag}`, mode: 'none' }],
      ['hostsb  --net host', { name: `host-${tag}`, mode: 'host' }],
      ['sidecar --net container:web', { name: `sidecar-${tag}`, mode: { container: `web-${tag}` } }],
    ];
    say('\nsandboxes:');
    for (const [label, o] of steps) {
      t = performance.now();
      made.push(await createSandbox(c, o));
      say(`  ${label.padEnd(30)} created in ${ms(t)}`);
    }
    const [web, client, other, none, hostSb, sidecar] = made as [Sandbox, Sandbox, Sandbox, Sandbox, Sandbox, Sandbox];

    say('\nwhat each sees (interfaces, addresses, default route):');
    for (const sb of made) {
      const ns = await sb.netns();
      const links = await ns.links.list();
      const addrs = await ns.addresses.list();
      const routes = await ns.routes.list({ family: 4 });
      const names = new Map(links.map((l) => [l.ifindex, l.name]));
      const def = routes.find((r) => r.dst === 'default');
      const a = addrs.filter((x) => x.scope === 'global' || x.scope === 'host').map((x) => `${names.get(x.ifindex)}:${x.cidr}`);
      say(`  ${sb.name.padEnd(18)} ${links.length} links  ${a.join(' ')}  default ${def ? `via ${def.gateway}` : 'none'}`);
    }

    const webInfo = await web.info();
    const webIp = webInfo.endpoints[0]!.addresses[0]!.split('/')[0]!;
    const webIp6 = webInfo.endpoints[0]!.addresses.find((x) => x.includes(':'))?.split('/')[0];
    const server = await (await web.netns()).listenTcp(80, '::');
    server.on('connection', (s) => s.end());
    say(`\nwho reaches web's TCP server on port 80:`);
    const checks: [string, Sandbox, string][] = [
      ['client -> web', client, webIp],
      ...(webIp6 ? ([['client -> web (IPv6)', client, webIp6]] as [string, Sandbox, string][]) : []),
      ['sidecar -> 127.0.0.1 (same namespace as web)', sidecar, '127.0.0.1'],
      ['host sandbox -> web (via the bridge)', hostSb, webIp],
      ['none -> web', none, webIp],
    ];
    for (const [label, from, addr] of checks) {
      t = performance.now();
      const r = await reach(from, addr, 80);
      say(`  ${label.padEnd(46)} ${r.padEnd(20)} ${ms(t)}`);
    }
    say(`  ${'host -> 127.0.0.1:8080 (published)'.padEnd(46)} ${(await reach(hostSb, '127.0.0.1', 8080)).padEnd(20)}`);
    say(`  ${'other (bridge network) -> web'.padEnd(46)} ${(await reach(other, webIp, 80)).padEnd(20)} (networks are isolated from each other)`);
    server.close();
    say(`\nsandbox files (what 'ip netns exec ${web.name}' and 'nsnet exec' show as /etc/...):`);
    say(`  hostname ${webInfo.hostname}; resolv.conf ${webInfo.resolvConf}`);
  } finally {
    say('\ncleaning up:');
    t = performance.now();
    for (const sb of made.reverse()) await sb.delete({ force: true }).catch(() => {});
    say(`  ${made.length} sandboxes removed in ${ms(t)}`);
    t = performance.now();
    for (const n of await c.networks()) if (n.name !== 'none' && n.name !== 'host') await n.delete({ force: true }).catch(() => {});
    say(`  networks removed in ${ms(t)}`);
    c.close();
    await host.delete();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return 0;
}
