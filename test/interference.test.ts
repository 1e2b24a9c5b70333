// Someone else changes nsnet's objects behind its back: deletes a
// sandbox's veth, its namespace mount, an address inside it, nsnet's table
// or a bridge. Reconcile finds it, says what it found, mends what it can
// (and removes what it cannot), and afterwards the store and the kernel
// agree (consistency.ts) and live sandboxes answer through their published
// ports again. A delete after such a change leaves nothing behind either.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createSandbox, Netns, type Sandbox } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { fetchTcp, ip, serve, uniq } from './helpers.js';
import { nft } from './nft-helpers.js';

let w: World;
let net: string;
let bridge: string;
const prefix = uniq('if');
const servers: Server[] = [];
let port = 8500;

async function live(): Promise<{ sb: Sandbox; port: number }> {
  const p = port++;
  const sb = await createSandbox(w.c, { name: `${prefix}${p}`, mode: { network: net }, ports: [`${p}:80`] });
  servers.push((await serve(await sb.netns(), 80, '0.0.0.0', sb.name)).server);
  return { sb, port: p };
}

const answers = async (x: { sb: Sandbox; port: number }) => expect(await fetchTcp(w.host, x.port, '127.0.0.1')).toBe(x.sb.name);
const consistent = async () => eventually(async () => expect(await problems(w.c, w.host.name!, prefix)).toEqual([]));
const veth = async (sb: Sandbox) => (await sb.info()).endpoints[0]!.hostIfname!;

beforeAll(async () => {
  w = await world('if');
  const n = await w.c.createNetwork(uniq('ifn'), { subnets: ['10.195.0.0/24'] });
  net = n.name;
  bridge = (await n.info()).bridge!;
});

afterAll(async () => {
  for (const s of servers) s.close();
  await w?.cleanup();
});

describe('reconcile after outside changes', () => {
  test("a sandbox's veth deleted: made again, reported, and its port answers", async () => {
    const x = await live();
    const v = await veth(x.sb);
    await ip(w.host.name!, 'link', 'del', v);
    const r = await w.c.reconcile();
    expect(r.found).toEqual([`sandbox ${x.sb.name}: mended: ${v} and eth0 made again`]);
    await consistent();
    await answers(x);
  });

  test('an address and the default route deleted inside a sandbox: added again, reported', async () => {
    const x = await live();
    const addr = (await x.sb.info()).endpoints[0]!.addresses[0]!;
    await ip(x.sb.name, 'addr', 'del', addr, 'dev', 'eth0');
    const r = await w.c.reconcile();
    expect(r.found).toEqual([`sandbox ${x.sb.name}: mended: ${addr} on eth0; default via 10.195.0.1`]);
    await consistent();
    await answers(x);
  });

  test('a bridge deleted: made again with every veth attached, and the ports answer', async () => {
    const [x, y] = [await live(), await live()];
    await ip(w.host.name!, 'link', 'del', bridge);
    const r = await w.c.reconcile();
    expect(r.bridgesRestored).toEqual([bridge]);
    expect(r.found).toEqual(expect.arrayContaining([`sandbox ${x.sb.name}: mended: ${await veth(x.sb)} attached to ${bridge}`]));
    expect(r.found).toEqual(expect.arrayContaining([`sandbox ${y.sb.name}: mended: ${await veth(y.sb)} attached to ${bridge}`]));
    await consistent();
    await answers(x);
    await answers(y);
  });

  test("nsnet's table deleted: made again, and the ports of live sandboxes answer again", async () => {
    const x = await live();
    await nft(w.host.name!, 'delete', 'table', 'inet', 'nsnet');
    await expect(fetchTcp(w.host, x.port, '127.0.0.1')).rejects.toThrow();
    const r = await w.c.reconcile();
    expect(r.firewall).toMatchObject({ rebuilt: true });
    await consistent();
    await answers(x);
  });

  test("a namespace's mount removed (the file left) or deleted: the sandbox is removed and reported, its file, port and handle go", async () => {
    const [x, y] = [await live(), await live()];
    const held = () => (w.c as any).ctx.heldNetns().map(([id]: [string]) => id) as string[];
    expect(held()).toEqual(expect.arrayContaining([x.sb.id, y.sb.id]));
    await promisify(execFile)('umount', [`${w.c.runDir}/${x.sb.name}`]);
    await Netns.delete(y.sb.name, { runDir: w.c.runDir });
    const r = await w.c.reconcile();
    expect(r.sandboxesRemoved.sort()).toEqual([x.sb.name, y.sb.name].sort());
    expect(r.found).toEqual(expect.arrayContaining([`sandbox ${x.sb.name}: its namespace ${w.c.runDir}/${x.sb.name} is gone: removed`]));
    expect(held()).not.toContain(x.sb.id);
    expect(held()).not.toContain(y.sb.id);
    await consistent();
    // The name is free again.
    const again = await createSandbox(w.c, { name: x.sb.name, mode: { network: net }, ports: [`${x.port}:80`] });
    await again.delete();
  });
});

describe('delete after outside changes', () => {
  test('a sandbox whose veth, or whose namespace mount, went behind nsnet\'s back deletes cleanly', async () => {
    const [x, y] = [await live(), await live()];
    await ip(w.host.name!, 'link', 'del', await veth(x.sb));
    await promisify(execFile)('umount', [`${w.c.runDir}/${y.sb.name}`]);
    await x.sb.delete();
    await y.sb.delete();
    await consistent();
  });
});
