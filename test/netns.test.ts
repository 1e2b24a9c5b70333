import { readdir } from 'node:fs/promises';

import { describe, expect, test } from 'vitest';

import { Netns, NsnetError, ValidationError } from '../src/index.js';
import { expectTrip } from '../src/netlink/netns.js';
import { ipj, nsExec, testHost, uniq } from './helpers.js';

describe('Netns', () => {
  test('create mounts a named namespace that ip netns sees, with only lo, up', async () => {
    const name = uniq('ns');
    const ns = await Netns.create(name);
    try {
      expect((await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name)).toContain(name);
      const links = await ipj<any[]>(name, 'link', 'show');
      expect(links.map((l) => l.ifname)).toEqual(['lo']);
      expect(links[0].flags).toContain('UP');
      expect(await Netns.list()).toContain(name);
      const mine = await ns.links.list();
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ ifindex: 1, name: 'lo', up: true, kind: '' });
    } finally {
      await ns.delete();
    }
    expect(await Netns.list()).not.toContain(name);
    expect(await readdir('/run/netns')).not.toContain(name);
  });

  test('a trip announced ahead (expectTrip) and then sent, sent late, never sent, or announced many times at once still runs: the woken thread takes the job or goes back to sleep', async () => {
    const names: string[] = [];
    const made = async () => {
      const name = uniq('pw');
      names.push(name);
      return Netns.create(name);
    };
    try {
      expectTrip();
      await made();
      expectTrip();
      await new Promise((r) => setTimeout(r, 5)); // past the thread's window: it sleeps again
      await made();
      for (let i = 0; i < 50; i++) expectTrip();
      await Promise.all(Array.from({ length: 8 }, made));
      expectTrip();
      expect((await (await Netns.host()).links.get(1)).name).toBe('lo');
      expect((await Netns.list()).filter((n) => names.includes(n)).sort()).toEqual([...names].sort());
    } finally {
      for (const n of names) await Netns.delete(n).catch(() => {});
    }
  });

  test('open by name, path and pid reach the same namespace (same id)', async () => {
    const name = uniq('ns');
    const ns = await Netns.create(name);
    try {
      const byName = await Netns.open(name);
      const byPath = await Netns.openPath(`/run/netns/${name}`);
      expect(byName.id).toBe(ns.id);
      expect(byPath.id).toBe(ns.id);
      const self = await Netns.openPid(process.pid);
      const host = await Netns.host();
      expect(self.id).toBe(host.id);
      expect(host.id).not.toBe(ns.id);
      byName.close();
      byPath.close();
      self.close();
      // A change through one handle is seen through the other.
      await ns.links.addBridge({ name: 'br0' });
      const again = await Netns.open(name);
      expect((await again.links.get('br0')).kind).toBe('bridge');
      again.close();
    } finally {
      await ns.delete();
    }
  });

  test('an anonymous namespace has lo up and is not mounted', async () => {
    const before = await Netns.list();
    const ns = await Netns.create();
    expect(ns.name).toBeNull();
    expect((await ns.links.get('lo')).up).toBe(true);
    expect(await Netns.list()).toEqual(before);
    await ns.delete();
    expect(ns.closed).toBe(true);
  });

  test('creating a name that exists fails with EEXIST and leaves the first intact', async () => {
    const name = uniq('ns');
    const ns = await Netns.create(name);
    try {
      const err = await Netns.create(name).catch((e) => e);
      expect(err).toBeInstanceOf(NsnetError);
      expect(err.code).toBe('EEXIST');
      expect(err.message).toContain(name);
      expect((await ns.links.get('lo')).up).toBe(true);
    } finally {
      await ns.delete();
    }
  });

  test('names that could escape the run directory are refused before anything is created', async () => {
    const before = await readdir('/run/netns');
    for (const bad of ['', '.', '..', 'a/b', '../etc', 'x\0y', 'n'.repeat(256)]) {
      const err = await Netns.create(bad).catch((e) => e);
      expect(err, bad).toBeInstanceOf(ValidationError);
      expect(err.code).toBe('ERR_NSNET_INVALID');
    }
    expect(await readdir('/run/netns')).toEqual(before);
  });

  test('opening a missing namespace is ENOENT naming it', async () => {
    const err = await Netns.open('no-such-ns').catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain('no-such-ns');
  });

  test('delete removes the mount; the kernel removes its devices once released', async () => {
    const name = uniq('ns');
    const host = await Netns.create(uniq('th'));
    const ns = await Netns.create(name);
    await host.links.addVeth({ name: 'vd0', peer: { name: 'eth0', netns: ns } });
    expect((await host.links.get('vd0')).kind).toBe('veth');
    await ns.delete();
    // Destruction is asynchronous: poll the host side until the veth is gone.
    for (let i = 0; i < 200 && (await host.links.find('vd0')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await host.links.find('vd0')).toBeNull();
    await host.delete();
  });

  test('await using on an opened namespace closes the handle at scope exit and leaves the namespace mounted', async () => {
    const name = uniq('ns');
    const ns = await Netns.create(name);
    try {
      let opened: Netns;
      {
        await using o = await Netns.open(name);
        opened = o;
        expect(o.id).toBe(ns.id);
      }
      expect(opened.closed).toBe(true);
      expect(await Netns.list()).toContain(name);
      expect((await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name)).toContain(name);
      expect((await ns.links.get('lo')).up).toBe(true);
    } finally {
      await ns.delete();
    }
  });

  test('await using on a created namespace deletes it at scope exit', async () => {
    const name = uniq('ns');
    let created: Netns;
    {
      await using ns = await Netns.create(name);
      created = ns;
      expect(await Netns.list()).toContain(name);
    }
    expect(created.closed).toBe(true);
    expect(await Netns.list()).not.toContain(name);
  });

  test('delete() and await using leave the shared host handle open: Netns.host() keeps working', async () => {
    const host = await Netns.host();
    await host.delete();
    expect(host.closed).toBe(false);
    {
      await using h = await Netns.host();
      expect(h).toBe(host);
    }
    expect(host.closed).toBe(false);
    expect(await Netns.host()).toBe(host);
    expect((await host.links.get('lo')).ifindex).toBe(1);
  });

  test('a handle opened by path on /proc/self/ns/net is the caller\'s own: close() closes it, the shared one stays open', async () => {
    const host = await Netns.host();
    const mine = await Netns.openPath('/proc/self/ns/net');
    expect(mine).not.toBe(host);
    expect(mine.id).toBe(host.id);
    mine.close();
    expect(mine.closed).toBe(true);
    expect(host.closed).toBe(false);
  });

  test('sysctls are per namespace: ip_forward set in one is not seen in another', async () => {
    const a = await Netns.create(uniq('ns'));
    const b = await Netns.create(uniq('ns'));
    try {
      expect(await a.sysctl('net.ipv4.ip_forward')).toBe('0');
      await a.setSysctl('net.ipv4.ip_forward', 1);
      expect(await a.sysctl('net.ipv4.ip_forward')).toBe('1');
      expect(await b.sysctl('net.ipv4.ip_forward')).toBe('0');
      expect((await nsExec(a.name!, 'cat', '/proc/sys/net/ipv4/ip_forward')).stdout.trim()).toBe('1');
      expect((await nsExec(b.name!, 'cat', '/proc/sys/net/ipv4/ip_forward')).stdout.trim()).toBe('0');
      await a.setSysctl('net/ipv6/conf/all/forwarding', '1');
      expect(await a.sysctl('net.ipv6.conf.all.forwarding')).toBe('1');
      const err = await a.sysctl('kernel.hostname').catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const err2 = await a.sysctl('net/../../kernel/hostname').catch((e) => e);
      expect(err2).toBeInstanceOf(ValidationError);
    } finally {
      await a.delete();
      await b.delete();
    }
  });

  test('create with a follow-up batch: namespace, veth into it and its config in one trip', async () => {
    const host = await testHost('c');
    await host.links.addBridge({ name: 'br0', up: true });
    const name = uniq('ns');
    const ns = await Netns.create(name, {
      then: (sb) =>
        host
          .batch()
          .addVeth({ name: 'vc0', master: 'br0', up: true, peer: { name: 'eth0', netns: sb } })
          .in(sb)
          .setUp('eth0')
          .addAddress('eth0', '10.93.0.2/24')
          .addRoute({ dst: 'default', gateway: '10.93.0.1' }),
    });
    expect((await ipj<any[]>(name, 'route', 'show', 'default'))[0]).toMatchObject({ gateway: '10.93.0.1', dev: 'eth0' });
    expect((await ipj<any[]>(host.name, 'link', 'show', 'vc0'))[0].master).toBe('br0');
    // lo came up in the same batch.
    expect((await ipj<any[]>(name, 'link', 'show', 'lo'))[0].flags).toContain('UP');
    expect(ns.id).toMatch(/^\d+:\d+$/);
    await ns.delete();
    await host.delete();
  });

  test('create whose follow-up batch fails leaves nothing: no mount, no veth, and names the failing request', async () => {
    const host = await testHost('c');
    await host.links.addBridge({ name: 'br0', up: true });
    const name = uniq('ns');
    const names = async () => (await ipj<any[]>(host.name, 'link', 'show')).map((l) => l.ifname);
    const before = await names();
    const err = await Netns.create(name, {
      then: (sb) =>
        host
          .batch()
          .addVeth({ name: 'vf0', master: 'br0', up: true, peer: { name: 'eth0', netns: sb } })
          .in(sb)
          .addRoute({ dst: 'default', gateway: '203.0.113.1' }), // unreachable: fails
    }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err).toMatchObject({ code: 'ENETUNREACH', op: 'RTM_NEWROUTE' });
    expect(await Netns.list()).not.toContain(name);
    // The veth dies with the namespace (asynchronously).
    for (let i = 0; i < 200 && (await host.links.find('vf0')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await names()).toEqual(before);
    await host.delete();
  });

  test('a namespace handed to a create batch cannot be used before it exists', async () => {
    let early: Promise<unknown> | undefined;
    const ns = await Netns.create(undefined, {
      then: (sb) => {
        early = sb.links.list().then(() => 'listed', (e) => { throw e; });
        early.catch(() => {});
        return sb.batch().setUp('lo');
      },
    });
    await expect(early).rejects.toThrow(/not created yet/);
    await ns.delete();
  });

  test('a failed create reports the request that failed, not the lo-up nsnet added to the batch', async () => {
    const host = await testHost('c');
    const err = await Netns.create(uniq('ns'), {
      then: (sb) => host.batch().addAddress('nosuchdev0', '10.94.0.1/24').in(sb).setUp('lo'),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err).toMatchObject({ code: 'ENODEV', op: 'RTM_NEWADDR' });
    expect(err.message).toContain('nosuchdev0');
    await host.delete();
  });
});
