// Global networks on VXLAN across simulated hosts in one process (each its
// own namespace, state dir and Controller, one etcd): what the kernel has
// is checked with `ip -j` and `bridge -j fdb`, reachability with real TCP.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { NsnetError } from '../src/index.js';
import { eventually } from './cnm-helpers.js';
import { attempt, ipj, serve, uniq } from './helpers.js';
import { cluster, programmed, type Cluster } from './overlay-helpers.js';

let k: Cluster;
beforeAll(async () => {
  k = await cluster(2);
});
afterAll(async () => {
  await k?.close();
});

describe('overlay', () => {
  test('sandboxes on two hosts reach each other over TCP through VXLAN (port 4789, learning off), each host holding the other\'s MAC -> VTEP and IP -> MAC', async () => {
    const [a, b] = k.hosts as [typeof k.hosts[0], typeof k.hosts[0]];
    const name = uniq('ov');
    const net = await a.c.createNetwork(name, { driver: 'overlay', subnets: ['10.50.0.0/24'] });
    expect(net.record.scope).toBe('global');
    // B sees it at once, by name.
    await eventually(async () => expect((await b.c.network(name)).id).toBe(net.id));
    const sa = await a.c.createSandbox(uniq('sa'), { networks: [name] });
    const sb = await b.c.createSandbox(uniq('sb'), { networks: [name] });
    const ia = (await sa.info()).endpoints[0]!;
    const ib = (await sb.info()).endpoints[0]!;
    expect(ia.addresses[0]).not.toBe(ib.addresses[0]);
    const st = net.record.driverState as { vxlan: string; bridge: string; vni: number };
    for (const h of [a, b]) {
      const [l] = await ipj<any[]>(h.ns.path!, '-d', 'link', 'show', st.vxlan);
      expect(l.linkinfo.info_data).toMatchObject({ id: st.vni, port: 4789, learning: false, proxy: true, local: h.address });
      expect(l.mtu).toBe(1450);
      expect(l.master).toBe(st.bridge);
    }
    await eventually(async () => {
      const pa = await programmed(a.ns, st.vxlan);
      expect(pa.fdb.get(ib.mac!)).toBe(b.address);
      expect(pa.neigh.get(ib.addresses[0]!.split('/')[0]!)).toBe(ib.mac);
      const pb = await programmed(b.ns, st.vxlan);
      expect(pb.fdb.get(ia.mac!)).toBe(a.address);
      expect(pb.neigh.get(ia.addresses[0]!.split('/')[0]!)).toBe(ia.mac);
    });
    const ipB = ib.addresses[0]!.split('/')[0]!;
    const srv = await serve(await sb.netns(), 8080, ipB, 'b');
    expect(await attempt(await sa.netns(), 8080, ipB, 3000)).toBe('connected');
    srv.server.close();
    // No default route through an overlay network: it has no gateway.
    expect((await ipj<any[]>(sa.netnsPath, 'route', 'show', 'default')).length).toBe(0);

    // B's sandbox goes: A's entries for it go; B's devices go with its last sandbox.
    await sb.delete();
    await eventually(async () => {
      const pa = await programmed(a.ns, st.vxlan);
      expect(pa.fdb.has(ib.mac!)).toBe(false);
      expect(pa.neigh.has(ipB)).toBe(false);
      expect(await b.ns.links.find(st.vxlan)).toBeNull();
    });
    await sa.delete();
    await net.delete();
    await eventually(async () => expect(await b.c.network(name).catch((e: NsnetError) => e.code)).toBe('ERR_NSNET_NOT_FOUND'));
  });
});
