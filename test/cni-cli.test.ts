// `nsnet cni ...` and `nsnet run --net cni:<network>` as a user runs them,
// each process inside a namespace playing the host (nsenter --net, so
// namespaces it keeps stay mounted), against the reference plugins and
// against nsnet's own plugin sharing the CLI's store (the runtime side's
// cni: sandbox and the plugin side's external sandbox in its namespace).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Controller, createSandbox, Netns } from '../src/index.js';
import { installPlugins } from '../src/cni/plugin/install.js';
import { containerIdFor } from '../src/cli/cni-runtime.js';
import { CLI, type CliResult } from './cli-helpers.js';
import { startDaemon } from './cni-helpers.js';
import { bridgeList, cniHost, hostLocalLeases, inContainer, iptablesNat, readCacheFile, REFERENCE } from './cni-runtime-helpers.js';
import { attempt, fetchTcp, ipj, nsExec, serve, uniq } from './helpers.js';

const t = cniHost('cl');
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'nsnet-cni-cli-'));
});

afterAll(() => rm(stateDir, { recursive: true, force: true }));

/** `nsnet ...args` in the test's host namespace, with its configuration directory and the reference plugins. */
function nsnet(...args: string[]): Promise<CliResult> {
  return nsnetWith({}, ...args);
}

/** nsnet(...args) with more environment (another CNI_PATH, say). */
function nsnetWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [`--net=${t.host.path}`, '--', process.execPath, CLI, ...args], {
      env: { ...process.env, NSNET_STATE_DIR: stateDir, NETCONFPATH: t.conf.dir, CNI_PATH: REFERENCE, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The first bytes a server behind the host's port sends (the connection is then dropped). */
async function firstChunk(port: number, addr: string): Promise<string> {
  const sock = await t.host.connectTcp(port, addr);
  return new Promise((resolve, reject) => {
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString());
    });
    sock.once('error', reject);
    sock.once('end', () => resolve(''));
  });
}

async function portmapNetwork(subnet: string): Promise<string> {
  const name = uniq('cl');
  await t.conf.write(`${name}.conflist`, bridgeList(name, uniq('cb'), subnet, '1.0.0', [{ type: 'portmap', capabilities: { portMappings: true } }]));
  return name;
}

describe('nsnet cni', () => {
  test('add prints the result and attaches the namespace (ping, a mapped port through the t.host), with cnitool\'s container id; del takes it all back', async () => {
    const net = await portmapNetwork('10.127.0.0/24');
    await inContainer(async (ctr) => {
      const id = containerIdFor(ctr.path!);
      const add = await nsnet('cni', 'add', net, ctr.name!, '--capability-args', '{"portMappings":[{"protocol":"tcp","containerPort":80,"hostPort":18083}]}');
      expect(add.code, add.stderr).toBe(0);
      const result = JSON.parse(add.stdout);
      expect(result.ips[0].address).toBe('10.127.0.2/24');
      expect(id).toMatch(/^cnitool-[0-9a-f]{20}$/);
      const cached = JSON.parse((await readCacheFile(net, id))!);
      // Capability arguments from the command line are a Go map to libcni: keys in byte order.
      expect(JSON.stringify(cached.capabilityArgs)).toBe('{"portMappings":[{"containerPort":80,"hostPort":18083,"protocol":"tcp"}]}');
      await nsExec(t.host.name!, 'ping', '-c', '1', '-W', '2', '10.127.0.2');
      const server = await ctr.listenTcp(80, '0.0.0.0');
      server.on('connection', (c) => c.end('via cni add'));
      try {
        expect(await fetchTcp(t.host, 18083, '10.127.0.1')).toBe('via cni add');
      } finally {
        server.close();
      }
      expect((await nsnet('cni', 'status', net)).stdout.trim()).toBe('ready');
      expect((await nsnet('cni', 'ls')).stdout).toContain(`${net}\t1.0.0\tbridge,portmap`);

      const del = await nsnet('cni', 'del', net, ctr.name!);
      expect(del.code, del.stderr).toBe(0);
      expect((await ipj<any[]>(ctr.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
      expect(await hostLocalLeases(net)).toEqual([]);
      expect(await iptablesNat(t.host.name!)).not.toContain(id);
      expect(await readCacheFile(net, id)).toBeNull();
    });
  });

  test('check passes on a bridge attachment; an unknown network and a missing plugin fail with exit 1 and say so', async () => {
    const net = uniq('cl');
    await t.conf.write(`${net}.conflist`, bridgeList(net, uniq('cb'), '10.127.1.0/24'));
    await inContainer(async (ctr) => {
      expect((await nsnet('cni', 'add', '--container-id', 'chk1', net, ctr.path!)).code).toBe(0);
      const check = await nsnet('cni', 'check', '--container-id', 'chk1', net, ctr.path!);
      expect(check.code, check.stderr).toBe(0);
      expect((await nsnet('cni', 'del', '--container-id', 'chk1', net)).code).toBe(0);
      expect(await hostLocalLeases(net)).toEqual([]);
    });
    const unknown = await nsnet('cni', 'add', 'no-such-network', '/run/netns/x');
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no network configuration named "no-such-network"/)]);
    const broken = uniq('cl');
    await t.conf.write(`${broken}.conflist`, { cniVersion: '1.0.0', name: broken, plugins: [{ type: 'no-such-plugin' }] });
    const missing = await nsnet('cni', 'add', broken, '/run/netns/x');
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/plugin no-such-plugin \(find\): failed to find plugin .*\(CNI code 50\)/)]);
  });
});

describe('nsnet run --net cni:<network>', () => {
  test('the command sees its address from the CNI network and its published port works; after it exits the sandbox, lease, port rules and cache are gone', async () => {
    const net = await portmapNetwork('10.127.2.0/24');
    const r = await nsnet('run', '--net', `cni:${net}`, '-p', '18084:80', '--', 'ip', '-j', 'addr', 'show', 'eth0');
    expect(r.code, r.stderr).toBe(0);
    const [eth0] = JSON.parse(r.stdout);
    expect(eth0.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain('10.127.2.2/24');
    expect(await hostLocalLeases(net)).toEqual([]);
    expect(await iptablesNat(t.host.name!)).not.toMatch(/CNI-DN-/);
    expect(JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout)).toEqual([]);
    // While a command runs, its published port reaches it through the t.host.
    const serving = nsnet('run', '--net', `cni:${net}`, '-p', '18085:80', '--', 'sh', '-c', 'echo via run | busybox nc -l -p 80');
    let text = '';
    for (let i = 0; i < 200 && !text; i++) text = await firstChunk(18085, '10.127.2.1').catch(() => sleep(100).then(() => ''));
    expect(text.trim()).toBe('via run');
    const served = await serving;
    expect(served.code, served.stderr).toBe(0);
    expect(await hostLocalLeases(net)).toEqual([]);
  });

  test('a kept sandbox is DELeted by `sandbox rm` in another process, and by reconcile once its namespace was removed behind nsnet\'s back', async () => {
    const net = await portmapNetwork('10.127.3.0/24');
    const a = uniq('ka');
    expect((await nsnet('run', '--keep', '--name', a, '--net', `cni:${net}`, '-p', '18086:80', '--', 'true')).code).toBe(0);
    expect(await hostLocalLeases(net)).toEqual(['10.127.3.2']);
    const [info] = JSON.parse((await nsnet('sandbox', 'inspect', a)).stdout);
    const [rec] = JSON.parse(info.labels['nsnet.cni']);
    expect(rec).toMatchObject({ network: net, ifName: 'eth0', confDir: t.conf.dir });
    expect(await readCacheFile(net, rec.containerId)).not.toBeNull();
    expect(await iptablesNat(t.host.name!)).toContain(rec.containerId);
    const rm1 = await nsnet('sandbox', 'rm', a);
    expect(rm1.code, rm1.stderr).toBe(0);
    expect(await hostLocalLeases(net)).toEqual([]);
    expect(await readCacheFile(net, rec.containerId)).toBeNull();
    expect(await iptablesNat(t.host.name!)).not.toContain(rec.containerId);

    const b = uniq('kb');
    expect((await nsnet('run', '--keep', '--name', b, '--net', `cni:${net}`, '--', 'true')).code).toBe(0);
    const [infoB] = JSON.parse((await nsnet('sandbox', 'inspect', b)).stdout);
    const [recB] = JSON.parse(infoB.labels['nsnet.cni']);
    await Netns.delete(b);
    expect(await hostLocalLeases(net)).toEqual([expect.stringMatching(/^10\.127\.3\.\d+$/)]);
    const ls = await nsnet('sandbox', 'ls', '--json'); // opening the controller reconciles
    expect(JSON.parse(ls.stdout).map((s: any) => s.name)).not.toContain(b);
    expect(await hostLocalLeases(net)).toEqual([]);
    expect(await readCacheFile(net, recB.containerId)).toBeNull();
  });
});

describe("nsnet run --net cni:<network> whose first plugin is nsnet's", () => {
  let bin: string;
  /** The plugins use the CLI's own state dir, as `nsnet cni install` with no --state-dir makes them. */
  const run = (...args: string[]) => nsnetWith({ CNI_PATH: `${bin}:${REFERENCE}` }, ...args);
  /** The store as a library caller sees it (no reconcile on open). */
  async function stored<T>(fn: (c: Controller) => Promise<T>): Promise<T> {
    const c = await Controller.open({ stateDir, host: t.host, reconcile: false });
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  }
  const infos = () => stored(async (c) => Promise.all((await c.sandboxes()).map((s) => s.info())));

  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'nsnet-cni-cli-bin-'));
    // Until a test starts a daemon on this socket, every call takes the slow path.
    installPlugins({ dir: bin, socket: join(bin, 'cni.sock'), stateDir });
  });
  afterAll(() => rm(bin, { recursive: true, force: true }));

  test("the sandbox gets its address from nsnet's plugin, whose own sandbox shares its namespace; sandbox rm DELs that one too; reconcile of a sandbox whose namespace vanished DELs it with no error; neither kind is taken for the other", async () => {
    const net = uniq('cn');
    await t.conf.write(`${net}.conflist`, {
      cniVersion: '1.0.0', name: net,
      plugins: [{ type: 'nsnet', subnet: '10.127.5.0/24', capabilities: { portMappings: true } }, { type: 'tuning', mtu: 1400 }],
    });
    const r = await run('run', '--net', `cni:${net}`, '--', 'ip', '-j', 'addr', 'show', 'eth0');
    expect(r.code, r.stderr).toBe(0);
    const [eth0] = JSON.parse(r.stdout);
    expect([eth0.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`), eth0.mtu]).toEqual([['10.127.5.2/24'], 1400]);
    expect(await infos()).toEqual([]); // the run's sandbox and, through its DEL, the plugin's

    // A kept one: the cni: sandbox (a namespace of its own) and the plugin's external sandbox in it.
    const a = uniq('na');
    const kept = await run('run', '--keep', '--name', a, '--net', `cni:${net}`, '-p', '18087:80', '--', 'true');
    expect(kept.code, kept.stderr).toBe(0);
    const [mine, plugin] = (await infos()).sort((x, y) => (x.name === a ? -1 : y.name === a ? 1 : 0));
    const [rec] = JSON.parse(mine!.labels['nsnet.cni']!);
    expect([mine!.kind, mine!.endpoints.map((e) => e.network)]).toEqual(['own', ['none']]);
    expect([plugin!.kind, plugin!.netnsPath, plugin!.labels['nsnet.cni.containerID'], plugin!.labels['nsnet.cni']]).toEqual(['external', mine!.netnsPath, rec.containerId, undefined]);
    expect(plugin!.endpoints.map((e) => [e.network, e.addresses.length])).toEqual([[net, 1]]);
    const [addr] = plugin!.endpoints[0]!.addresses[0]!.split('/');
    // The port is the nsnet plugin's (nf_tables), published to the cni: sandbox's namespace.
    const ns = await Netns.openPath(mine!.netnsPath);
    const { server } = await serve(ns, 80, addr!, a);
    try {
      expect(await fetchTcp(t.host, 18087, '10.127.5.1')).toBe(a);
    } finally {
      server.close();
      ns.close();
    }
    const rm1 = await run('sandbox', 'rm', a);
    expect(rm1.code, rm1.stderr).toBe(0);
    expect(await infos()).toEqual([]);
    expect(await readCacheFile(net, rec.containerId)).toBeNull();
    expect(await attempt(t.host, 18087, '10.127.5.1')).not.toBe('connected');

    // Its namespace removed behind nsnet's back: reconcile removes the cni:
    // sandbox, whose DEL removes the plugin's, and reports nothing wrong.
    const b = uniq('nb');
    expect((await run('run', '--keep', '--name', b, '--net', `cni:${net}`, '--', 'true')).code).toBe(0);
    const recB = JSON.parse((await infos()).find((i) => i.name === b)!.labels['nsnet.cni']!)[0];
    await Netns.delete(b);
    const report = await stored((c) => c.reconcile());
    expect([report.errors, report.sandboxesRemoved]).toEqual([[], [b]]);
    expect(await infos()).toEqual([]);
    expect(await readCacheFile(net, recB.containerId)).toBeNull();
    await stored(async (c) => (await c.network(net)).delete());
  });

  test('with the daemon serving the plugin, reconcile of cni: sandboxes whose namespaces vanished DELs each through the daemon, with no error', async () => {
    const net = uniq('cn');
    await t.conf.write(`${net}.conflist`, { cniVersion: '1.0.0', name: net, plugins: [{ type: 'nsnet', subnet: '10.127.7.0/24' }] });
    const d = await startDaemon({ hostNetns: t.host.path!, socket: join(bin, 'cni.sock'), stateDir });
    try {
      const names = [uniq('nd'), uniq('nd'), uniq('nd')];
      for (const n of names) expect((await run('run', '--keep', '--name', n, '--net', `cni:${net}`, '--', 'true')).code).toBe(0);
      expect((await infos()).map((i) => i.kind).sort()).toEqual(['external', 'external', 'external', 'own', 'own', 'own']);
      for (const n of names) await Netns.delete(n);
      const report = await stored((c) => c.reconcile());
      expect([report.errors, [...report.sandboxesRemoved].sort()]).toEqual([[], [...names].sort()]);
      expect(await infos()).toEqual([]);
      const dels = d.lines.filter((l) => l.startsWith('cni DEL nsnet') && l.includes(`net=${net} `));
      expect(dels.map((l) => l.includes('-> ok'))).toEqual([true, true, true]);
      await stored(async (c) => (await c.network(net)).delete());
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test('a cni: sandbox is refused a namespace it does not own (an external one is the plugin side\'s), before anything is made', async () => {
    const net = uniq('cn');
    await t.conf.write(`${net}.conflist`, { cniVersion: '1.0.0', name: net, plugins: [{ type: 'nsnet', subnet: '10.127.6.0/24' }] });
    const other = await Netns.create(uniq('cx'));
    try {
      await stored(async (c) => {
        await expect(createSandbox(c, { name: uniq('cs'), mode: `cni:${net}`, netnsPath: other.path!, cni: { confDir: t.conf.dir, path: [bin, REFERENCE] } }))
          .rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', field: 'netnsPath' });
        expect(await c.sandboxes()).toEqual([]);
      });
      expect((await ipj<any[]>(other.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    } finally {
      await other.delete();
    }
  });
});
