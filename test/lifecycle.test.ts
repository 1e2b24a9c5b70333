// The addon's lifecycle: it loads in worker threads, never holds the process
// open when idle, keeps the event loop free, and returns every fd it opened.
import { execFile } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';

import { expect, test } from 'vitest';

import { Netns, NsnetError } from '../src/index.js';
import { fdCount, testHost, uniq } from './helpers.js';

const run = promisify(execFile);
const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));

test('a process that is done exits at once: idle addon threads keep nothing alive', async () => {
  const script = `
    import { Netns } from ${JSON.stringify(distIndex)};
    const ns = await Netns.create();
    await ns.links.addBridge({ name: 'br0', up: true });
    await ns.delete();
    console.log('done');`;
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
  expect(stdout.trim()).toBe('done');
  // No idle handle: exit follows the last promise (not a 60 s socket timeout).
  expect(performance.now() - t0).toBeLessThan(5_000);
});

test('a pending operation keeps the process alive until it settles', async () => {
  const script = `
    import { Netns } from ${JSON.stringify(distIndex)};
    Netns.create().then(async (ns) => { console.log((await ns.links.list()).map((l) => l.name).join()); await ns.delete(); });`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
  expect(stdout.trim()).toBe('lo');
});

test('the addon loads and works in worker threads, side by side with the main thread', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.dist).then(async ({ Netns }) => {
      const ns = await Netns.create();
      await ns.links.addBridge({ name: 'wbr', up: true });
      const l = await ns.links.get('wbr');
      await ns.delete();
      parentPort.postMessage(l.kind + ':' + l.up);
    });`;
  const workers = [0, 1, 2].map(() => new Worker(code, { eval: true, workerData: { dist: distIndex } }));
  const main = await Netns.create();
  await main.links.addBridge({ name: 'mbr' });
  const results = await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  })));
  expect(results).toEqual(['bridge:true', 'bridge:true', 'bridge:true']);
  await Promise.all(workers.map((w) => w.terminate()));
  expect((await main.links.get('mbr')).kind).toBe('bridge');
  await main.delete();
});

test('workers that alone load the addon exit cleanly and leave no namespace fds behind', async () => {
  // This child's main thread never loads the addon: only its workers do.
  const script = `
    import { Worker } from 'node:worker_threads';
    import { readdirSync, readlinkSync } from 'node:fs';
    const code = 'import(' + JSON.stringify(process.argv[1]) + ').then(async ({ Netns }) => { const ns = await Netns.create(); await ns.delete(); })';
    for (let i = 0; i < 5; i++) {
      const w = new Worker(code, { eval: true, argv: [process.argv[1]] });
      await new Promise((res, rej) => { w.once('exit', res); w.once('error', rej); });
    }
    const net = readdirSync('/proc/self/fd').filter((f) => { try { return readlinkSync('/proc/self/fd/' + f).startsWith('net:'); } catch { return false; } });
    console.log('netns fds ' + net.length);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, distIndex], { timeout: 30_000 });
  expect(stdout.trim()).toBe('netns fds 0');
});

test('fds return to baseline after 200 create/attach/delete cycles', async () => {
  const host = await testHost('f');
  await host.links.addBridge({ name: 'br0', up: true });
  const cycle = async (i: number) => {
    const sb = await Netns.create(uniq('fc'));
    await host.links.addVeth({ name: `v${i}`, master: 'br0', up: true, peer: { name: 'eth0', netns: sb } });
    await sb.batch().setUp('eth0').addAddress('eth0', '10.91.0.2/24').commit();
    await sb.delete();
  };
  await cycle(0); // warm up: threads and lazily opened files
  const before = await fdCount();
  for (let i = 1; i <= 200; i++) await cycle(i);
  expect(await fdCount()).toBe(before);
  await host.delete();
});

test('handles dropped without close() release their fds when collected', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const name = uniq('gc');
  const owner = await Netns.create(name);
  const before = await fdCount();
  // Held until all are open (a collection meanwhile would take some early),
  // then dropped without close().
  let held: Netns[] | null = [];
  for (let i = 0; i < 50; i++) held.push(await Netns.open(name)); // each holds an fd and a netlink socket
  expect(await fdCount()).toBeGreaterThanOrEqual(before + 100);
  expect(held).toHaveLength(50);
  held = null;
  for (let i = 0; i < 10 && (await fdCount()) > before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await fdCount()).toBe(before);
  await owner.delete();
});

test('the event loop stays responsive while a slow kernel request runs', async () => {
  const host = await testHost('e');
  for (let i = 0; i < 20; i++) await host.links.addVeth({ name: `ev${i}`, peer: { name: `evp${i}` } });
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // Deleting veths waits for RCU grace periods inside the kernel (tens of ms each).
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 20 }, (_, i) => host.links.delete(`ev${i}`)));
  const took = performance.now() - t0;
  h.disable();
  // Not a timing assertion on the kernel: the slow part ran off this thread,
  // so the loop's worst stall is far below the time the deletes took.
  expect(h.max / 1e6).toBeLessThan(Math.max(took / 4, 20));
  await host.delete();
});

test('a handle closed while requests are queued fails them cleanly, not with a crash', async () => {
  const ns = await Netns.create(uniq('cl'));
  const p = ns.links.list();
  ns.close();
  expect((await p).length).toBe(1); // queued before close: completes
  await expect(ns.links.list()).rejects.toThrow(/closed/);
  await expect(ns.links.list()).rejects.toBeInstanceOf(NsnetError);
  await Netns.delete(ns.name!);
});
