// nsnet's plugins among the reference plugins (Debian's
// containernetworking-plugins), run as libcni runs a conflist: each plugin
// exec'd with the previous one's result as prevResult and the runtime's
// port mappings where a plugin declares the capability, DEL in reverse.
// nsnet's result is one portmap and tuning accept; nsnet-ipam serves the
// reference bridge plugin's ipam section from nsnet's store.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { reservationName } from '../src/cni/plugin/ipam.js';
import { chained, execPlugin, pluginHost, runtimeEnv, startDaemon, type CniCall, type CniOutcome, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import type { World } from './cnm-helpers.js';
import { ipj, nsExec, uniq } from './helpers.js';

const run = promisify(execFile);
const REFERENCE = '/usr/lib/cni';

let h: PluginHost;
let w: World;
let bin: string;
let d: DaemonProcess;

beforeAll(async () => {
  h = await pluginHost('chain');
  ({ w, bin } = h);
  d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
});
afterAll(async () => {
  await d.stop();
  await h.cleanup();
});

/** A plugin by type, found as libcni finds it: nsnet's dir first, then the reference plugins'. */
const binary = (type: string) => (type.startsWith('nsnet') ? join(bin, type) : join(REFERENCE, type));
const exec = (type: string, call: CniCall, conf: unknown) => execPlugin(binary(type), call, conf, { hostNetns: w.host.path!, env: runtimeEnv, path: `${bin}:${REFERENCE}` });

interface Conflist {
  name: string;
  cniVersion: string;
  plugins: Record<string, unknown>[];
}

/** ADD through the list; the final result (each step's code checked). */
async function addList(list: Conflist, call: CniCall, runtimeConfig: Record<string, unknown> = {}): Promise<{ steps: CniOutcome[]; result: unknown }> {
  let prev: unknown;
  const steps: CniOutcome[] = [];
  for (const p of list.plugins) {
    const caps = Object.keys((p.capabilities as Record<string, boolean> | undefined) ?? {}).filter((k) => k in runtimeConfig);
    const rc = caps.length ? { runtimeConfig: Object.fromEntries(caps.map((k) => [k, runtimeConfig[k]])) } : {};
    const r = await exec(p.type as string, { ...call, command: 'ADD' }, { ...chained(p, list.name, list.cniVersion, prev), ...rc });
    steps.push(r);
    expect(r.code, `${p.type} ADD: ${r.stdout} ${r.stderr}`).toBe(0);
    prev = r.json;
  }
  return { steps, result: prev };
}

/** DEL through the list in reverse, each with the ADD's result. */
async function delList(list: Conflist, call: CniCall, result: unknown, runtimeConfig: Record<string, unknown> = {}): Promise<void> {
  for (const p of [...list.plugins].reverse()) {
    const caps = Object.keys((p.capabilities as Record<string, boolean> | undefined) ?? {}).filter((k) => k in runtimeConfig);
    const rc = caps.length ? { runtimeConfig: Object.fromEntries(caps.map((k) => [k, runtimeConfig[k]])) } : {};
    const r = await exec(p.type as string, { ...call, command: 'DEL' }, { ...chained(p, list.name, list.cniVersion, result), ...rc });
    expect(r.code, `${p.type} DEL: ${r.stdout} ${r.stderr}`).toBe(0);
  }
}

describe('chained after nsnet', () => {
  test('portmap and tuning after nsnet accept its prevResult: the port portmap publishes reaches the container, tuning sets its MTU and sysctl, and DEL in reverse removes their rules', async () => {
    const list: Conflist = {
      name: uniq('ch'),
      cniVersion: '1.0.0',
      plugins: [
        { type: 'nsnet', subnet: '10.120.0.0/24' },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'tuning', mtu: 1400, sysctl: { 'net.core.somaxconn': '321' } },
      ],
    };
    const ns = await Netns.create(uniq('cc'));
    const call = { command: 'ADD' as const, containerId: `ch-${process.pid}`, netns: ns.path!, ifname: 'eth0' };
    const rc = { portMappings: [{ hostPort: 18120, containerPort: 80, protocol: 'tcp' }] };
    const { steps, result } = await addList(list, call, rc);
    // Each reference plugin passed nsnet's result on: the container's interface and address are what nsnet said.
    expect((result as any).ips).toEqual(steps[0]!.json.ips);
    expect((result as any).interfaces.find((i: any) => i.sandbox)).toMatchObject({ name: 'eth0', sandbox: ns.path });
    const [link] = await ipj<any[]>(ns.name!, 'link', 'show', 'eth0');
    expect(link.mtu).toBe(1400);
    expect((await nsExec(ns.name!, 'cat', '/proc/sys/net/core/somaxconn')).stdout.trim()).toBe('321');
    // portmap's DNAT (iptables, in the namespace playing the host) takes the port to the container.
    const server = await ns.listenTcp(80, '10.120.0.2');
    const got = new Promise<string>((res) => server.once('connection', (s) => s.once('data', (x) => res(String(x)))));
    const sock = await w.host.connectTcp(18120, '10.120.0.1');
    sock.end('via portmap');
    expect(await got).toBe('via portmap');
    server.close();
    const nat = async () => (await nsExec(w.host.name!, 'iptables-save', '-t', 'nat')).stdout;
    expect(await nat()).toContain('18120');
    // CHECK of nsnet and tuning with the list's result. (portmap 1.1.1's own
    // CHECK fails on an IPv4-only container whoever came before it: it looks
    // for an IPv6 chain it never made.)
    for (const p of list.plugins.filter((x) => x.type !== 'portmap')) {
      const r = await exec(p.type as string, { ...call, command: 'CHECK' }, chained(p, list.name, list.cniVersion, result));
      expect(r.code, `${p.type} CHECK: ${r.stdout}`).toBe(0);
    }
    await delList(list, call, result, rc);
    expect(await nat()).not.toContain('18120');
    expect(await w.c.store.view((t) => t.sandboxes().length)).toBe(0);
    await ns.delete();
    await (await w.c.network(list.name)).delete();
  });
});

describe('nsnet-ipam under the reference bridge plugin', () => {
  test('the bridge plugin gets its addresses from nsnet\'s store; DEL frees them; GC frees exactly the unlisted ones', async () => {
    const list: Conflist = {
      name: uniq('ip'),
      cniVersion: '1.0.0',
      plugins: [{ type: 'bridge', bridge: uniq('cbr'), isGateway: true, ipam: { type: 'nsnet-ipam', subnet: '10.121.0.0/24', routes: [{ dst: '0.0.0.0/0' }] } }],
    };
    const nss = [await Netns.create(uniq('ci')), await Netns.create(uniq('ci')), await Netns.create(uniq('ci'))];
    const calls = nss.map((ns, i) => ({ command: 'ADD' as const, containerId: `ipam-${i}-${process.pid}`, netns: ns.path!, ifname: 'eth0' }));
    const results = [];
    for (const call of calls) results.push((await addList(list, call)).result as any);
    expect(results.map((r) => r.ips[0].address)).toEqual(['10.121.0.2/24', '10.121.0.3/24', '10.121.0.4/24']);
    expect(results[0].ips[0].gateway).toBe('10.121.0.1');
    expect((await ipj<any[]>(nss[0]!.name!, 'route', 'show', 'default'))[0].gateway).toBe('10.121.0.1');
    const reserved = async () => (await (await w.c.network(list.name)).endpoints()).map((e) => e.name).sort();
    expect(await reserved()).toEqual(calls.map((c) => reservationName(c.containerId, 'eth0')).sort());
    // DEL of the first: its address is free again (the next ADD is given the lowest free one after the last).
    await delList(list, calls[0]!, results[0]);
    expect(await reserved()).toHaveLength(2);
    // GC (1.1) naming only the second: the third's reservation goes, and nothing else.
    const gc = await exec('nsnet-ipam', { command: 'GC' }, { ...list.plugins[0], name: list.name, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: calls[1]!.containerId, ifname: 'eth0' }] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(await reserved()).toEqual([reservationName(calls[1]!.containerId, 'eth0')]);
    await delList(list, calls[1]!, results[1]);
    await delList(list, calls[2]!, results[2]); // its reservation is gone already: DEL still succeeds
    expect(await reserved()).toEqual([]);
    for (const ns of nss) await ns.delete();
    await run('ip', ['-n', w.host.name!, 'link', 'del', (list.plugins[0] as any).bridge]);
    await (await w.c.network(list.name)).delete();
  });
});
