// Links through nsnet, checked against `ip -j link` as the oracle.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Netns, NsnetError, ValidationError } from '../src/index.js';
import { ip, ipj, testHost, uniq } from './helpers.js';

let host: Netns;
let sandbox: Netns;
beforeEach(async () => {
  host = await testHost();
  sandbox = await Netns.create(uniq('sb'));
});
afterEach(async () => {
  await sandbox.delete();
  await host.delete();
});

const oracle = async (ns: Netns, dev?: string) => {
  const all = await ipj<any[]>(ns.name, '-d', 'link', 'show', ...(dev ? ['dev', dev] : []));
  return dev ? all[0] : all;
};

describe('links', () => {
  test('an alias set after the create, in the same batch, is what `ip -j link` shows as ifalias, and Link.alias reads it; an empty one removes it', async () => {
    await host.batch().addBridge({ name: 'bra', up: true }).setLink('bra', { alias: 'nsnet 0123456789abcdef net1' }).commit();
    expect((await oracle(host, 'bra')).ifalias).toBe('nsnet 0123456789abcdef net1');
    expect((await host.links.get('bra')).alias).toBe('nsnet 0123456789abcdef net1');
    await host.links.set('bra', { alias: '' });
    expect((await oracle(host, 'bra')).ifalias).toBeUndefined();
    expect((await host.links.get('bra')).alias).toBeNull();
    expect(() => host.batch().setLink('bra', { alias: 'x'.repeat(256) })).toThrow(ValidationError);
  });

  test('a veth whose peer is created inside another namespace, enslaved and up, in one request', async () => {
    await host.links.addBridge({ name: 'br0', up: true });
    await host.links.addVeth({ name: 'veth0', master: 'br0', up: true, peer: { name: 'eth0', netns: sandbox } });
    const near = await host.links.get('veth0');
    const br = await host.links.get('br0');
    const far = await sandbox.links.get('eth0');
    const o = await oracle(host, 'veth0');
    expect(near).toMatchObject({ kind: 'veth', name: 'veth0', up: true, master: br.ifindex, mtu: o.mtu, mac: o.address });
    expect(o.master).toBe('br0');
    expect(o.linkinfo.info_kind).toBe('veth');
    expect(o.flags).toContain('UP');
    // The peer is in the sandbox (a link into another namespace), still down.
    expect(near.linkNetnsid).not.toBeNull();
    expect(near.link).toBe(far.ifindex);
    const of = await oracle(sandbox, 'eth0');
    expect(far).toMatchObject({ kind: 'veth', name: 'eth0', up: false, mac: of.address, mtu: of.mtu, ifindex: of.ifindex });
    expect(await host.links.find('eth0')).toBeNull();
  });

  test('list matches ip -j link: names, indexes, kinds, flags, mtu, mac, master', async () => {
    await host.links.addBridge({ name: 'br1', up: true, mtu: 1400 });
    await host.links.addVeth({ name: 'va', peer: { name: 'vb' }, master: 'br1' });
    // A new bridge loses its carrier (operstate, RUNNING) a moment after it
    // is made, later on a slow machine: read ours between two readings of
    // ip that agree, so both saw the same state.
    let mine: Awaited<ReturnType<typeof host.links.list>>;
    let theirs: any[];
    for (let tries = 0; ; tries++) {
      const before = JSON.stringify(await oracle(host));
      mine = await host.links.list();
      theirs = await oracle(host);
      if (JSON.stringify(theirs) === before || tries === 50) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(mine.map((l) => l.name)).toEqual(theirs.map((l: any) => l.ifname));
    for (const t of theirs) {
      const m = mine.find((l) => l.ifindex === t.ifindex)!;
      expect(m.name).toBe(t.ifname);
      expect(m.mtu).toBe(t.mtu);
      expect(m.mac).toBe(t.address);
      // ip hides RUNNING (showing NO-CARRIER for an up link without it) and
      // adds M-DOWN, both derived states; the rest must agree.
      expect(new Set(m.flags.filter((f) => f !== 'RUNNING'))).toEqual(new Set(t.flags.filter((f: string) => f !== 'M-DOWN' && f !== 'NO-CARRIER')));
      expect(m.kind).toBe(t.linkinfo?.info_kind ?? '');
      expect(m.operstate).toBe(t.operstate);
      expect(m.master ? mine.find((l) => l.ifindex === m.master)!.name : undefined).toBe(t.master);
    }
  });

  test('set: up/down, mtu, mac, rename, master/nomaster, each seen by ip', async () => {
    await host.links.addBridge({ name: 'brs' });
    await host.links.addVeth({ name: 'vs0', peer: { name: 'vs1' } });
    await host.links.setUp('vs0');
    expect((await oracle(host, 'vs0')).flags).toContain('UP');
    await host.links.setDown('vs0');
    expect((await oracle(host, 'vs0')).flags).not.toContain('UP');
    await host.links.setMtu('vs0', 1280);
    expect((await oracle(host, 'vs0')).mtu).toBe(1280);
    await host.links.setMac('vs0', '02:00:00:aa:bb:cc');
    expect((await oracle(host, 'vs0')).address).toBe('02:00:00:aa:bb:cc');
    await host.links.setMaster('vs0', 'brs');
    expect((await oracle(host, 'vs0')).master).toBe('brs');
    await host.links.setNomaster('vs0');
    expect((await oracle(host, 'vs0')).master).toBeUndefined();
    const idx = (await host.links.get('vs0')).ifindex;
    await host.links.rename('vs0', 'renamed0');
    expect((await oracle(host, 'renamed0')).ifindex).toBe(idx);
    expect(await host.links.find('vs0')).toBeNull();
    // By ifindex as well as by name.
    await host.links.set(idx, { up: true, mtu: 1300 });
    expect((await oracle(host, 'renamed0')).mtu).toBe(1300);
  });

  test('IPv6 address generation off before up: the link comes up with no link-local address, as ip -d reports', async () => {
    await host.links.addVeth({ name: 'va0', peer: { name: 'va1' } });
    await host.batch().setLink('va0', { addrGenMode: 'none' }).setUp('va0').setUp('va1').commit();
    expect((await oracle(host, 'va0')).inet6_addr_gen_mode).toBe('none');
    expect((await oracle(host, 'va1')).inet6_addr_gen_mode).toBe('eui64');
    const v6 = async (dev: string) => ((await ipj<any[]>(host.name, '-6', 'addr', 'show', 'dev', dev))[0]?.addr_info ?? []).map((a: any) => a.local);
    expect(await v6('va0')).toEqual([]);
    expect((await v6('va1')).some((a: string) => a.startsWith('fe80:'))).toBe(true);
    expect(() => host.batch().setLink('va0', { addrGenMode: 'bogus' as never })).toThrow(ValidationError);
  });

  test('move to another namespace, optionally renamed on the way', async () => {
    await host.links.addVeth({ name: 'vm0', peer: { name: 'vm1' } });
    await host.links.moveTo('vm1', sandbox, 'eth7');
    expect(await host.links.find('vm1')).toBeNull();
    expect((await oracle(sandbox, 'eth7')).linkinfo.info_kind).toBe('veth');
  });

  test('delete removes a veth and its peer', async () => {
    await host.links.addVeth({ name: 'vx0', peer: { name: 'eth0', netns: sandbox } });
    await host.links.delete('vx0');
    expect(await host.links.find('vx0')).toBeNull();
    expect((await oracle(sandbox)).map((l: any) => l.ifname)).toEqual(['lo']);
  });

  test('macvlan on a lower device, created straight into a namespace', async () => {
    await host.links.addVeth({ name: 'lower0', peer: { name: 'lower1' }, up: true });
    await host.links.addMacvlan({ name: 'mv0', link: 'lower0', mode: 'bridge', netns: sandbox });
    const o = await oracle(sandbox, 'mv0');
    expect(o.linkinfo.info_kind).toBe('macvlan');
    expect(o.linkinfo.info_data.mode).toBe('bridge');
    expect((await sandbox.links.get('mv0')).kind).toBe('macvlan');
  });

  test('vxlan with vni, remote, port and ttl', async () => {
    await host.links.addVxlan({ name: 'vxl0', vni: 4242, remote: '192.0.2.10', local: '192.0.2.1', port: 4789, ttl: 16, learning: false });
    const o = await oracle(host, 'vxl0');
    expect(o.linkinfo.info_kind).toBe('vxlan');
    expect(o.linkinfo.info_data).toMatchObject({ id: 4242, remote: '192.0.2.10', local: '192.0.2.1', port: 4789, ttl: 16, learning: false });
  });

  test('a second bridge with one name fails with EEXIST, naming the request and object', async () => {
    await host.links.addBridge({ name: 'brx' });
    const err = await host.links.addBridge({ name: 'brx' }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err).toMatchObject({ code: 'EEXIST', errno: 17, op: 'RTM_NEWLINK', object: "bridge 'brx'" });
    expect(err.message).toBe("RTM_NEWLINK bridge 'brx': File exists (EEXIST)");
  });

  test("kernel errors carry the extended ACK text", async () => {
    await host.links.addVeth({ name: 'va0', peer: { name: 'va1' } });
    await host.links.addVeth({ name: 'vc0', peer: { name: 'vc1' } });
    // A veth cannot be a master: the kernel explains why.
    const err = await host.links.setMaster('va0', 'vc0').catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('EOPNOTSUPP');
    const e3 = await host.links.addVxlan({ name: 'vxz', vni: 1, remote: '192.0.2.1', port: 4789 }).then(() =>
      host.links.addVxlan({ name: 'vxy', vni: 1, remote: '192.0.2.1', port: 4789 }),
    ).catch((e) => e);
    expect(e3).toBeInstanceOf(NsnetError);
    expect(e3.code).toBe('EEXIST');
    expect(e3.extack).toMatch(/VNI|vni/);
    expect(e3.message).toContain(e3.extack);
  });

  test('a missing device is ENODEV naming it, and nothing in the batch is sent', async () => {
    const before = await oracle(host);
    const err = await host
      .batch()
      .addBridge({ name: 'brn' })
      .addAddress('nosuchdev', '10.1.0.1/24')
      .commit()
      .catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('ENODEV');
    expect(err.message).toContain('nosuchdev');
    expect(await oracle(host)).toEqual(before);
  });

  test('bad input is refused before the kernel sees it, and nothing changes', async () => {
    const before = await oracle(host);
    const bad: [string, () => Promise<unknown>][] = [
      ['name too long', () => host.links.addBridge({ name: 'a'.repeat(16) })],
      ['empty name', () => host.links.addBridge({ name: '' })],
      ['slash', () => host.links.addBridge({ name: 'a/b' })],
      ['colon', () => host.links.addBridge({ name: 'a:b' })],
      ['space', () => host.links.addBridge({ name: 'a b' })],
      ['mtu too small', () => host.links.addBridge({ name: 'ok0', mtu: 10 })],
      ['mtu too big', () => host.links.addBridge({ name: 'ok0', mtu: 70000 })],
      ['mtu not integer', () => host.links.addBridge({ name: 'ok0', mtu: 1500.5 })],
      ['multicast mac', () => host.links.addBridge({ name: 'ok0', mac: '01:00:5e:00:00:01' })],
      ['bad mac', () => host.links.addBridge({ name: 'ok0', mac: 'zz' })],
      ['bad peer name', () => host.links.addVeth({ name: 'ok0', peer: { name: 'x'.repeat(20) } })],
      ['bad vni', () => host.links.addVxlan({ name: 'ok0', vni: 1 << 24 })],
      ['bad vxlan remote', () => host.links.addVxlan({ name: 'ok0', vni: 1, remote: '1.2.3' })],
      ['bad ifindex', () => host.links.setUp(-1)],
    ];
    for (const [what, f] of bad) {
      const err = await f().catch((e) => e);
      expect(err, what).toBeInstanceOf(ValidationError);
    }
    // A batch with one bad op throws while it is being built: nothing is sent.
    expect(() => host.batch().addBridge({ name: 'fine0' }).addBridge({ name: 'bad/0' })).toThrow(ValidationError);
    expect(await oracle(host)).toEqual(before);
  });

  test("names Object.prototype carries ('toString', '__proto__' ...) are not a macvlan mode, scope, route type or addrgenmode", () => {
    for (const bad of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const x = bad as never;
      const tries: [string, () => unknown][] = [
        ['macvlan mode', () => host.batch().addMacvlan({ name: 'mv0', link: 'lo', mode: x })],
        ['address scope', () => host.batch().addAddress('lo', '10.0.0.1/8', { scope: x })],
        ['route scope', () => host.batch().addRoute({ dst: '10.0.0.0/8', dev: 'lo', scope: x })],
        ['route type', () => host.batch().addRoute({ dst: '10.0.0.0/8', dev: 'lo', type: x })],
        ['addrGenMode', () => host.batch().setLink('lo', { addrGenMode: x })],
      ];
      for (const [what, f] of tries) expect(f, `${what} ${bad}`).toThrow(ValidationError);
    }
  });

  test('the veth peer must be named; a link made by ip is seen by nsnet', async () => {
    await ip(host.name, 'link', 'add', 'byip0', 'type', 'bridge');
    expect((await host.links.get('byip0')).kind).toBe('bridge');
    const err = await host.links.addVeth({ name: 'vp0', peer: {} as any }).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
  });

  test('a batch spanning namespaces: veth from the host, then its far end configured inside', async () => {
    await host.links.addBridge({ name: 'brb', up: true });
    await host
      .batch()
      .addVeth({ name: 'vsp0', master: 'brb', up: true, peer: { name: 'eth0', netns: sandbox } })
      .in(sandbox)
      .setUp('eth0')
      .addAddress('eth0', '10.92.0.2/24')
      .addRoute({ dst: 'default', gateway: '10.92.0.1' })
      .commit();
    expect((await oracle(host, 'vsp0')).master).toBe('brb');
    const eth0 = await oracle(sandbox, 'eth0');
    expect(eth0.flags).toContain('UP');
    expect((await ipj<any[]>(sandbox.name, 'route', 'show', 'default'))[0].gateway).toBe('10.92.0.1');
  });

  test('in a spanning batch, a failure stops everything after it and names the failing request', async () => {
    await host.links.addBridge({ name: 'brc' });
    const sbBefore = await oracle(sandbox);
    const err = await host
      .batch()
      .addBridge({ name: 'brc' }) // exists: EEXIST
      .in(sandbox)
      .addBridge({ name: 'never0' })
      .commit()
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'EEXIST', object: "bridge 'brc'" });
    expect(await oracle(sandbox)).toEqual(sbBefore);
  });

  test('a batch may name the peer of a veth it creates in the same namespace', async () => {
    await host.batch().addVeth({ name: 'vpa', peer: { name: 'vpb' } }).addAddress('vpb', '10.95.0.2/24').setUp('vpb').commit();
    expect((await ipj<any[]>(host.name, 'addr', 'show', 'dev', 'vpb'))[0].addr_info.map((a: any) => a.local)).toContain('10.95.0.2');
  });
});
