// Sandboxes in a namespace nsnet did not make (a CNI runtime's): joined by
// path, never deleted, given no files; their interfaces go on leave, in the
// background unless asked to wait; reconcile drops them when the path is
// gone or names another namespace.
import { existsSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
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
    expect(report.interfacesRemoved).toEqual([host]);
    old.close();
    await again.delete();
    await net.delete();
  });
});
