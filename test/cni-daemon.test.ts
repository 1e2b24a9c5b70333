// The fast path as runtimes meet it: the native shim installed in a plugin
// dir, exec'd per call, forwarding to `nsnet daemon` (its own process in a
// namespace playing the host), or running node itself when no daemon
// answers; the daemon's socket admits root alone; a daemon killed in the
// middle of a burst of ADDs leaves nothing that the later DELs do not
// remove.
import { execFile } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { versionInfo } from '../src/cni/plugin/plugin.js';
import { execPlugin, pluginHost, runtimeEnv, startDaemon, type CniCall, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import { REFERENCE } from './cni-runtime-helpers.js';
import { eventually, type World } from './cnm-helpers.js';
import { ipj, nobodyView, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

const run = promisify(execFile);

let h: PluginHost;
let w: World;
let bin: string;
let socket: string;

beforeAll(async () => {
  h = await pluginHost('cnid');
  ({ w, bin, socket } = h);
});
afterAll(async () => {
  await h.cleanup();
});

const daemon = (args?: string[]) => startDaemon({ hostNetns: w.host.path!, socket, stateDir: w.stateDir, ...(args ? { args } : {}) });
/** The shim, exec'd as a runtime execs it, in the namespace playing the host. */
const shim = (call: CniCall, conf: unknown, plugin = 'nsnet') => execPlugin(join(bin, plugin), call, conf, { hostNetns: w.host.path!, env: runtimeEnv, path: `${bin}:${REFERENCE}` });

async function containers(tag: string, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const ns = await Netns.create(uniq(`${tag}`));
    ns.close();
    out.push({ id: `${tag}-${i}-${process.pid}`, netns: join('/run/netns', ns.name!), name: ns.name! });
  }
  return out;
}

const conf = (name: string, subnet: string, more: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name, type: 'nsnet', subnet, ...more });

describe('the shim', () => {
  test('VERSION is answered by the shim itself (no daemon, no node), the same as the plugin answers it', async () => {
    const r = await execPlugin(join(bin, 'nsnet'), { command: 'VERSION' }, '{"cniVersion":"1.0.0"}', { env: { PATH: '/nonexistent' } });
    expect(r.code).toBe(0);
    expect(r.json).toEqual(versionInfo());
    expect((await execPlugin(join(bin, 'nsnet-ipam'), { command: 'VERSION' }, '', { env: { PATH: '/nonexistent' } })).json).toEqual(versionInfo());
  });

  test('through the daemon: ADD, CHECK and DEL; the socket is root\'s alone (mode 0600, and SO_PEERCRED refuses others); one log line per call', async () => {
    const d = await daemon();
    try {
      const st = statSync(socket);
      expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
      const [c] = await containers('fd', 1);
      const net = uniq('fn');
      const at = { containerId: c!.id, netns: c!.netns, ifname: 'eth0' };
      const add = await shim({ command: 'ADD', ...at }, conf(net, '10.110.0.0/24'));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json.ips[0].address).toBe('10.110.0.2/24');
      expect((await ipj<any[]>(c!.name, 'addr', 'show', 'eth0'))[0].addr_info.map((a: any) => a.local)).toContain('10.110.0.2');
      expect((await shim({ command: 'CHECK', ...at }, { ...conf(net, '10.110.0.0/24'), prevResult: add.json })).code).toBe(0);
      const del = await shim({ command: 'DEL', ...at }, conf(net, '10.110.0.0/24'));
      expect([del.code, del.stdout]).toEqual([0, '']);
      await eventually(async () => expect(d.lines.filter((l) => l.startsWith('cni ')).map((l) => l.split(' ')[1])).toEqual(['ADD', 'CHECK', 'DEL']));
      expect(d.lines.find((l) => l.startsWith('cni ADD'))).toMatch(new RegExp(`net=${net} container=${c!.id} ifname=eth0 .* -> ok 10.110.0.2/24`));
      // Another user cannot connect (the socket's mode), and if the mode let them, the daemon refuses them.
      const view = await nobodyView();
      const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', view.node, '-e'];
      const client = `const s=require('net').connect(${JSON.stringify(socket)});s.on('error',e=>{console.log(e.code);process.exit(0)});s.on('connect',()=>{s.end(Buffer.concat([Buffer.from('NSC1'),Buffer.alloc(4)]))});let o='';s.on('data',x=>o+=x);s.on('end',()=>console.log(o.slice(8)))`;
      expect((await run('setpriv', [...asNobody, client])).stdout.trim()).toBe('EACCES');
      chmodSync(socket, 0o666);
      expect(JSON.parse((await run('setpriv', [...asNobody, client])).stdout).msg).toMatch(/only root/);
      chmodSync(socket, 0o600);
      await view.undo();
      await run('ip', ['netns', 'del', c!.name]);
      expect(await (await w.c.network(net)).delete()).toBeUndefined();
    } finally {
      expect(await d.stop('SIGTERM')).toBe(0);
    }
    expect(d.lines.at(-1)).toBe('nsnet daemon stopped');
    expect(() => statSync(socket)).toThrow(); // the socket went with it
  });

  test('without a daemon the same calls run through node (the slow path), with the same results', async () => {
    const [c] = await containers('fs', 1);
    const net = uniq('fn');
    const at = { containerId: c!.id, netns: c!.netns, ifname: 'eth0' };
    const add = await shim({ command: 'ADD', ...at }, { ...conf(net, '10.111.0.0/24'), cniVersion: '0.4.0' });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.111.0.2/24', interface: 2, gateway: '10.111.0.1' }] });
    expect((await shim({ command: 'DEL', ...at }, conf(net, '10.111.0.0/24'))).code).toBe(0);
    expect((await ipj<any[]>(c!.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']); // the slow path waits for the deletion before it exits
    await run('ip', ['netns', 'del', c!.name]);
    await (await w.c.network(net)).delete();
  });

  test('a daemon that breaks off a call: ADD answers 11 (try again), DEL is redone by the slow path and succeeds', async () => {
    // A daemon that reads the call and hangs up without an answer.
    const server = createServer({ allowHalfOpen: true }, (s) => s.on('end', () => s.destroy()).resume());
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      const [c] = await containers('fb', 1);
      const net = uniq('fn');
      const at = { containerId: c!.id, netns: c!.netns, ifname: 'eth0' };
      const add = await shim({ command: 'ADD', ...at }, conf(net, '10.112.0.0/24'));
      expect([add.code, add.json.code]).toEqual([1, 11]);
      const del = await shim({ command: 'DEL', ...at }, conf(net, '10.112.0.0/24'));
      expect([del.code, del.stdout]).toEqual([0, '']);
      await run('ip', ['netns', 'del', c!.name]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the daemon killed mid-burst', () => {
  test('SIGKILLed in the middle of 100 ADDs, then restarted: every later DEL succeeds and nothing leaks (interfaces, addresses, nf_tables elements, store rows)', async () => {
    const net = uniq('kn');
    const cf = (i: number) => conf(net, '10.113.0.0/24', { capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 21000 + i, containerPort: 80 }] } });
    const cs = await containers('k', 100);
    let d: DaemonProcess = await daemon();
    const codes: number[] = [];
    const odd: string[] = [];
    let next = 0;
    let killed = false;
    // Four runtimes' calls at a time; the daemon dies once a third are in.
    const worker = async () => {
      while (next < cs.length) {
        const i = next++;
        const r = await shim({ command: 'ADD', containerId: cs[i]!.id, netns: cs[i]!.netns, ifname: 'eth0' }, cf(i));
        codes[i] = r.code === 0 ? 0 : r.json.code;
        if (codes[i] !== 0 && codes[i] !== 11) odd.push(`ADD ${i}: ${r.stdout} ${r.stderr}`);
        if (!killed && codes.filter((x) => x === 0).length >= 33) {
          killed = true;
          await d.stop('SIGKILL');
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(killed).toBe(true);
    // Each ADD either worked (through the daemon, or through node once it was gone) or was broken off with 11.
    expect(odd).toEqual([]);
    d = await daemon();
    try {
      for (let i = 0; i < cs.length; i++) {
        const r = await shim({ command: 'DEL', containerId: cs[i]!.id, netns: cs[i]!.netns, ifname: 'eth0' }, cf(i));
        expect([i, r.code, r.stdout]).toEqual([i, 0, '']);
        await run('ip', ['netns', 'del', cs[i]!.name]); // as a runtime does after DEL
      }
    } finally {
      expect(await d.stop('SIGTERM')).toBe(0);
    }
    await eventually(async () => expect((await ipj<any[]>(w.host.name!, 'link', 'show')).filter((l) => l.ifname.startsWith('nsv'))).toEqual([]), 15_000);
    const store = await w.c.store.view((t) => {
      const n = t.network(net)!;
      return { sandboxes: t.sandboxes().length, endpoints: t.endpoints().length, allocations: n.subnets.flatMap((s) => t.allocations(`${n.id}/${s.subnet}`)).length };
    });
    expect(store).toEqual({ sandboxes: 0, endpoints: 0, allocations: 0 });
    const elements = ofKind(await nftj(w.host.name!), 'map').flatMap((m: any) => m.elem ?? []);
    expect(elements).toEqual([]);
    await (await w.c.network(net)).delete();
  }, 300_000);
});

describe('the daemon with a pool', () => {
  test('--pool-size keeps namespaces plugged into the pooled network ready, SIGUSR1 logs their figures, SIGTERM releases them', async () => {
    const net = uniq('pn');
    await w.c.createNetwork(net, { subnets: ['10.114.0.0/24'] });
    const bridge = (await (await w.c.network(net)).info()).bridge!;
    const ports = async () => (await ipj<any[]>(w.host.name!, 'link', 'show', 'master', bridge)).length;
    const d = await daemon(['--pool-size', '3', '--pool-network', net]);
    // A pooled namespace's name carries its process's pid (see cnm/pool.ts).
    const pooled = async () => (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('nsp-') && l.includes(`-${d.proc.pid}-`));
    try {
      const line = await eventually(async () => {
        d.proc.kill('SIGUSR1');
        await new Promise((res) => setTimeout(res, 100));
        const l = d.lines.filter((x) => x.startsWith(`pool ${net}: `)).at(-1);
        expect(l).toMatch(/ready 3,/);
        return l!;
      }, 15_000);
      expect(line).toMatch(/^pool \S+: size 3, ready 3, resetting 0, hits 0, misses 0, made 3, recycled 0, refused 0, refill [\d.]+\/s, failures 0$/);
      // Three namespaces, each with its veth on the network's bridge.
      expect(await pooled()).toHaveLength(3);
      expect(await ports()).toBe(3);
    } finally {
      expect(await d.stop('SIGTERM')).toBe(0);
    }
    expect(await pooled()).toEqual([]);
    await eventually(async () => expect(await ports()).toBe(0), 15_000);
    await (await w.c.network(net)).delete();
  }, 60_000);
});
