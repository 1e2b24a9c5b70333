// Sandboxes in a namespace nsnet did not make (a CNI runtime's): joined by
// path, never deleted, given no files; their interfaces go on leave, in the
// background unless asked to wait; reconcile drops them when the path is
// gone or names another namespace. Docker's options meet them as a CNI
// user expects: MAC and aliases taken, sysctls and transient refused, and
// entering one enters only its network namespace.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { enter, spawned, waitExit } from '../src/cli/enter.js';
import { running } from '../src/processes.js';
import { CLI } from './cli-helpers.js';
import { Netns, type NsnetError } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

let w: World;
beforeAll(async () => {
  w = await world('ext');
});
afterAll(async () => {
  await w.cleanup();
});

const hostLinks = async () => (await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname as string);

describe('external sandboxes', () => {
  test('a sandbox joins a namespace given by path: its interface, address, MAC and route are there; no files; delete leaves the namespace', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.81.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [{ network: net.name, ifname: 'net7', mac: '02:00:00:00:81:07', ip: '10.81.0.9' }] });
    const info = await sb.info();
    expect(info.kind).toBe('external');
    expect(info.netnsPath).toBe(rt.path);
    expect([info.resolvConf, info.hosts, info.hostnameFile]).toEqual([null, null, null]);
    const [link] = (await ipj<any[]>(rt.name!, 'addr', 'show', 'net7'));
    expect(link.address).toBe('02:00:00:00:81:07');
    expect(link.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain('10.81.0.9/24');
    expect((await ipj<any[]>(rt.name!, 'route', 'show', 'default'))[0].gateway).toBe('10.81.0.1');
    expect(await (await sb.endpoints())[0]!.check()).toEqual([]);

    const host = info.endpoints[0]!.hostIfname!;
    expect(await hostLinks()).toContain(host);
    await sb.delete();
    // The interface stopped at once (its host end is down); its deletion waits for the runtime to delete the namespace, or settled().
    expect(await w.c.settled()).toEqual([]);
    expect(await hostLinks()).not.toContain(host);
    expect((await ipj<any[]>(rt.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    expect(existsSync(rt.path!)).toBe(true);
    expect(await w.c.store.view((t) => t.sandboxes().filter((s) => s.name === sb.name))).toEqual([]);
    await rt.delete();
    await net.delete();
  });

  test('leave with wait deletes the interface before it returns; a join after a background leave waits for it and may take the same name', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.82.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [{ network: net.name, ifname: 'eth0' }] });
    const [ep] = await sb.endpoints();
    const host = ep!.record.hostIfname!;
    await ep!.leave({ wait: true });
    expect(await hostLinks()).not.toContain(host);
    const ep2 = await net.createEndpoint(uniq('xe'), { ifname: 'eth0' });
    await ep2.join(sb);
    await ep2.leave(); // deferred
    const ep3 = await net.createEndpoint(uniq('xe'), { ifname: 'eth0' });
    await ep3.join(sb); // would meet eth0 still being deleted without waiting for it
    expect((await ipj<any[]>(rt.name!, 'link', 'show')).map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
    await sb.delete({ force: true });
    await w.c.settled();
    await ep2.delete();
    await rt.delete();
    await net.delete({ force: true });
  });

  test('an endpoint that left a runtime\'s namespace in the background joins another runtime\'s namespace, or a new sandbox of its own, at once: the deletion that holds its host-side name runs first, whichever namespace it was deferred for', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.80.0.0/24'] });
    const bridge = (await net.info()).bridge!;
    const [a, b] = [await Netns.create(uniq('xr')), await Netns.create(uniq('xr'))];
    const sa = await w.c.createSandbox(uniq('xs'), { netnsPath: a.path!, networks: [net.name] });
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: b.path! });
    const [ep] = await sa.endpoints();
    const { hostIfname, addresses } = ep!.record;
    const joinedIn = async (ns: string) => {
      expect((await ipj<any[]>(w.host.name!, 'link', 'show', hostIfname!))[0].master).toBe(bridge);
      const inside = (await ipj<any[]>(ns, 'addr', 'show')).flatMap((l) => (l.addr_info ?? []).map((x: any) => `${l.ifname} ${x.local}/${x.prefixlen}`));
      expect(inside).toContain(`eth0 ${addresses[0]}`);
    };
    await ep!.leave(); // its deletion deferred, in a's namespace
    await ep!.join(sb);
    await joinedIn(b.path!);
    expect((await ipj<any[]>(a.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    await ep!.leave(); // deferred again, now in b's
    const own = await w.c.createSandbox(uniq('xs'), { join: [ep!] });
    await joinedIn(own.name);
    expect((await ipj<any[]>(b.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    expect(await w.c.settled()).toEqual([]);
    await own.delete({ wait: true });
    for (const s of [sa, sb]) await s.delete();
    expect(await w.c.settled()).toEqual([]);
    for (const rt of [a, b]) await rt.delete();
    await net.delete();
  });

  test('a deferred deletion runs on its own a moment later when the namespace lives on, and finds nothing to do when the runtime deleted it first', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.87.0.0/24'] });
    const [kept, gone] = [await Netns.create(uniq('xr')), await Netns.create(uniq('xr'))];
    const sbs = [];
    for (const rt of [kept, gone]) sbs.push(await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [net.name] }));
    const hosts = await Promise.all(sbs.map(async (sb) => (await sb.info()).endpoints[0]!.hostIfname!));
    for (const sb of sbs) await sb.delete();
    await gone.delete(); // as a runtime does right after DEL
    await eventually(async () => {
      const links = await hostLinks();
      expect(hosts.filter((h) => links.includes(h))).toEqual([]);
    });
    expect((await ipj<any[]>(kept.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    expect(await w.c.settled()).toEqual([]);
    await kept.delete();
    await net.delete();
  });

  test('a path that names no namespace is refused before anything changes; one that is gone is not found', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.83.0.0/24'] });
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: '/etc/hostname', networks: [net.name] })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID' });
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: '/run/netns/nope-nope', networks: [net.name] })).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: 'relative', networks: [net.name] })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID' });
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: '/run/netns/x', namespace: 'host' })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID' });
    expect(await w.c.store.view((t) => t.endpoints({ networkId: net.id }))).toEqual([]);
    await net.delete();
  });

  test('reconcile drops a sandbox whose namespace was deleted behind its back, with its address, host veth and published port', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.84.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [{ network: net.name, ports: ['18084:80'] }] });
    const host = (await sb.info()).endpoints[0]!.hostIfname!;
    const elements = async () => ofKind(await nftj(w.host.name!), 'map').flatMap((m: any) => m.elem ?? []).length;
    expect(await elements()).toBeGreaterThan(0);
    await rt.delete(); // the runtime deletes its namespace and never calls DEL
    await eventually(async () => expect(await hostLinks()).not.toContain(host)); // the kernel took the veth with it
    const report = await w.c.reconcile();
    expect(report.sandboxesRemoved).toEqual([sb.name]);
    expect(await elements()).toBe(0);
    expect(await w.c.store.view((t) => t.endpoints({ networkId: net.id }))).toEqual([]);
    await net.delete();
  });

  test('reconcile drops a sandbox whose path now names another namespace, and removes its host veth', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.85.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [net.name] });
    const host = (await sb.info()).endpoints[0]!.hostIfname!;
    // The same path, a new namespace; the old one lives on (held by this handle) with the veth.
    const old = await Netns.openPath(rt.path!);
    const name = rt.name!;
    await rt.delete();
    const again = await Netns.create(name);
    // A join is refused: the path is no longer the sandbox's namespace.
    const net2 = await w.c.createNetwork(uniq('xn'), { subnets: ['10.86.0.0/24'] });
    const ep = await net2.createEndpoint(uniq('xe'));
    await expect(ep.join(sb)).rejects.toThrow(/no longer the namespace/);
    await net2.delete({ force: true });
    const report = await w.c.reconcile();
    expect(report.sandboxesRemoved).toEqual([sb.name]);
    expect(report.found).toContain(`sandbox ${sb.name}: ${rt.path} names another namespace now: removed`);
    expect(await hostLinks()).not.toContain(host);
    // Of the old namespace only what nsnet put there went (the veth's far end); the namespace lives on.
    expect((await old.links.list()).map((l) => l.name)).toEqual(['lo']);
    old.close();
    await again.delete();
    await net.delete();
  });
});

describe("external sandboxes and Docker's options", () => {
  /** A network, a runtime's namespace and a sandbox on that network in it; done() removes what is left of the three. */
  async function external(subnet: string) {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: [subnet] });
    const rt = await Netns.create(uniq('xr'));
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [net.name] });
    const done = async () => {
      await sb.delete({ wait: true }).catch((e: NsnetError) => {
        if (e.code !== 'ERR_NSNET_NOT_FOUND') throw e;
      });
      expect(await w.c.settled()).toEqual([]);
      await rt.delete();
      await net.delete();
    };
    return { net, rt, sb, done };
  }
  const filesRoot = () => join(w.stateDir, 'sandboxes');
  const dirs = () => (existsSync(filesRoot()) ? readdirSync(filesRoot()) : []);

  test('sysctls and transient are refused with netnsPath before anything changes: the runtime owns the namespace', async () => {
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.88.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [net.name], sysctls: { 'net.ipv4.ip_forward': 1 } }))
      .rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', field: 'sysctls', message: expect.stringMatching(/runtime's to set/) });
    await expect(w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [net.name], transient: true }))
      .rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', field: 'transient' });
    expect((await ipj<any[]>(rt.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    expect(await w.c.store.view((t) => [t.endpoints({ networkId: net.id }), t.sandboxes().filter((x) => x.netnsPath === rt.path)])).toEqual([[], []]);
    expect(execFileSync('nsenter', [`--net=${rt.path}`, 'cat', '/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' })).toBe('0\n');
    await rt.delete();
    await net.delete();
  });

  test('aliases of an external sandbox are recorded and listed by network info, and no hosts file is written on create, join or leave', async () => {
    const [net, net2] = [await w.c.createNetwork(uniq('xn'), { subnets: ['10.89.0.0/24'] }), await w.c.createNetwork(uniq('xn'), { subnets: ['10.90.0.0/24'] })];
    const rt = await Netns.create(uniq('xr'));
    const before = dirs();
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path!, networks: [{ network: net.name, aliases: ['db', 'cache'] }] });
    expect((await net.info()).sandboxes).toEqual([expect.objectContaining({ name: sb.name, aliases: ['db', 'cache'], addresses: ['10.89.0.2/24'] })]);
    const ep = await net2.createEndpoint(uniq('xe'), { aliases: ['queue'] });
    await ep.join(sb);
    expect((await net2.info()).sandboxes[0]!.aliases).toEqual(['queue']);
    await ep.leave({ wait: true });
    expect((await sb.info()).hosts).toBeNull();
    expect(dirs()).toEqual(before);
    await sb.delete({ wait: true });
    await ep.delete();
    await rt.delete();
    await net.delete();
    await net2.delete();
  });

  test('a MAC on a network whose driver makes no interface (ipam) is refused; on a bridge network the one asked for is the interface\'s', async () => {
    const addrs = await w.c.createNetwork(uniq('xn'), { driver: 'ipam', subnets: ['10.91.0.0/24'] });
    await expect(addrs.createEndpoint(uniq('xe'), { mac: '02:00:00:00:91:01' })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', field: 'mac', message: expect.stringMatching(/makes no interface/) });
    await expect(addrs.createEndpoint(uniq('xe'), { mac: '01:00:5e:00:00:01' })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', field: 'mac' });
    expect(await w.c.store.view((t) => t.endpoints({ networkId: addrs.id }))).toEqual([]);
    await addrs.delete();
    const net = await w.c.createNetwork(uniq('xn'), { subnets: ['10.92.0.0/24'] });
    const rt = await Netns.create(uniq('xr'));
    const ep = await net.createEndpoint(uniq('xe'), { mac: '02:00:00:00:92:07', ifname: 'eth3' });
    const sb = await w.c.createSandbox(uniq('xs'), { netnsPath: rt.path! });
    await ep.join(sb);
    expect((await ipj<any[]>(rt.name!, 'link', 'show', 'eth3'))[0].address).toBe('02:00:00:00:92:07');
    await sb.delete({ wait: true }); // its endpoints go with it
    await rt.delete();
    await net.delete();
  });

  test("reconcile keeps an external sandbox whose creator (a CNI plugin's process) has exited while its namespace lives", async () => {
    const { sb, done } = await external('10.93.0.0/24');
    // The slow path's plugin process made it and exited: a pid no process has.
    await w.c.store.update((t) => t.putSandbox({ ...t.sandbox(sb.id)!, pid: 2 ** 22 + 1 }));
    const report = await w.c.reconcile();
    expect(report.sandboxesRemoved).toEqual([]);
    expect((await sb.info()).endpoints).toHaveLength(1);
    await done();
  });

  test('entering an external sandbox, detached or not, enters its network namespace only: the files and hostname stay this machine\'s', async () => {
    const { rt, sb, done } = await external('10.94.0.0/24');
    const info = await sb.info();
    const out = mkdtempSync(join(tmpdir(), 'nsnet-enter-'));
    const script = 'readlink /proc/self/ns/net > "$1/ns"; cat /etc/hosts > "$1/hosts"; hostname > "$1/hostname"; touch "$1/done"';
    const seen = (dir: string) => ({
      ns: readFileSync(join(dir, 'ns'), 'utf8').trim(),
      hosts: readFileSync(join(dir, 'hosts'), 'utf8'),
      hostname: readFileSync(join(dir, 'hostname'), 'utf8').trim(),
    });
    const want = { ns: `net:[${statSync(rt.path!).ino}]`, hosts: readFileSync('/etc/hosts', 'utf8'), hostname: hostname() };
    for (const detach of [false, true]) {
      const dir = mkdtempSync(join(out, `${detach}-`));
      const child = enter(info, ['sh', '-c', script, 'sh', dir], process.env, { detach });
      if (detach) {
        await spawned(child);
        await eventually(async () => expect(existsSync(join(dir, 'done'))).toBe(true));
      } else {
        expect(await waitExit(child)).toBe(0);
      }
      expect(seen(dir)).toEqual(want);
    }
    rmSync(out, { recursive: true, force: true });
    await done();
  });

  test("nsnet exec enters an external sandbox; sandbox rm -f stops what exec started there and never the runtime's processes, and leaves its namespace", async () => {
    const { rt, sb, done: cleanup } = await external('10.95.0.0/24');
    const dir = mkdtempSync(join(tmpdir(), 'nsnet-xexec-'));
    const nsnet = (...args: string[]) =>
      spawn('nsenter', [`--net=${w.host.path}`, '--', process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NSNET_STATE_DIR: w.stateDir } });
    const exited = (p: ReturnType<typeof nsnet>) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        let stderr = '';
        p.stderr!.on('data', (d) => (stderr += d));
        p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
      });
    // The runtime's container, and a command nsnet exec starts beside it.
    const container = spawn('nsenter', [`--net=${rt.path}`, 'sleep', '1000'], { stdio: 'ignore' });
    const exec = nsnet('exec', sb.name, 'sh', '-c', `echo $$ > ${dir}/pid; exec sleep 1000`);
    const execDone = exited(exec);
    try {
      await eventually(async () => expect(existsSync(join(dir, 'pid'))).toBe(true), 10_000);
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      expect(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')).toContain(`NSNET_SANDBOX=${sb.id}`);
      expect(execFileSync('readlink', [`/proc/${pid}/ns/net`], { encoding: 'utf8' }).trim()).toBe(`net:[${statSync(rt.path!).ino}]`);
      const refused = await exited(nsnet('sandbox', 'rm', sb.name));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`has 1 running process(es) (pid ${pid})`);
      const forced = await exited(nsnet('sandbox', 'rm', '-f', '-t', '1', sb.name));
      expect(forced.code, forced.stderr).toBe(0);
      expect(running(pid)).toBe(false);
      expect(running(container.pid!)).toBe(true);
      expect(existsSync(rt.path!)).toBe(true);
      expect(await w.c.store.view((t) => t.sandboxes().filter((x) => x.id === sb.id))).toEqual([]);
    } finally {
      container.kill('SIGKILL');
      exec.kill('SIGKILL');
      await execDone;
      rmSync(dir, { recursive: true, force: true });
    }
    await cleanup();
  });
});
