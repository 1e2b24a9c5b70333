// `nsnet network create -d routed|macvlan` as a user types it, in a namespace
// of this file's own that plays the host: the networks are made, `run` puts
// commands on them, traffic flows, ports are refused where a network cannot
// publish them, and `network rm` leaves the host as it found it.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { cliWithStateDir, connectFrom, serve } from './cli-helpers.js';
import { ipj, uniq } from './helpers.js';

const { nsnet, host } = cliWithStateDir({ ownHost: true });
let lan: Netns;

beforeAll(async () => {
  // The host's LAN: a veth whose far end, in its own namespace, is the LAN's router and a machine.
  const h = await Netns.open(host()!.name);
  lan = await Netns.create(uniq('cdl'));
  await h.batch().addVeth({ name: 'lan0', up: true, peer: { name: 'eth0', netns: lan } }).commit();
  await lan.batch().setUp('eth0').addAddress('eth0', '192.168.89.1/24').commit();
  h.close();
});

afterAll(async () => {
  await lan?.delete();
});

const links = async () => (await ipj<any[]>(host()!.name, 'link', 'show')).map((l) => l.ifname).sort();

describe('network create -d', () => {
  test('routed: run gets a /32 and a default route through 169.254.1.1; two sandboxes reach each other; ls shows the driver; rm leaves the host as it was', async () => {
    const before = await links();
    const net = uniq('cdr');
    expect((await nsnet('network', 'create', '-d', 'routed', '--subnet', '10.97.0.0/24', net)).code).toBe(0);
    const [info] = JSON.parse((await nsnet('network', 'inspect', net)).stdout);
    expect(info).toMatchObject({ name: net, driver: 'routed' });
    expect((await nsnet('network', 'ls')).stdout).toMatch(new RegExp(`${net}\\s+routed`));
    const a = uniq('cda');
    const r = await nsnet('run', '--keep', '--net', net, '--name', a, '--ip', '10.97.0.10', '--', 'sh', '-c', 'ip -j addr show eth0; ip -j route show default');
    expect(r.code, r.stderr).toBe(0);
    const [addr, route] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(addr[0].addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual(['10.97.0.10/32']);
    expect(route).toMatchObject([{ gateway: '169.254.1.1', dev: 'eth0' }]);
    const stop = await serve(a, 7000);
    try {
      const b = uniq('cdb');
      expect((await nsnet('run', '--keep', '--net', net, '--name', b, '--', 'true')).code).toBe(0);
      expect(await connectFrom(`/run/netns/${b}`, 7000, '10.97.0.10')).toBe(`ok ${a}`);
      expect((await nsnet('sandbox', 'rm', b)).code).toBe(0);
    } finally {
      stop();
    }
    expect((await nsnet('sandbox', 'rm', a)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
    await expect.poll(links, { timeout: 10_000 }).toEqual(before);
  });

  test('macvlan: -o parent makes the sandbox a macvlan of it, on the LAN with its own address; -p is refused saying why', async () => {
    const net = uniq('cdm');
    const c = await nsnet('network', 'create', '-d', 'macvlan', '--subnet', '192.168.89.0/24', '--gateway', '192.168.89.1', '--ip-range', '192.168.89.128/25', '-o', 'parent=lan0', net);
    expect(c.code, c.stderr).toBe(0);
    const r = await nsnet('run', '--net', net, '--', 'sh', '-c', 'ip -d -j link show eth0; ping -c1 -W2 192.168.89.1 >/dev/null && echo reached');
    expect(r.code, r.stderr).toBe(0);
    const [link] = JSON.parse(r.stdout.split('\n')[0]!);
    expect(link.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
    expect(r.stdout).toContain('reached');
    const p = await nsnet('run', '--net', net, '-p', '8080:80', '--', 'true');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/cannot publish ports: a macvlan sandbox has an address of its own on the parent's LAN/);
    const noParent = await nsnet('network', 'create', '-d', 'macvlan', '--subnet', '192.168.90.0/24', uniq('cdn'));
    expect(noParent.code).toBe(1);
    expect(noParent.stderr).toMatch(/-o parent=<interface>/);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });
});
