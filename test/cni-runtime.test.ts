// nsnet as a CNI runtime for the reference plugins (Debian's
// containernetworking-plugins), on the real kernel: each test's plugins run
// in a namespace playing the t.host, and what they made is read back with ip,
// iptables-save, host-local's files and libcni's cache.
import { readFile } from 'node:fs/promises';

import { describe, expect, test } from 'vitest';

import { CniError, Netns } from '../src/index.js';
import { bridgeList, cniHost, FIXTURES, hostLocalLeases, inContainer, iptablesNat, readCacheFile, REFERENCE } from './cni-runtime-helpers.js';
import { fetchTcp, ip, ipj, nsExec, uniq } from './helpers.js';

const t = cniHost('c', [REFERENCE, FIXTURES]);

async function serveOnce(ns: Netns, port: number, text: string) {
  const server = await ns.listenTcp(port, '0.0.0.0');
  server.on('connection', (c) => c.end(text));
  return server;
}

describe('bridge + host-local + portmap under nsnet\'s runtime', () => {
  test('ADD gives the namespace an address the host pings and a port reached through the host from outside; the cache is libcni\'s; DEL removes the veth, the lease, the port rules and the cache', async () => {
    const name = uniq('cn');
    const bridge = uniq('cb');
    const file = await t.conf.write(`10-${name}.conflist`, bridgeList(name, bridge, '10.121.0.0/24', '1.0.0', [{ type: 'portmap', capabilities: { portMappings: true } }]));
    const ctr = await Netns.create(uniq('cc'));
    const outside = await Netns.create(uniq('co'));
    const id = `ctr-${uniq('i')}`;
    const portMappings = [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }];
    try {
      const result = (await t.cni.add(name, { containerId: id, netns: ctr.path!, capabilityArgs: { portMappings } })) as any;
      expect(result.cniVersion).toBe('1.0.0');
      expect(result.ips).toEqual([{ address: '10.121.0.2/24', gateway: '10.121.0.1', interface: 2 }]);
      expect(result.interfaces[2]).toMatchObject({ name: 'eth0', sandbox: ctr.path });
      const [eth0] = await ipj<any[]>(ctr.name, 'addr', 'show', 'eth0');
      expect(eth0.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain('10.121.0.2/24');
      const hostVeth = result.interfaces[1].name as string;
      expect((await ipj<any[]>(t.host.name, 'link', 'show', hostVeth))[0].master).toBe(bridge);
      await nsExec(t.host.name!, 'ping', '-c', '1', '-W', '2', '10.121.0.2');

      // An outside machine reaches the mapped port on the host's address (portmap's DNAT in prerouting).
      await ip(null, 'link', 'add', 'up0', 'netns', t.host.name!, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name!);
      await ip(t.host.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'up0');
      await ip(t.host.name, 'link', 'set', 'up0', 'up');
      await ip(outside.name, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0');
      await ip(outside.name, 'link', 'set', 'eth0', 'up');
      const server = await serveOnce(ctr, 80, 'via portmap');
      try {
        expect(await fetchTcp(outside, 18080, '192.0.2.1')).toBe('via portmap');
        expect(await fetchTcp(t.host, 18080, '10.121.0.1')).toBe('via portmap');
      } finally {
        server.close();
      }
      expect(await iptablesNat(t.host.name!)).toContain(id);

      // The cache: libcni's fields in libcni's order, the configuration's bytes, the result with Go's sorted keys.
      const text = (await readCacheFile(name, id))!;
      const cached = JSON.parse(text);
      expect(Object.keys(cached)).toEqual(['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'capabilityArgs', 'result']);
      expect(cached).toMatchObject({ kind: 'cniCacheV1', containerId: id, ifName: 'eth0', networkName: name, netns: ctr.path, capabilityArgs: { portMappings } });
      expect(Buffer.from(cached.config, 'base64').equals(await readFile(file))).toBe(true);
      expect(Object.keys(cached.result)).toEqual(['cniVersion', 'dns', 'interfaces', 'ips', 'routes']);
      expect(cached.result.dns).toEqual({});
      expect(await t.cni.cachedResult(name, id)).toEqual(result);

      await t.cni.del(name, { containerId: id, netns: ctr.path! });
      expect((await ipj<any[]>(ctr.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
      expect((await ipj<any[]>(t.host.name, 'link', 'show')).map((l) => l.ifname)).not.toContain(hostVeth);
      expect(await hostLocalLeases(name)).toEqual([]);
      const nat = await iptablesNat(t.host.name!);
      expect(nat).not.toContain(id);
      expect(nat).not.toMatch(/CNI-DN-/);
      expect(await readCacheFile(name, id)).toBeNull();
      // DEL again, and DEL without the namespace: both succeed.
      await t.cni.del(name, { containerId: id, netns: ctr.path! });
      await t.cni.del(name, { containerId: id, netns: '' });
    } finally {
      await ctr.delete();
      await outside.delete();
    }
  });

  test('results at 0.3.1, 0.4.0 and 1.0.0 are each shaped as that version requires, and DEL of each works from its cache', async () => {
    for (const [i, version] of ['0.3.1', '0.4.0', '1.0.0'].entries()) {
      const name = uniq('cv');
      await t.conf.write(`${name}.conflist`, bridgeList(name, uniq('cb'), `10.122.${i}.0/24`, version));
      await inContainer(async (ctr) => {
        const r = (await t.cni.add(name, { containerId: 'v', netns: ctr.path! })) as any;
        expect(r.cniVersion).toBe(version);
        expect(r.ips[0]).toEqual(version === '1.0.0'
          ? { address: `10.122.${i}.2/24`, gateway: `10.122.${i}.1`, interface: 2 }
          : { version: '4', address: `10.122.${i}.2/24`, gateway: `10.122.${i}.1`, interface: 2 });
        expect(r.interfaces.map((x: any) => x.sandbox ?? null)).toEqual([null, null, ctr.path]);
        await t.cni.del(name, { containerId: 'v', netns: ctr.path! });
        expect(await hostLocalLeases(name)).toEqual([]);
      });
    }
  });

  test('CHECK passes on a fresh attachment and fails, naming the bridge plugin, once its address is gone', async () => {
    const name = uniq('ck');
    await t.conf.write(`${name}.conflist`, bridgeList(name, uniq('cb'), '10.123.0.0/24'));
    await inContainer(async (ctr) => {
      await t.cni.add(name, { containerId: 'chk', netns: ctr.path! });
      await t.cni.check(name, { containerId: 'chk', netns: ctr.path! });
      await ip(ctr.name, 'addr', 'flush', 'dev', 'eth0');
      const e = await t.cni.check(name, { containerId: 'chk', netns: ctr.path! }).catch((x) => x);
      expect(e).toBeInstanceOf(CniError);
      expect(e.plugin).toBe('bridge');
      expect(e.command).toBe('CHECK');
      await t.cni.del(name, { containerId: 'chk', netns: ctr.path! });
    });
  });

  test('validate finds every plugin and reads its VERSION; a version the reference plugins lack is refused, naming the plugin, with code 1', async () => {
    const name = uniq('cw');
    await t.conf.write(`${name}.conflist`, bridgeList(name, uniq('cb'), '10.124.0.0/24', '1.0.0', [{ type: 'portmap', capabilities: { portMappings: true } }]));
    expect(await t.cni.validate(name)).toEqual({ cniVersion: '1.0.0', capabilities: ['portMappings'] });
    expect((await t.cni.versionInfo('bridge')).supportedVersions).toContain('1.0.0');
    const newer = uniq('cw');
    await t.conf.write(`${newer}.conflist`, bridgeList(newer, uniq('cb'), '10.124.1.0/24', '1.1.0'));
    const e = await t.cni.validate(newer).catch((x) => x);
    expect(e).toBeInstanceOf(CniError);
    expect([e.cniCode, e.plugin]).toEqual([1, 'bridge']);
    // ADD says the same through the plugin itself, and leaves nothing.
    await inContainer(async (ctr) => {
      const a = await t.cni.add(newer, { containerId: 'new', netns: ctr.path! }).catch((x) => x);
      expect([a.cniCode, a.plugin, a.command]).toEqual([1, 'bridge', 'ADD']);
      expect(await readCacheFile(newer, 'new')).toBeNull();
      expect((await ipj<any[]>(ctr.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    });
  });

  test('an ADD that fails after the bridge plugin ran is undone: no veth, no lease, no cache; the error names the failing plugin and its code', async () => {
    const name = uniq('cf');
    await t.conf.write(`${name}.conflist`, bridgeList(name, uniq('cb'), '10.125.0.0/24', '1.0.0', [{ type: 'recorder', fail: { ADD: { code: 120, msg: 'refused' } } }]));
    await inContainer(async (ctr) => {
      const before = (await ipj<any[]>(t.host.name, 'link', 'show', 'type', 'veth')).length;
      const e = await t.cni.add(name, { containerId: 'undo', netns: ctr.path! }).catch((x) => x);
      expect([e.constructor, e.cniCode, e.plugin, e.msg]).toEqual([CniError, 120, 'recorder', 'refused']);
      expect(e.rollbackErrors).toBeUndefined();
      expect((await ipj<any[]>(ctr.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
      expect((await ipj<any[]>(t.host.name, 'link', 'show', 'type', 'veth')).length).toBe(before);
      expect(await hostLocalLeases(name)).toEqual([]);
      expect(await readCacheFile(name, 'undo')).toBeNull();
    });
  });
});
