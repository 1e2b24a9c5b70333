// nsnet's plugins among the reference plugins (Debian's
// containernetworking-plugins), run as a conflist by nsnet's own runtime
// (the Cni API, as libcni runs one): each plugin exec'd with the previous
// one's result as prevResult and the runtime's port mappings where a plugin
// declares the capability, DEL in reverse. nsnet's result is one portmap and
// tuning accept; nsnet-ipam serves the reference bridge plugin's ipam
// section from nsnet's store.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { attachmentName } from '../src/cni/plugin/attachments.js';
import { execPlugin, pluginHost, runtimeEnv, startDaemon, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import { REFERENCE } from './cni-runtime-helpers.js';
import type { World } from './cnm-helpers.js';
import { ipj, nsExec, uniq } from './helpers.js';

const run = promisify(execFile);

let h: PluginHost;
let w: World;
let d: DaemonProcess;

beforeAll(async () => {
  h = await pluginHost('chain');
  w = h.w;
  d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
});
afterAll(async () => {
  await d.stop();
  await h.cleanup();
});

describe('chained after nsnet', () => {
  test('portmap and tuning after nsnet accept its prevResult: the port portmap publishes reaches the container, tuning sets its MTU and sysctl, and DEL in reverse removes their rules', async () => {
    const name = uniq('ch');
    // tuning before portmap: the list's CHECK runs in order and portmap's comes last (see below).
    await h.conf.write(`${name}.conflist`, {
      name,
      cniVersion: '1.0.0',
      plugins: [
        { type: 'nsnet', subnet: '10.120.0.0/24' },
        { type: 'tuning', mtu: 1400, sysctl: { 'net.core.somaxconn': '321' } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    const ns = await Netns.create(uniq('cc'));
    const at = { containerId: `ch-${process.pid}`, netns: ns.path! };
    const capabilityArgs = { portMappings: [{ hostPort: 18120, containerPort: 80, protocol: 'tcp' }] };
    const result = (await h.cni.add(name, { ...at, capabilityArgs })) as any;
    // Each reference plugin passed nsnet's result on: the container's interface and addresses are what nsnet made.
    const [sb] = await w.c.sandboxes();
    const [ep] = (await sb!.info()).endpoints;
    expect(result.ips).toEqual(ep!.addresses.map((address) => ({ interface: 2, address, gateway: '10.120.0.1' })));
    expect(result.interfaces.find((i: any) => i.sandbox)).toMatchObject({ name: 'eth0', sandbox: ns.path, mac: ep!.mac });
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
    // CHECK with the list's result: nsnet's and tuning's pass. portmap 1.1.1's
    // own CHECK fails on an IPv4-only container whoever came before it (it
    // looks for an IPv6 chain it never made), and being last, it fails alone.
    const checked = await h.cni.check(name, at).then(() => null, (e) => e);
    if (checked) expect([checked.plugin, checked.message]).toEqual(['portmap', expect.stringMatching(/ipv6/i)]);
    await h.cni.del(name, at);
    expect(await nat()).not.toContain('18120');
    expect(await w.c.store.view((t) => t.sandboxes().length)).toBe(0);
    await ns.delete();
    await (await w.c.network(name)).delete();
  });
});

describe('nsnet-ipam under the reference bridge plugin', () => {
  test('the bridge plugin gets its addresses from nsnet\'s store; DEL frees them; GC frees exactly the unlisted ones', async () => {
    const name = uniq('ip');
    const bridge = { type: 'bridge', bridge: uniq('cbr'), isGateway: true, ipam: { type: 'nsnet-ipam', subnet: '10.121.0.0/24', routes: [{ dst: '0.0.0.0/0' }] } };
    await h.conf.write(`${name}.conflist`, { name, cniVersion: '1.0.0', plugins: [bridge] });
    const nss = [await Netns.create(uniq('ci')), await Netns.create(uniq('ci')), await Netns.create(uniq('ci'))];
    const calls = nss.map((ns, i) => ({ containerId: `ipam-${i}-${process.pid}`, netns: ns.path! }));
    const results = [];
    for (const call of calls) results.push((await h.cni.add(name, call)) as any);
    expect(results.map((r) => r.ips[0].address)).toEqual(['10.121.0.2/24', '10.121.0.3/24', '10.121.0.4/24']);
    expect(results[0].ips[0].gateway).toBe('10.121.0.1');
    expect((await ipj<any[]>(nss[0]!.name!, 'route', 'show', 'default'))[0].gateway).toBe('10.121.0.1');
    const reserved = async () => (await (await w.c.network(name)).endpoints()).map((e) => e.name).sort();
    expect(await reserved()).toEqual(calls.map((c) => attachmentName(c.containerId, 'eth0')).sort());
    // DEL of the first: its address is free again (the next ADD is given the lowest free one after the last).
    await h.cni.del(name, calls[0]!);
    expect(await reserved()).toHaveLength(2);
    // GC (1.1) of nsnet-ipam itself, naming only the second: the third's
    // reservation goes, and nothing else. (The runtime's GC would DEL the
    // third from its cache first; the plugin's own GC is what is tested.)
    const gc = await execPlugin(join(h.bin, 'nsnet-ipam'), { command: 'GC' }, {
      ...bridge, name, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: calls[1]!.containerId, ifname: 'eth0' }],
    }, { hostNetns: w.host.path!, env: runtimeEnv, path: `${h.bin}:${REFERENCE}` });
    expect(gc.code, gc.stdout).toBe(0);
    expect(await reserved()).toEqual([attachmentName(calls[1]!.containerId, 'eth0')]);
    await h.cni.del(name, calls[1]!);
    await h.cni.del(name, calls[2]!); // its reservation is gone already: DEL still succeeds
    expect(await reserved()).toEqual([]);
    for (const ns of nss) await ns.delete();
    await run('ip', ['-n', w.host.name!, 'link', 'del', bridge.bridge]);
    await (await w.c.network(name)).delete();
  });
});
