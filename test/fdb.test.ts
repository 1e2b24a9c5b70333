// VXLAN forwarding entries and neighbours through nsnet's Batch, checked
// against `bridge -j fdb show` and `ip -j neigh` as the oracles.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Netns, NsnetError, ValidationError } from '../src/index.js';
import { ipj, testHost } from './helpers.js';

const run = promisify(execFile);

let ns: Netns;
beforeEach(async () => {
  ns = await testHost('f');
  await ns.links.addBridge({ name: 'br0', up: true });
  await ns.links.addVxlan({ name: 'vx0', vni: 42, port: 4789, local: '127.0.0.1', learning: false, proxy: true });
  await ns.links.set('vx0', { master: 'br0', up: true });
});
afterEach(async () => {
  await ns.delete();
});

/** `bridge -j fdb show dev DEV`: the entries the device itself holds (self), as iproute2 reads them. */
async function bridgeFdb(dev: string): Promise<{ mac: string; dst?: string; vni?: number; state?: string; flags: string[] }[]> {
  const { stdout } = await run('ip', ['netns', 'exec', ns.name!, 'bridge', '-j', 'fdb', 'show', 'dev', dev]);
  return (JSON.parse(stdout || '[]') as any[]).filter((e) => (e.flags ?? []).includes('self') && e.mac !== '00:00:00:00:00:00' || e.dst);
}

describe('fdb', () => {
  test('a VXLAN device is made with learning off, ARP proxy on and dstport 4789, as ip -d link shows', async () => {
    const [l] = await ipj<any[]>(ns.name, '-d', 'link', 'show', 'vx0');
    expect(l.linkinfo.info_data).toMatchObject({ id: 42, port: 4789, learning: false, proxy: true });
  });

  test('forwarding entries and neighbours for remote endpoints go in one batch and agree with bridge -j fdb and ip -j neigh', async () => {
    const b = ns.batch();
    for (let i = 1; i <= 3; i++) {
      b.replaceFdb({ lladdr: `02:42:0a:00:00:0${i}`, dev: 'vx0', dst: `192.0.2.${10 + i}` });
      b.replaceNeighbour({ dst: `10.0.0.${i}`, lladdr: `02:42:0a:00:00:0${i}`, dev: 'vx0' });
    }
    b.appendFdb({ lladdr: '00:00:00:00:00:00', dev: 'vx0', dst: '192.0.2.99' });
    await b.commit();
    const theirs = await bridgeFdb('vx0');
    const want = [1, 2, 3].map((i) => ({ mac: `02:42:0a:00:00:0${i}`, dst: `192.0.2.${10 + i}`, state: 'permanent' }));
    expect(theirs.filter((e) => e.mac !== '00:00:00:00:00:00').map(({ mac, dst, state }) => ({ mac, dst, state })).sort((a, b) => a.mac.localeCompare(b.mac))).toEqual(want);
    expect(theirs.some((e) => e.mac === '00:00:00:00:00:00' && e.dst === '192.0.2.99')).toBe(true);
    // nsnet's own listing says the same.
    const vx = (await ns.links.get('vx0')).ifindex;
    const mine = (await ns.fdb.list({ ifindex: vx })).filter((e) => e.dst !== null && e.lladdr !== '00:00:00:00:00:00');
    expect(mine.map((e) => ({ mac: e.lladdr, dst: e.dst, state: 'permanent', self: e.flags.includes('self') })).sort((a, b) => a.mac.localeCompare(b.mac)))
      .toEqual(want.map((w) => ({ ...w, self: true })));
    const neigh = (await ipj<any[]>(ns.name, 'neigh', 'show', 'dev', 'vx0')).map((n) => ({ dst: n.dst, lladdr: n.lladdr, state: n.state }));
    expect(neigh.sort((a, b) => a.dst.localeCompare(b.dst))).toEqual([1, 2, 3].map((i) => ({ dst: `10.0.0.${i}`, lladdr: `02:42:0a:00:00:0${i}`, state: ['PERMANENT'] })));

    // replace points an entry at another VTEP; delete (by MAC) takes it and its neighbour away.
    await ns.batch().replaceFdb({ lladdr: '02:42:0a:00:00:01', dev: 'vx0', dst: '192.0.2.50' })
      .deleteFdb({ lladdr: '02:42:0a:00:00:02', dev: 'vx0' }).deleteNeighbour({ dst: '10.0.0.2', dev: 'vx0' }).commit();
    const after = await bridgeFdb('vx0');
    expect(after.find((e) => e.mac === '02:42:0a:00:00:01')?.dst).toBe('192.0.2.50');
    expect(after.some((e) => e.mac === '02:42:0a:00:00:02')).toBe(false);
    expect((await ipj<any[]>(ns.name, 'neigh', 'show', 'dev', 'vx0')).some((n) => n.dst === '10.0.0.2')).toBe(false);
  });

  test('one batch that makes a VXLAN device and then names it in 4000 entries (as an overlay\'s first join does) lands whole: the requests after the device wait for it, the rest go together', async () => {
    const n = 2000;
    const mac = (i: number) => `02:43:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const b = ns.batch()
      .addVxlan({ name: 'vx1', vni: 43, port: 4789, local: '127.0.0.1', learning: false, proxy: true })
      .setLink('vx1', { master: 'br0', up: true });
    for (let i = 0; i < n; i++) {
      b.replaceFdb({ lladdr: mac(i), dev: 'vx1', dst: `192.0.2.${(i % 200) + 1}` });
      b.replaceNeighbour({ dst: `10.1.${i >> 8}.${i & 255}`, lladdr: mac(i), dev: 'vx1' });
    }
    await b.commit();
    const fdb = (await bridgeFdb('vx1')).filter((e) => e.mac !== '00:00:00:00:00:00');
    expect(fdb.length).toBe(n);
    expect(new Set(fdb.map((e) => e.mac))).toEqual(new Set(Array.from({ length: n }, (_, i) => mac(i))));
    const neigh = await ipj<any[]>(ns.name, 'neigh', 'show', 'dev', 'vx1');
    expect(neigh.length).toBe(n);
    expect(neigh.every((x) => x.lladdr === mac((Number(x.dst.split('.')[2]) << 8) | Number(x.dst.split('.')[3])))).toBe(true);
    const [l] = await ipj<any[]>(ns.name, 'link', 'show', 'vx1');
    expect(l.master).toBe('br0');
  });

  test('an entry that exists is refused by add with EEXIST, a missing one by delete with ENOENT, and bad input before the kernel', async () => {
    await ns.fdb.add({ lladdr: '02:00:00:00:00:07', dev: 'vx0', dst: '192.0.2.7' });
    const dup = await ns.fdb.add({ lladdr: '02:00:00:00:00:07', dev: 'vx0', dst: '192.0.2.7' }).catch((e) => e);
    expect(dup).toBeInstanceOf(NsnetError);
    expect(dup.code).toBe('EEXIST');
    const gone = await ns.fdb.delete({ lladdr: '02:00:00:00:00:08', dev: 'vx0' }).catch((e) => e);
    expect(gone.code).toBe('ENOENT');
    expect(() => ns.batch().addFdb({ lladdr: 'nope', dev: 'vx0' })).toThrow(ValidationError);
    expect(() => ns.batch().addFdb({ lladdr: '02:00:00:00:00:09', dev: 'vx0', dst: '300.1.1.1' })).toThrow(ValidationError);
  });
});
