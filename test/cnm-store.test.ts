// Persistence: what a restart finds, what two processes share, and how
// reconcile brings the store and the kernel back together.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { createSandbox } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { ip, ipj, uniq } from './helpers.js';

const run = promisify(execFile);

let w: World;
beforeEach(async () => {
  w = await world('s');
});
afterEach(async () => {
  await w.cleanup();
});

describe('store', () => {
  test('restart: a reopened controller lists, inspects and deletes what the first made, and never reuses an address in use', async () => {
    const net = await w.c.createNetwork(uniq('rs'), { subnets: ['10.61.0.0/24'], labels: { team: 'a' } });
    const a = await createSandbox(w.c, { name: uniq('ra'), mode: { network: net.name } });
    const b = await createSandbox(w.c, { name: uniq('rb'), mode: { network: net.name } });
    const ep = await net.createEndpoint(uniq('re'));
    const before = { a: await a.info(), b: await b.info(), ep: await ep.info(), net: await net.info() };
    const c2 = await w.reopen();
    expect((await c2.networks()).map((n) => n.name).sort()).toEqual(['host', net.name, 'none'].sort());
    expect(await (await c2.network(net.name)).info()).toEqual(before.net);
    expect(await (await c2.sandbox(a.name)).info()).toEqual(before.a);
    expect(await (await c2.sandbox(before.b.id)).info()).toEqual(before.b);
    const c = await createSandbox(c2, { name: uniq('rc'), mode: { network: net.name } });
    const used = [before.a, before.b].map((i) => i.endpoints[0]!.addresses[0]).concat(before.ep.addresses);
    expect(used).not.toContain((await c.info()).endpoints[0]!.addresses[0]);
    await (await c2.sandbox(a.name)).delete();
    await expect(c2.sandbox(a.name)).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    expect((await ipj<any[]>(null, 'netns', 'list')).map((n) => n.name)).not.toContain(a.name);
  });

  test('two processes creating 250 endpoints each on one network get no duplicate address', async () => {
    const net = await w.c.createNetwork(uniq('mp'), { subnets: ['10.62.0.0/22'] });
    const child = (tag: string) => run(process.execPath, ['test/fixtures/allocate.mjs', w.stateDir, w.host.name!, net.name, '250', tag]);
    const [x, y] = await Promise.all([child('x'), child('y')]);
    const all = [...JSON.parse(x.stdout), ...JSON.parse(y.stdout)] as string[];
    expect(all).toHaveLength(500);
    expect(new Set(all).size).toBe(500);
    expect((await net.endpoints()).length).toBe(500);
    const rows = await w.c.store.view((t) => t.allocations(`${net.id}/10.62.0.0/22`));
    expect(rows).toHaveLength(500);
  }, 120_000);

  test('reconcile: a sandbox whose namespace vanished gives back its addresses; a vanished bridge comes back with its veths attached; an nsnet-looking veth it did not make is reported and left', async () => {
    const net = await w.c.createNetwork(uniq('rc'), { subnets: ['10.63.0.0/24'] });
    const bridge = (await net.info()).bridge!;
    const a = await createSandbox(w.c, { name: uniq('ka'), mode: { network: net.name } });
    const keep = await createSandbox(w.c, { name: uniq('kk'), mode: { network: net.name } });
    const aAddr = (await a.info()).endpoints[0]!.addresses[0]!;
    w.c.close();
    // Behind nsnet's back: the namespace goes, an nsnet-looking veth appears, the bridge is deleted.
    await ip(null, 'netns', 'del', a.name);
    await ip(w.host.name!, 'link', 'add', 'nsv0badc0de', 'type', 'veth', 'peer', 'name', 'orphanpeer');
    await ip(w.host.name!, 'link', 'del', bridge);
    const c2 = await w.reopen({ reconcile: false });
    const report = await c2.reconcile();
    expect(report.sandboxesRemoved).toEqual([a.name]);
    expect(report.addressesReleased).toBe(1);
    expect(report.interfacesRemoved).toEqual([]);
    expect(report.foreignInterfaces).toEqual([]);
    expect(report.orphanInterfaces).toEqual(['nsv0badc0de']);
    expect(report.bridgesRestored).toEqual([bridge]);
    // The live sandbox's veth is a port of the bridge made again.
    const keepVeth = (await (await c2.sandbox(keep.name)).info()).endpoints[0]!.hostIfname!;
    expect(report.found).toContain(`sandbox ${keep.name}: mended: ${keepVeth} attached to ${bridge}`);
    expect((await ipj<any[]>(w.host.name!, 'link', 'show', 'master', bridge)).map((l) => l.ifname)).toEqual([keepVeth]);
    expect(report.errors).toEqual([]);
    await expect(c2.sandbox(a.name)).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    expect(await c2.store.view((t) => t.allocation(`${net.id}/10.63.0.0/24`, aAddr.split('/')[0]!))).toBeNull();
    expect(await ipj(w.host.name!, 'link', 'show', 'nsv0badc0de')).toHaveLength(1);
    // Removed only when a gc asks for orphans.
    expect((await c2.gc({ orphans: true })).interfacesRemoved).toEqual(['nsv0badc0de']);
    expect(await ipj(w.host.name!, 'link', 'show', 'nsv0badc0de').catch(() => [])).toEqual([]);
    const [br] = await ipj<any[]>(w.host.name!, 'addr', 'show', bridge);
    expect(br.addr_info.filter((x: any) => x.scope !== 'link').map((x: any) => x.local)).toEqual(['10.63.0.1']);
    // The sandbox that still exists is untouched, and reconcile is idempotent.
    expect((await (await c2.sandbox(keep.name)).info()).endpoints).toHaveLength(1);
    const again = await c2.reconcile();
    expect(again).toMatchObject({ sandboxesRemoved: [], interfacesRemoved: [], bridgesRestored: [], addressesReleased: 0, found: [], foreignInterfaces: [], orphanInterfaces: [] });
  });

  test('delete releases the namespace at once; wait: true removes the host-side veth before returning', async () => {
    const a = await createSandbox(w.c, { name: uniq('da') });
    const b = await createSandbox(w.c, { name: uniq('db') });
    const [ea, eb] = [(await a.info()).endpoints[0]!, (await b.info()).endpoints[0]!];
    await b.delete({ wait: true });
    expect(await ipj(w.host.name!, 'link', 'show', 'master', 'nsnet0')).toEqual([expect.objectContaining({ ifname: ea.hostIfname })]);
    await a.delete();
    // The kernel destroys the released namespace's veth in the background.
    await eventually(async () => expect(await ipj(w.host.name!, 'link', 'show', 'master', 'nsnet0')).toEqual([]));
    expect(eb.hostIfname).not.toBe(ea.hostIfname);
    const rows = await w.c.store.view((t) => ({ s: t.sandboxes(), e: t.endpoints() }));
    expect(rows).toEqual({ s: [], e: [] });
  });
});
