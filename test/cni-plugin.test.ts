// nsnet's CNI plugin, called as a runtime calls it (the CNI_* environment,
// the configuration on stdin), in this process against a Controller whose
// host is a private namespace: results in each version, DEL's idempotence,
// CHECK, STATUS, GC, the capabilities, and bad input answered with the
// spec's codes while nothing changes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { sandboxName } from '../src/cni/plugin/attachments.js';
import { callPlugin } from './cni-helpers.js';
import { REFERENCE } from './cni-runtime-helpers.js';
import { settled, world, type World } from './cnm-helpers.js';
import { ip, ipj, uniq } from './helpers.js';

let w: World;
beforeAll(async () => {
  w = await world('cnip');
});
afterAll(async () => {
  await w.cleanup();
});

/** A container: a namespace the "runtime" made, and its id. */
async function container(tag: string) {
  const ns = await Netns.create(uniq(`c${tag}`));
  return { ns, id: `ctr-${ns.name}`, path: ns.path! };
}

const conf = (name: string, subnet: string, more: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name, type: 'nsnet', subnet, ...more });

describe('results', () => {
  for (const version of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    test(`ADD at ${version}: interfaces with the sandbox's, ips pointing at it ${version < '1' ? 'with' : 'without'} version, routes and dns, as ${version} shapes them`, async () => {
      const net = uniq('rv');
      const c = await container('r');
      const dns = { nameservers: ['10.90.0.53'], search: ['example.test'] };
      const r = await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, { ...conf(net, '10.90.0.0/24', { dns, ipv6: true }), cniVersion: version });
      expect(r.code, r.stdout).toBe(0);
      const res = r.json;
      expect(res.cniVersion).toBe(version);
      const [link] = await ipj<any[]>(c.ns.name!, 'addr', 'show', 'eth0');
      const sandboxIf = res.interfaces.findIndex((i: any) => i.sandbox);
      expect(res.interfaces[sandboxIf]).toEqual({ name: 'eth0', mac: link.address, sandbox: c.path });
      // The bridge and the host's end come first, as the reference bridge plugin lists them.
      expect(res.interfaces.slice(0, sandboxIf).every((i: any) => i.sandbox === undefined)).toBe(true);
      const v4 = res.ips.find((i: any) => i.address.startsWith('10.90.'));
      const v6 = res.ips.find((i: any) => i.address.includes(':'));
      expect(v4).toMatchObject({ interface: sandboxIf, gateway: '10.90.0.1' });
      expect(v6.interface).toBe(sandboxIf);
      if (version < '1') {
        expect(v4.version).toBe('4');
        expect(v6.version).toBe('6');
      } else {
        expect('version' in v4).toBe(false);
        expect('version' in v6).toBe(false);
      }
      const kernel = link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
      expect(res.ips.map((i: any) => i.address).sort()).toEqual(kernel);
      expect(res.routes).toEqual(expect.arrayContaining([{ dst: '0.0.0.0/0', gw: '10.90.0.1' }, expect.objectContaining({ dst: '::/0' })]));
      expect(res.dns).toEqual(dns);
      expect((await callPlugin(w.c, { command: 'DEL', containerId: c.id, netns: c.path, ifname: 'eth0' }, conf(net, '10.90.0.0/24', { ipv6: true }))).code).toBe(0);
      await w.c.settled();
      await c.ns.delete();
      await (await w.c.network(net)).delete();
    });
  }

  test('a second network (and a second interface, on either network) of one container: one sandbox, one endpoint each; DEL of the last removes the sandbox', async () => {
    const [n1, n2] = [uniq('mn'), uniq('mn')];
    const c = await container('m');
    const call = (command: 'ADD' | 'DEL', ifname: string, net: string, subnet: string) =>
      callPlugin(w.c, { command, containerId: c.id, netns: c.path, ifname }, conf(net, subnet));
    expect((await call('ADD', 'eth0', n1, '10.91.0.0/24')).code).toBe(0);
    const r2 = await call('ADD', 'net1', n2, '10.92.0.0/24');
    expect(r2.code, r2.stdout).toBe(0);
    const sb = await w.c.sandbox(sandboxName(c.id));
    expect((await sb.info()).endpoints.map((e) => `${e.network} ${e.ifname}`).sort()).toEqual([`${n1} eth0`, `${n2} net1`].sort());
    // The same network again under another interface name is an attachment of its own (the spec keys them by network, container, interface).
    expect((await call('ADD', 'net2', n2, '10.92.0.0/24')).code).toBe(0);
    expect((await call('ADD', 'net2', n2, '10.92.0.0/24')).json.code).toBe(101);
    expect((await call('DEL', 'net2', n2, '10.92.0.0/24')).code).toBe(0);
    expect((await call('DEL', 'eth0', n1, '10.91.0.0/24')).code).toBe(0);
    expect((await sb.info()).endpoints.map((e) => e.ifname)).toEqual(['net1']);
    expect((await call('DEL', 'net1', n2, '10.92.0.0/24')).code).toBe(0);
    await expect(w.c.sandbox(sb.name)).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    await w.c.settled();
    expect((await ipj<any[]>(c.ns.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    await c.ns.delete();
    for (const n of [n1, n2]) await (await w.c.network(n)).delete();
  });

  test('after a plugin that came first, the result keeps its interfaces and moves our indexes past them', async () => {
    const net = uniq('pn');
    const c = await container('p');
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'other0' }], ips: [{ address: '192.0.2.5/24', interface: 0 }], dns: {} };
    const r = await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, conf(net, '10.93.0.0/24', { prevResult }));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces[0]).toEqual({ name: 'other0' });
    expect(r.json.ips[0]).toEqual({ address: '192.0.2.5/24', interface: 0 });
    expect(r.json.interfaces[r.json.ips[1].interface]).toMatchObject({ name: 'eth0', sandbox: c.path });
    await callPlugin(w.c, { command: 'DEL', containerId: c.id, netns: c.path, ifname: 'eth0' }, conf(net, '10.93.0.0/24'));
    await w.c.settled();
    await c.ns.delete();
    await (await w.c.network(net)).delete();
  });
});

describe('capabilities', () => {
  test('runtimeConfig ips, mac and portMappings: the address and MAC asked for, and the port reachable through nsnet\'s nf_tables', async () => {
    const net = uniq('kn');
    const c = await container('k');
    const r = await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, conf(net, '10.94.0.0/24', {
      capabilities: { ips: true, mac: true, portMappings: true },
      runtimeConfig: { ips: ['10.94.0.77/24'], mac: '02:00:00:94:00:77', portMappings: [{ hostPort: 18094, containerPort: 80, protocol: 'tcp' }] },
    }));
    expect(r.code, r.stdout).toBe(0);
    const [link] = await ipj<any[]>(c.ns.name!, 'addr', 'show', 'eth0');
    expect(link.address).toBe('02:00:00:94:00:77');
    expect(link.addr_info.map((a: any) => a.local)).toContain('10.94.0.77');
    const server = await c.ns.listenTcp(80, '10.94.0.77');
    const got = new Promise<string>((res) => server.once('connection', (s) => s.once('data', (d) => res(String(d)))));
    const sock = await w.host.connectTcp(18094, '10.94.0.1');
    sock.end('through the published port');
    expect(await got).toBe('through the published port');
    server.close();
    // CNI_ARGS' IP and MAC are the same asks in the older convention.
    const c2 = await container('k');
    // Asked both ways at once, as podman network reload asks for a static address, it is one ask.
    const r2 = await callPlugin(w.c, { command: 'ADD', containerId: c2.id, netns: c2.path, ifname: 'eth0', args: 'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.94.0.78;MAC=02:00:00:94:00:78' },
      conf(net, '10.94.0.0/24', { capabilities: { ips: true }, runtimeConfig: { ips: ['10.94.0.78'] } }));
    expect(r2.code, r2.stdout).toBe(0);
    expect(r2.json.ips[0].address).toBe('10.94.0.78/24');
    expect(r2.json.interfaces[2].mac).toBe('02:00:00:94:00:78');
    for (const x of [c, c2]) {
      expect((await callPlugin(w.c, { command: 'DEL', containerId: x.id, netns: x.path, ifname: 'eth0' }, conf(net, '10.94.0.0/24'))).code).toBe(0);
    }
    await w.c.settled();
    for (const x of [c, c2]) await x.ns.delete();
    await (await w.c.network(net)).delete();
  });
});

describe('DEL, CHECK, STATUS, GC', () => {
  test('DEL twice, DEL without a namespace, DEL of an unknown container and of an unknown network: all succeed, with nothing on stdout', async () => {
    const net = uniq('dn');
    const c = await container('d');
    const cf = conf(net, '10.95.0.0/24');
    expect((await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, cf)).code).toBe(0);
    const host = (await (await w.c.sandbox(sandboxName(c.id))).info()).endpoints[0]!.hostIfname!;
    // The runtime deleted the namespace first, and calls DEL without one.
    await c.ns.delete();
    for (const call of [
      { command: 'DEL' as const, containerId: c.id, ifname: 'eth0' },
      { command: 'DEL' as const, containerId: c.id, netns: c.path, ifname: 'eth0' },
      { command: 'DEL' as const, containerId: 'never-added', netns: c.path, ifname: 'eth0' },
    ]) {
      const r = await callPlugin(w.c, call, cf);
      expect([r.code, r.stdout]).toEqual([0, '']);
    }
    expect((await callPlugin(w.c, { command: 'DEL', containerId: c.id, ifname: 'eth0' }, conf(uniq('none'), '10.96.0.0/24'))).code).toBe(0);
    await w.c.settled();
    expect((await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname)).not.toContain(host);
    expect(await w.c.store.view((t) => ({ sandboxes: t.sandboxes().length, endpoints: t.endpoints().length }))).toEqual({ sandboxes: 0, endpoints: 0 });
    await (await w.c.network(net)).delete();
  });

  test('CHECK passes after ADD, and lists the differences once the kernel no longer matches; without prevResult it is code 7', async () => {
    const net = uniq('cn');
    const c = await container('c');
    const cf = conf(net, '10.97.0.0/24');
    const at = { containerId: c.id, netns: c.path, ifname: 'eth0' };
    const add = await callPlugin(w.c, { command: 'ADD', ...at }, cf);
    expect((await callPlugin(w.c, { command: 'CHECK', ...at }, { ...cf, prevResult: add.json })).code).toBe(0);
    await ip(c.ns.name!, 'addr', 'flush', 'dev', 'eth0');
    const bad = await callPlugin(w.c, { command: 'CHECK', ...at }, { ...cf, prevResult: add.json });
    expect(bad.code).toBe(1);
    expect(bad.json.code).toBe(106);
    expect(bad.json.details).toContain('lacks address 10.97.0.2/24');
    expect((await callPlugin(w.c, { command: 'CHECK', ...at }, cf)).json.code).toBe(7);
    expect((await callPlugin(w.c, { command: 'CHECK', ...at, containerId: 'unknown' }, { ...cf, prevResult: add.json })).json.code).toBe(3);
    await callPlugin(w.c, { command: 'DEL', ...at }, cf);
    await w.c.settled();
    await c.ns.delete();
    await (await w.c.network(net)).delete();
  });

  test('STATUS: ready, 51 once the bridge is gone, 50 when the store cannot be opened', async () => {
    const net = uniq('sn');
    const cf = { ...conf(net, '10.98.0.0/24'), cniVersion: '1.1.0' };
    expect((await callPlugin(w.c, { command: 'STATUS' }, cf)).code).toBe(0); // no network yet: the first ADD makes it
    const c = await container('s');
    await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, cf);
    expect((await callPlugin(w.c, { command: 'STATUS' }, cf)).code).toBe(0);
    const bridge = (await (await w.c.network(net)).info()).bridge!;
    await ip(w.host.name!, 'link', 'del', bridge);
    const r = await callPlugin(w.c, { command: 'STATUS' }, cf);
    expect([r.code, r.json.code]).toEqual([1, 51]);
    expect(r.json.details).toContain(`bridge ${bridge}`);
    const { runPlugin } = await import('../src/cni/plugin/plugin.js');
    const down = await runPlugin('nsnet', { CNI_COMMAND: 'STATUS' }, Buffer.from(JSON.stringify(cf)), async () => {
      throw new Error('state store /nowhere: unable to open database file');
    });
    expect(JSON.parse(down.stdout).code).toBe(50);
    await callPlugin(w.c, { command: 'DEL', containerId: c.id, netns: c.path, ifname: 'eth0' }, cf);
    await w.c.settled();
    await c.ns.delete();
    await w.c.reconcile(); // the bridge comes back, so the network can go
    await (await w.c.network(net)).delete();
  });

  test('GC removes exactly the attachments of its network that the list does not name: not the listed ones, not another network\'s, not a sandbox nsnet made for anyone else', async () => {
    const [net, other] = [uniq('gn'), uniq('gn')];
    const cf = { ...conf(net, '10.99.0.0/24'), cniVersion: '1.1.0' };
    const cfOther = { ...conf(other, '10.100.0.0/24'), cniVersion: '1.1.0' };
    const cs = await Promise.all([container('g'), container('g'), container('g')]);
    for (const c of cs) expect((await callPlugin(w.c, { command: 'ADD', containerId: c.id, netns: c.path, ifname: 'eth0' }, cf)).code).toBe(0);
    expect((await callPlugin(w.c, { command: 'ADD', containerId: cs[2]!.id, netns: cs[2]!.path, ifname: 'net1' }, cfOther)).code).toBe(0);
    const mine = await w.c.createSandbox(uniq('gsb'), { networks: [net] }); // not a CNI attachment
    const valid = [{ containerID: cs[0]!.id, ifname: 'eth0' }];
    expect((await callPlugin(w.c, { command: 'GC' }, { ...cf, 'cni.dev/valid-attachments': valid })).code).toBe(0);
    const left = async () => (await w.c.store.view((t) => t.sandboxes().map((s) => `${s.name}:${t.endpoints({ sandboxId: s.id }).map((e) => e.ifname).join(',')}`))).sort();
    expect(await left()).toEqual([`${sandboxName(cs[0]!.id)}:eth0`, `${sandboxName(cs[2]!.id)}:net1`, `${mine.name}:eth0`].sort());
    await w.c.settled();
    expect((await ipj<any[]>(cs[1]!.ns.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    // The draft's key is taken too; an empty list removes every CNI attachment of the network.
    expect((await callPlugin(w.c, { command: 'GC' }, { ...cfOther, 'cni.dev/attachments': [] })).code).toBe(0);
    expect((await callPlugin(w.c, { command: 'GC' }, { ...cf, 'cni.dev/valid-attachments': [] })).code).toBe(0);
    expect(await left()).toEqual([`${mine.name}:eth0`]);
    await mine.delete();
    await w.c.settled();
    for (const c of cs) await c.ns.delete();
    for (const n of [net, other]) await (await w.c.network(n)).delete();
  });
});

describe('bad input', () => {
  test('at least 20 bad inputs are each answered with the spec\'s code, and nothing changes (kernel, nf_tables, store)', async () => {
    const net = uniq('bn');
    const c = await container('b');
    const good = conf(net, '10.101.0.0/24');
    const ok = { command: 'ADD' as const, containerId: c.id, netns: c.path, ifname: 'eth0' };
    // A network with an attachment exists already, so a bad call could disturb both.
    const other = await container('b');
    const published = { ...good, runtimeConfig: { portMappings: [{ hostPort: 18101, containerPort: 80 }] } };
    expect((await callPlugin(w.c, { ...ok, containerId: other.id, netns: other.path }, published)).code).toBe(0);
    const before = await settled(w, 'cb');
    const { runPlugin } = await import('../src/cni/plugin/plugin.js');
    const raw = async (env: Record<string, string>, stdin: string) => {
      const r = await runPlugin('nsnet', env, Buffer.from(stdin), async () => w.c);
      return { code: r.exit, json: JSON.parse(r.stdout) };
    };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: c.id, CNI_NETNS: c.path, CNI_IFNAME: 'eth0', CNI_PATH: REFERENCE };
    const without = (k: keyof typeof env) => Object.fromEntries(Object.entries(env).filter(([x]) => x !== k));
    const s = JSON.stringify(good);
    // Thunks, run one at a time: each must find the world as it was.
    const cases: [string, () => Promise<{ code: number; json: any }>, number][] = [
      ['no CNI_COMMAND', () => raw(without('CNI_COMMAND'), s), 4],
      ['unknown CNI_COMMAND', () => raw({ ...env, CNI_COMMAND: 'ATTACH' }, s), 4],
      ['no CNI_CONTAINERID', () => raw(without('CNI_CONTAINERID'), s), 4],
      ['a container id that starts with -', () => raw({ ...env, CNI_CONTAINERID: '-x' }, s), 4],
      ['no CNI_NETNS on ADD', () => raw(without('CNI_NETNS'), s), 4],
      ['a relative CNI_NETNS', () => raw({ ...env, CNI_NETNS: 'run/netns/x' }, s), 4],
      ['no CNI_IFNAME', () => raw(without('CNI_IFNAME'), s), 4],
      ['an interface name with a colon', () => raw({ ...env, CNI_IFNAME: 'eth0:1' }, s), 4],
      ['an interface name of 16 bytes', () => raw({ ...env, CNI_IFNAME: 'abcdefghijklmnop' }, s), 4],
      ['CNI_ARGS without =', () => raw({ ...env, CNI_ARGS: 'IP' }, s), 4],
      ['an unknown CNI_ARGS key without IgnoreUnknown', () => raw({ ...env, CNI_ARGS: 'K8S_POD_NAME=x' }, s), 4],
      ['two IPv4 addresses asked for (CNI_ARGS and runtimeConfig)', () => raw({ ...env, CNI_ARGS: 'IP=10.101.0.7' }, JSON.stringify({ ...good, capabilities: { ips: true }, runtimeConfig: { ips: ['10.101.0.8'] } })), 7],
      ['empty stdin', () => raw(env, ''), 6],
      ['stdin that is not JSON', () => raw(env, '{"cniVersion": '), 6],
      ['stdin that is a JSON list', () => raw(env, '[1, 2]'), 6],
      ['no cniVersion', () => callPlugin(w.c, ok, { ...good, cniVersion: undefined }), 7],
      ['a cniVersion that is not a version', () => callPlugin(w.c, ok, { ...good, cniVersion: 'one' }), 6],
      ['cniVersion 0.2.0 (no interfaces in its result)', () => callPlugin(w.c, ok, { ...good, cniVersion: '0.2.0' }), 1],
      ['cniVersion 2.0.0', () => callPlugin(w.c, ok, { ...good, cniVersion: '2.0.0' }), 1],
      ['no name', () => callPlugin(w.c, ok, { ...good, name: undefined }), 7],
      ['a name with a slash', () => callPlugin(w.c, ok, { ...good, name: 'a/b' }), 7],
      ['another plugin\'s type', () => callPlugin(w.c, ok, { ...good, type: 'bridge' }), 7],
      ['an unknown field', () => callPlugin(w.c, ok, { ...good, bogus: 42 }), 2],
      ['an unknown capability', () => callPlugin(w.c, ok, { ...good, capabilities: { bandwidth: true } }), 2],
      ['an ipam type nsnet does not read', () => callPlugin(w.c, ok, { ...conf(net, '10.101.0.0/24'), subnet: undefined, ipam: { type: 'dhcp' } }), 2],
      ['mtu as a string', () => callPlugin(w.c, ok, { ...good, mtu: '1500' }), 7],
      ['ipMasq as a string', () => callPlugin(w.c, ok, { ...good, ipMasq: 'yes' }), 7],
      ['a subnet that is not one', () => callPlugin(w.c, ok, conf(uniq('bx'), '10.1.2.3/99')), 7],
      ['a subnet other than the network\'s', () => callPlugin(w.c, ok, conf(net, '10.102.0.0/24')), 7],
      ['a MAC that is not one', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { mac: 'zz:zz' } }), 7],
      ['a multicast MAC', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { mac: '01:00:5e:00:00:01' } }), 7],
      ['two IPv4 addresses', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { ips: ['10.101.0.5', '10.101.0.6'] } }), 7],
      ['an address outside the subnet', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { ips: ['10.200.0.5'] } }), 7],
      ['an address outside the subnet of a network this ADD would make', () => callPlugin(w.c, ok, { ...conf(uniq('bf'), '10.103.0.0/24'), runtimeConfig: { ips: ['10.200.0.5'] } }), 7],
      ['a port mapping without containerPort', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { portMappings: [{ hostPort: 8080 }] } }), 7],
      ['a port mapping of an unknown protocol', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'icmp' }] } }), 7],
      ['a port published twice in one call', () => callPlugin(w.c, ok, { ...good, runtimeConfig: { portMappings: [{ hostPort: 70, containerPort: 80 }, { hostPort: 70, containerPort: 81 }] } }), 7],
      ['a host port another attachment holds', () => callPlugin(w.c, ok, published), 102],
      ['a prevResult that does not decode', () => callPlugin(w.c, ok, { ...good, prevResult: { cniVersion: '1.0.0', ips: 'x' } }), 6],
      ['CHECK without prevResult', () => callPlugin(w.c, { ...ok, command: 'CHECK' }, good), 7],
      ['GC without cni.dev/valid-attachments', () => callPlugin(w.c, { command: 'GC' }, good), 7],
      ['ADD into a namespace that does not exist', () => callPlugin(w.c, { ...ok, netns: '/run/netns/no-such-ns' }, good), 3],
      ['ADD twice for one attachment', () => callPlugin(w.c, { ...ok, containerId: other.id, netns: other.path }, published), 101],
    ];
    for (const [what, call, code] of cases) {
      const r = await call();
      expect(r.code, what).toBe(1);
      expect(r.json.code, `${what}: ${r.json.msg}`).toBe(code);
      expect(typeof r.json.msg, what).toBe('string');
      expect(r.json.cniVersion, what).toMatch(/^\d+\.\d+\.\d+$/);
    }
    expect(cases.length).toBeGreaterThanOrEqual(20);
    expect((await callPlugin(w.c, ok, { ...good, bogus: 42 })).json.msg).toContain('bogus: 42');
    expect(await settled(w, 'cb')).toEqual(before);
    await callPlugin(w.c, { ...ok, command: 'DEL', containerId: other.id, netns: other.path }, good);
    await w.c.settled();
    for (const x of [c, other]) await x.ns.delete();
    await (await w.c.network(net)).delete();
  });
});
