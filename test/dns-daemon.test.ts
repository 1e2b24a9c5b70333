// Name resolution served by `nsnet daemon` (its own process, in a namespace
// playing the host): sandboxes that other processes make on the same store
// (this test's controller, the nsnet CLI) are served by the time their
// calls return, and a restarted daemon serves every live one again.
import { execFile, spawn } from 'node:child_process';
import { closeSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Controller, Netns, type Sandbox } from '../src/index.js';
import { DoorChannel } from '../src/dns/channel.js';
import { native } from '../src/native.js';
import { pluginHost, startDaemon, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import { eventually, type World } from './cnm-helpers.js';
import { addresses, askDuringFlood, getent, OUTSIDE, query, theOutside, type Upstream } from './dns-helpers.js';
import { uniq } from './helpers.js';

const run = promisify(execFile);

let h: PluginHost;
let w: World;
let d: DaemonProcess;
let outside: Awaited<ReturnType<typeof theOutside>>;
let up: Upstream;

beforeAll(async () => {
  h = await pluginHost('dnsd');
  w = h.w;
  d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
  // This process is one the daemon serves: its controller tells the daemon of its sandboxes.
  process.env.NSNET_DNS_SOCKET = d.dnsSocket;
  await w.reopen();
  outside = await theOutside(w.host);
  up = outside.up;
  await w.c.createNetwork('front', { subnets: ['10.73.0.0/24'] });
  await w.c.createNetwork('back', { subnets: ['10.74.0.0/24'] });
});
afterAll(async () => {
  await d.stop();
  await h.cleanup();
  await outside.close();
});

const addr = async (sb: Sandbox, network = 'front') => (await sb.info()).endpoints.find((e) => e.network === network)!.addresses[0]!.split('/')[0]!;

/** `nsnet ...args` as a user runs it, in the namespace playing the host, on this store and daemon. */
async function nsnet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('nsenter', [`--net=${w.host.path}`, process.execPath, 'dist/cli/main.js', ...args], {
      env: { ...process.env, NSNET_STATE_DIR: w.stateDir, NSNET_DNS_SOCKET: d.dnsSocket },
    });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('names served by nsnet daemon', () => {
  test("another process's sandboxes are served as its calls return: by name and alias from inside, NXDOMAIN across networks, and a leave stops at once", async () => {
    expect(await w.c.nameResolution()).toBe('daemon');
    const a = await w.c.createSandbox(uniq('da'), { networks: [{ network: 'front', aliases: ['web'] }, 'back'] });
    const b = await w.c.createSandbox(uniq('db'), { networks: ['front'], dns: [OUTSIDE] });
    const x = await w.c.createSandbox(uniq('dx'), { networks: ['back'] });
    try {
      expect(await a.info()).toMatchObject({ resolver: '127.0.0.11', nameResolution: 'daemon' });
      expect((await (await w.c.network('front')).info()).nameResolution).toBe('daemon');
      expect(await getent(b.name, 'web')).toBe(await addr(a));
      expect(addresses(await query(b.netnsPath, a.name))).toEqual([await addr(a)]);
      expect(addresses(await query(x.netnsPath, a.name))).toEqual([await addr(a, 'back')]);
      expect(addresses(await query(x.netnsPath, b.name))).toBe('NXDOMAIN');
      expect(addresses(await query(b.netnsPath, 'ok.test'))).toEqual(['192.0.2.7']); // upstream, from the daemon's side
      const eps = await Promise.all((await a.endpoints()).map(async (e) => ({ e, network: (await e.info()).network })));
      await eps.find((x) => x.network === 'front')!.e.leave();
      // a is on back alone now: from front its name is another network's.
      expect(addresses(await query(b.netnsPath, a.name))).toBe('NXDOMAIN');
      expect(addresses(await query(b.netnsPath, 'web'))).not.toEqual([await addr(a, 'back')]);
      // A process asking for names served in-process gets the daemon's instead: one server per store.
      const other = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false, dns: true });
      expect(await other.nameResolution()).toBe('daemon');
      other.close();
    } finally {
      for (const s of [a, b, x]) await s.delete();
    }
  });

  test('the nsnet CLI: a sandbox nsnet run makes resolves the others from its first command; sandbox rm takes its names at once', async () => {
    const a = await w.c.createSandbox(uniq('dc'), { networks: [{ network: 'front', aliases: ['api'] }] });
    // Another network's sandbox holds the alias too: once the front one goes, front hears NXDOMAIN for it.
    const y = await w.c.createSandbox(uniq('dy'), { networks: [{ network: 'back', aliases: ['cache'] }] });
    try {
      const r = await nsnet('run', '--net', 'front', '--', 'getent', 'hosts', 'api');
      expect(r.stderr).toBe('');
      expect(r.stdout.split(/\s+/)[0]).toBe(await addr(a));
      const name = uniq('dk');
      expect((await nsnet('run', '-d', '--name', name, '--net', 'front', '--network-alias', 'cache', '--', 'sleep', '30')).code).toBe(0);
      expect(addresses(await query(a.netnsPath, 'cache'))).toEqual([(await (await w.c.sandbox(name)).info()).endpoints[0]!.addresses[0]!.split('/')[0]]);
      expect((await nsnet('sandbox', 'rm', '-f', '-t', '0', name)).code).toBe(0);
      expect(addresses(await query(a.netnsPath, 'cache'))).toBe('NXDOMAIN');
    } finally {
      for (const s of [a, y]) await s.delete();
    }
  });

  test("a sandbox whose nsnet run was killed: the next nsnet command removes it, and the daemon forgets its name and closes its sockets", async () => {
    const a = await w.c.createSandbox(uniq('dv'), { networks: ['front'] });
    const y = await w.c.createSandbox(uniq('dy'), { networks: [{ network: 'back', aliases: ['doomed'] }] });
    const fds = () => readdirSync(`/proc/${d.proc.pid}/fd`).length;
    try {
      // A name the daemon has not heard of yet makes it take the handovers waiting (y's sockets), so they are counted.
      expect(await query(a.netnsPath, uniq('nobody'))).not.toBe('timeout');
      const before = fds();
      const name = uniq('dk');
      const p = spawn('nsenter', [`--net=${w.host.path}`, process.execPath, 'dist/cli/main.js', 'run', '--name', name, '--net', 'front', '--network-alias', 'doomed', '--', 'sleep', '60'], {
        env: { ...process.env, NSNET_STATE_DIR: w.stateDir, NSNET_DNS_SOCKET: d.dnsSocket }, detached: true, stdio: 'ignore',
      });
      await eventually(async () => expect(addresses(await query(a.netnsPath, 'doomed'))).toHaveLength(1), 15_000);
      expect(fds()).toBeGreaterThanOrEqual(before + 2); // its resolver's two sockets
      process.kill(-p.pid!, 'SIGKILL'); // nsnet run and its command: nothing cleans up
      await new Promise((r) => p.once('exit', r));
      expect((await nsnet('sandbox', 'ls')).code).toBe(0); // its reconcile removes the sandbox
      expect(addresses(await query(a.netnsPath, 'doomed'))).toBe('NXDOMAIN'); // back's holder alone is left
      await eventually(async () => expect(fds()).toBe(before));
    } finally {
      for (const s of [a, y]) await s.delete();
    }
  });

  test('malformed, oversized and flooding queries from one sandbox: the daemon keeps answering the others, and lives on', async () => {
    const bad = await w.c.createSandbox(uniq('dz'), { networks: ['front'] });
    const good = await w.c.createSandbox(uniq('dg'), { networks: ['front'] });
    try {
      const { during, flooded } = await askDuringFlood(bad, good);
      expect(during).toEqual(Array(10).fill([await addr(bad)]));
      expect(flooded).toBe(true); // answered while the flood went on
      expect(d.proc.exitCode).toBeNull();
      // The flood may leave bad's socket full a moment longer, and a query then is dropped, as any datagram is: a stub resolver asks again.
      await eventually(async () => expect(addresses(await query(bad.netnsPath, good.name, 'A', { ms: 500 }))).toEqual([await addr(good)]));
    } finally {
      for (const s of [bad, good]) await s.delete();
    }
  });

  test('a new sandbox comes with the sockets its create opened: queries right as the create returns are answered, over UDP and TCP, by dig from inside and for its name from another sandbox', async () => {
    const a = await w.c.createSandbox(uniq('dh'), { networks: ['front'] });
    try {
      for (let i = 0; i < 5; i++) {
        const b = await w.c.createSandbox(uniq('dn'), { networks: [{ network: 'front', aliases: [`al${i}`] }] });
        let was = '';
        try {
          // Nothing in between: the daemon has the handover unread, or read only just.
          const [byName, fromInside, overTcp] = await Promise.all([
            query(a.netnsPath, `al${i}`),
            query(b.netnsPath, a.name),
            query(b.netnsPath, a.name, 'A', { tcp: true }),
          ]);
          was = await addr(b);
          expect(addresses(byName)).toEqual([was]);
          expect(addresses(fromInside)).toEqual([await addr(a)]);
          expect(addresses(overTcp)).toEqual([await addr(a)]);
          const dig = (...o: string[]) => run('nsenter', [`--net=${b.netnsPath}`, 'dig', '+short', '+time=2', '+tries=1', ...o, '@127.0.0.11', a.name]);
          expect((await dig()).stdout.trim()).toBe(await addr(a));
          expect((await dig('+tcp')).stdout.trim()).toBe(await addr(a));
        } finally {
          await b.delete();
        }
        // No longer a sandbox's name: it goes upstream, which does not know it.
        expect(addresses(await query(a.netnsPath, `al${i}`))).not.toEqual([was]);
      }
    } finally {
      await a.delete();
    }
  });

  test("a handover that is not a resolver's (fds too few, or sockets at another address) is refused and its fds closed; the door and the daemon go on", async () => {
    const fds = () => readdirSync(`/proc/${d.proc.pid}/fd`).length;
    const store = w.c.store.id;
    const sb = await w.c.createSandbox(uniq('dq'), { networks: ['front'] });
    // Sockets in its namespace, but at 127.0.0.1, not the resolver's address.
    const ns = await Netns.openPath(sb.netnsPath);
    const [u, t] = [await native.socketIn(ns.handle, 4, 'udp', '127.0.0.1', 0), await native.socketIn(ns.handle, 4, 'tcp', '127.0.0.1', 0)];
    ns.close();
    try {
      const rec = await w.c.store.view((t) => t.sandbox(sb.id)!);
      const state = { sandbox: rec, endpoints: [], networks: [] };
      expect(await query(sb.netnsPath, uniq('nobody'))).not.toBe('timeout'); // sb's own handover taken
      const before = fds();
      const replies: unknown[] = [];
      const s = net.connect(d.dnsSocket);
      await new Promise((r) => s.once('connect', r));
      const chan = new DoorChannel(s, (m) => replies.push(m), () => {});
      expect(chan.send({ op: 'live', store, sandbox: sb.id, state }, [u])).toBe(true);
      expect(chan.send({ op: 'live', store, sandbox: sb.id, state }, [u, t])).toBe(true);
      expect(chan.send({ op: 'live', store: 'elsewhere', sandbox: sb.id, state }, [u, t])).toBe(true);
      expect(chan.send({ op: 'hello', store })).toBe(true);
      await eventually(async () => expect(replies).toEqual([{ ok: true }]));
      await eventually(async () => expect(fds()).toBe(before + 1)); // the connection alone
      expect(d.lines.filter((l) => /refused a handover|is not served/.test(l)).length).toBeGreaterThanOrEqual(3);
      chan.close();
      await eventually(async () => expect(fds()).toBe(before));
      // The sandbox's own resolver was not replaced by the refused ones.
      expect(addresses(await query(sb.netnsPath, sb.name))).toEqual([await addr(sb)]);
    } finally {
      closeSync(u);
      closeSync(t);
      await sb.delete();
    }
  });

  test('a restarted daemon serves every live sandbox again; while it is down, nothing answers at 127.0.0.11', async () => {
    const a = await w.c.createSandbox(uniq('dr'), { networks: ['front'] });
    const b = await w.c.createSandbox(uniq('ds'), { networks: ['front'] });
    try {
      expect(addresses(await query(b.netnsPath, a.name))).toEqual([await addr(a)]);
      expect(await d.stop()).toBe(0);
      expect(await query(b.netnsPath, a.name, 'A', { ms: 500 })).toBe('timeout');
      d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
      expect(addresses(await query(b.netnsPath, a.name))).toEqual([await addr(a)]);
      expect(addresses(await query(a.netnsPath, b.name, 'A', { tcp: true }))).toEqual([await addr(b)]);
    } finally {
      for (const s of [a, b]) await s.delete();
    }
  });
});
