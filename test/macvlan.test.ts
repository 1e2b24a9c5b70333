// The macvlan driver with real traffic: a namespace plays the host, another
// plays the LAN on the far end of the host's interface (the parent), with a
// machine and the LAN's router there. Sandboxes are macvlans of the parent,
// on the LAN with their own addresses: no NAT, no published ports. `ip -j`
// is the oracle for what exists, `nft -j` for what nsnet left alone.
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createSandbox, Netns, NsnetError, ValidationError, type Sandbox } from '../src/index.js';
import { settled, snapshot, world, type World } from './cnm-helpers.js';
import { attempt, fetchTcp, ip, ipj, serve, uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

let w: World;
let lan: Netns;
const PARENT = 'lan0';
const ROUTER = '192.168.77.1'; // the LAN's router, the network's gateway
const MACHINE = '192.168.77.10'; // a machine on the LAN
const HOST = '192.168.77.2'; // the host's own address on the LAN, on the parent

const addrOf = async (sb: Sandbox, family: 4 | 6 = 4) =>
  (await sb.info()).endpoints[0]!.addresses.find((a) => a.includes(':') === (family === 6))!.split('/')[0]!;

beforeAll(async () => {
  w = await world('mv');
  lan = await Netns.create(uniq('mvl'));
  await w.host.batch().addVeth({ name: PARENT, up: true, peer: { name: 'eth0', netns: lan } }).addAddress(PARENT, `${HOST}/24`).commit();
  await lan.batch().setUp('eth0').addAddress('eth0', `${ROUTER}/24`).addAddress('eth0', `${MACHINE}/24`).addAddress('eth0', 'fd77::10/64', { nodad: true }).commit();
});

afterAll(async () => {
  await lan?.delete();
  await w?.cleanup();
});

describe('macvlan', () => {
  test('two sandboxes reach each other and a LAN machine with their own addresses (no NAT), over IPv4 and IPv6; the LAN reaches them', async () => {
    const net = await w.c.createNetwork(uniq('mvn'), {
      driver: 'macvlan',
      subnets: [{ subnet: '192.168.77.0/24', gateway: ROUTER, ipRange: '192.168.77.128/25' }, { subnet: 'fd77::/64', gateway: 'fd77::1' }],
      options: { parent: PARENT, macvlan_mode: 'bridge' },
    });
    const machine = await serve(lan, 0, '::', 'machine');
    const port = (machine.server.address() as AddressInfo).port;
    try {
      const a = await createSandbox(w.c, { name: uniq('mva'), mode: { network: net.name } });
      const b = await createSandbox(w.c, { name: uniq('mvb'), mode: { network: net.name } });
      const [a4, b4, a6] = [await addrOf(a), await addrOf(b), await addrOf(a, 6)];
      expect(a4).toMatch(/^192\.168\.77\.(1[2-9][0-9]|2[0-5][0-9])$/); // from the range, never the router
      // The interface is a macvlan of the parent, in bridge mode, inside the sandbox.
      const [link] = await ipj<any[]>(a.record.name, '-d', 'link', 'show', 'eth0');
      expect(link.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
      expect(link.address).toBe(`02:42:${a4.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`);
      expect((await ipj<any[]>(a.record.name, 'route', 'show', 'default'))[0]).toMatchObject({ gateway: ROUTER, dev: 'eth0' });

      // The LAN machine sees each sandbox's own address: nothing translated it.
      expect(await fetchTcp(await a.netns(), port, MACHINE)).toBe('machine');
      expect(machine.seen.at(-1)).toMatch(new RegExp(`(::ffff:)?${a4.replace(/\./g, '\\.')}$`));
      expect(await fetchTcp(await a.netns(), port, 'fd77::10')).toBe('machine');
      expect(machine.seen.at(-1)).toBe(a6);
      // Sandbox to sandbox, switched by the macvlan without leaving the host.
      const onB = await serve(await b.netns(), 0, '::', 'b');
      const bPort = (onB.server.address() as AddressInfo).port;
      expect(await fetchTcp(await a.netns(), bPort, b4)).toBe('b');
      expect(onB.seen.at(-1)).toMatch(new RegExp(`${a4.replace(/\./g, '\\.')}$`));
      expect(await fetchTcp(await a.netns(), bPort, await addrOf(b, 6))).toBe('b');
      // From the LAN, straight to the sandbox: no port was published.
      expect(await fetchTcp(lan, bPort, b4)).toBe('b');
      onB.server.close();

      // No firewall work: nsnet's table was never made.
      expect((await nftj(w.host.name!)).filter((o) => o.table?.name === 'nsnet')).toEqual([]);
      await a.delete();
      await b.delete();
    } finally {
      machine.server.close();
      await net.delete({ force: true });
    }
  });

  test('the host cannot reach its macvlan sandboxes through the parent; nsnet.host_shim gives it its own macvlan and a route to each', async () => {
    // Addresses the LAN's own machines use (the host's too) stay out of IPAM: a range of the LAN's subnet.
    const subnets = [{ subnet: '192.168.77.0/24', gateway: ROUTER, ipRange: '192.168.77.128/25' }];
    const plain = await w.c.createNetwork(uniq('mvp'), { driver: 'macvlan', subnets, options: { parent: PARENT } });
    const a = await createSandbox(w.c, { name: uniq('mvh'), mode: { network: plain.name } }).catch(async (e) => {
      await plain.delete();
      throw e;
    });
    const srv = await serve(await a.netns(), 0, '0.0.0.0', 'a');
    const port = (srv.server.address() as AddressInfo).port;
    // The limitation itself: the parent's frames to a child go out on the wire, and never come back.
    expect(await attempt(w.host, port, await addrOf(a))).toBe('timeout');
    srv.server.close();
    await a.delete();
    await plain.delete();

    const SHIM = '192.168.77.250';
    const net = await w.c.createNetwork(uniq('mvs'), {
      driver: 'macvlan',
      subnets,
      options: { parent: PARENT, 'nsnet.host_shim': SHIM },
    });
    const shim = `nsmv-${net.id.slice(0, 10)}`;
    try {
      const [l] = await ipj<any[]>(w.host.name, '-d', 'addr', 'show', shim);
      expect(l.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
      expect(l.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual([`${SHIM}/32`]);
      // The shim's address is kept out of IPAM like the gateway.
      const subnet = (await net.info()).subnets[0]!;
      expect(subnet.excluded).toContain(`${SHIM}/32`);
      const b = await createSandbox(w.c, { name: uniq('mvt'), mode: { network: net.name } });
      const b4 = await addrOf(b);
      expect(b4).not.toBe(SHIM);
      expect(await ipj<any[]>(w.host.name, 'route', 'show', `${b4}/32`)).toMatchObject([{ dst: b4, dev: shim }]);
      const onB = await serve(await b.netns(), 0, '0.0.0.0', 'b');
      const bPort = (onB.server.address() as AddressInfo).port;
      expect(await fetchTcp(w.host, bPort, b4)).toBe('b');
      expect(onB.seen.at(-1)).toBe(SHIM);
      onB.server.close();
      // The sandbox's route goes with it; the shim with its network.
      await b.delete();
      expect(await ipj<any[]>(w.host.name, 'route', 'show', `${b4}/32`)).toEqual([]);
    } finally {
      await net.delete({ force: true });
    }
    expect(await ipj<any[]>(w.host.name, 'link', 'show')).not.toContainEqual(expect.objectContaining({ ifname: shim }));
  });

  test('reconcile keeps the shim, makes it and its routes again when they vanish, and makes a deleted macvlan again', async () => {
    const SHIM = '192.168.77.251';
    const net = await w.c.createNetwork(uniq('mvc'), {
      driver: 'macvlan', subnets: [{ subnet: '192.168.77.0/24', gateway: ROUTER, ipRange: '192.168.77.128/25' }], options: { parent: PARENT, host_shim: SHIM },
    });
    const shim = `nsmv-${net.id.slice(0, 10)}`;
    try {
      const a = await createSandbox(w.c, { name: uniq('mvd'), mode: { network: net.name } });
      const a4 = await addrOf(a);
      const srv = await serve(await a.netns(), 0, '0.0.0.0', 'a');
      const port = (srv.server.address() as AddressInfo).port;
      // A whole network: nothing to do, and the shim (no endpoint's) is not taken for a leftover.
      let r = await w.c.reconcile();
      expect(r.interfacesRemoved).toEqual([]);
      expect(r.found).toEqual([]);
      // The shim deleted behind nsnet's back: made again, with the route to the sandbox.
      await ip(w.host.name, 'link', 'del', shim);
      r = await w.c.reconcile();
      expect(r.bridgesRestored).toEqual([shim]);
      expect(r.found.join('\n')).toMatch(new RegExp(`route to ${a4}/32 through ${shim}`));
      expect(await fetchTcp(w.host, port, a4)).toBe('a');
      // The sandbox's macvlan deleted inside it: made again, address and route with it.
      srv.server.close();
      await ip(a.record.name, 'link', 'del', 'eth0');
      r = await w.c.reconcile();
      expect(r.found.join('\n')).toMatch(/eth0 made again/);
      expect((await ipj<any[]>(a.record.name, 'route', 'show', 'default'))[0]).toMatchObject({ gateway: ROUTER, dev: 'eth0' });
      const again = await serve(await a.netns(), 0, '0.0.0.0', 'a');
      expect(await fetchTcp(lan, (again.server.address() as AddressInfo).port, a4)).toBe('a');
      again.server.close();
      await a.delete();
    } finally {
      await net.delete({ force: true });
    }
  });

  test('ports are refused saying why, and nothing changes', async () => {
    const net = await w.c.createNetwork(uniq('mvq'), { driver: 'macvlan', subnets: ['192.168.77.0/24'], options: { parent: PARENT } });
    try {
      const prefix = uniq('mvr');
      const before = await settled(w, prefix);
      const err = await createSandbox(w.c, { name: `${prefix}x`, mode: { network: net.name }, ports: ['8080:80'] }).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(/cannot publish ports: a macvlan sandbox has an address of its own on the parent's LAN/);
      expect(await snapshot(w, prefix)).toEqual(before);
    } finally {
      await net.delete();
    }
  });

  test('bad options are refused before anything is stored or made', async () => {
    const prefix = uniq('mvz');
    const before = await settled(w, prefix);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ subnets: ['192.168.78.0/24'] }, /needs the host interface on the LAN: -o parent/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, macvlan_mode: 'source' } }, /must be one of bridge, private, vepa, passthru/],
      [{ options: { parent: PARENT } }, /takes the subnets of the LAN it joins/],
      [{ subnets: ['192.168.78.0/24'], ipv6: true, options: { parent: PARENT } }, /an IPv6 one too/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, 'nsnet.host_shim': 'true' } }, /the address\(es\) the host takes on the LAN/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, 'nsnet.host_shim': '10.0.0.1' } }, /in none of the network's subnets/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, 'nsnet.host_shim': '192.168.78.1' } }, /gateway address/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, macvlan_mode: 'private', 'nsnet.host_shim': '192.168.78.9' } }, /needs macvlan_mode=bridge/],
      [{ subnets: ['192.168.78.0/24'], options: { parent: PARENT, bridge: 'x' } }, /is not a macvlan option/],
    ];
    for (const [o, msg] of bad) {
      const err = await w.c.createNetwork(`${prefix}n`, { driver: 'macvlan', ...o }).catch((e) => e);
      expect(err, JSON.stringify(o)).toBeInstanceOf(ValidationError);
      expect(err.message, JSON.stringify(o)).toMatch(msg);
    }
    // A parent the host does not have: refused by the kernel step, and undone.
    const err = await w.c.createNetwork(`${prefix}n`, { driver: 'macvlan', subnets: ['192.168.78.0/24'], options: { parent: 'nosuch0' } }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.message).toMatch(/parent nosuch0 does not exist/);
    expect(await snapshot(w, prefix)).toEqual(before);
  });
});
