// Watchers at scale and under pressure: 50 namespaces watched at once, each
// seeing only its own changes, sockets released on close; and a consumer
// that does not read, whose queue stays bounded and who is told to resync.
import { spawn } from 'node:child_process';

import { expect, test } from 'vitest';

import { Netns, watch, type WatchEvent, type Watcher } from '../src/index.js';
import { fdCount, ipj, uniq } from './helpers.js';

/** The fd count once it equals target (or, for -1, once it stops changing). */
async function settleFds(target: number): Promise<number> {
  let n = await fdCount();
  for (let i = 0; i < 50 && n !== target; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const m = await fdCount();
    if (target === -1 && m === n) break;
    n = m;
  }
  return n;
}

test('watchers on 50 namespaces at once each see their own namespace\'s change; closing them returns the fd count to baseline', async () => {
  const spaces: Netns[] = [];
  for (let i = 0; i < 50; i++) spaces.push(await Netns.create(uniq('sc')));
  // Warm up: the addon's watch thread keeps an epoll fd and an eventfd for the process's life.
  const warm = watch(spaces[0]!, { links: true });
  await warm.ready;
  warm.close();
  const before = await settleFds(-1);
  const watchers: Watcher[] = spaces.map((ns) => watch(ns, { links: true }));
  await Promise.all(watchers.map((w) => w.ready));
  expect(await fdCount()).toBe(before + 50);
  const seen: string[][] = watchers.map(() => []);
  const done = watchers.map(
    (w, i) =>
      new Promise<void>((resolve) =>
        w.on('event', (e: WatchEvent) => {
          if (e.kind === 'link' && e.action === 'new') {
            seen[i]!.push(e.link.name);
            resolve();
          }
        }),
      ),
  );
  await Promise.all(spaces.map((ns, i) => ns.links.addBridge({ name: `scb${i}` })));
  await Promise.all(done);
  for (let i = 0; i < 50; i++) expect(seen[i]).toEqual([`scb${i}`]);
  for (const w of watchers) w.close();
  expect(await settleFds(before)).toBe(before);
  for (const ns of spaces) await ns.delete();
});

test('a consumer that does not read: the queue stops at its limit, then the stream says resync (overflow) and lists exactly what ip -j shows', async () => {
  const ns = await Netns.create(uniq('bp'));
  await ns.batch().addBridge({ name: 'bpb', up: true }).commit();
  const limit = 256;
  const w = watch(ns, { addresses: true, queueLimit: limit, rcvbuf: 65536 });
  await w.ready;
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) lines.push(`addr add 10.95.${i >> 8}.${i & 255}/32 dev bpb`);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['-n', ns.name!, '-batch', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch exited ${code}`))));
    p.stdin.end(lines.join('\n') + '\n');
  });
  // Nobody has read: reading stopped at the limit (plus the rest of the datagram being parsed).
  const st = w.stats();
  expect(st.paused).toBe(true);
  expect(st.maxQueued).toBeGreaterThanOrEqual(limit);
  expect(st.maxQueued).toBeLessThan(limit + 1024);

  // Now read: what was queued, then resync, a full listing, synced.
  const events: WatchEvent[] = [];
  for await (const e of w) {
    events.push(e);
    if (e.kind === 'synced') break;
  }
  const r = events.findIndex((e) => e.kind === 'resync');
  expect(r).toBeGreaterThanOrEqual(0);
  expect(events[r]).toEqual({ kind: 'resync', reason: 'overflow' });
  const listed = events.slice(r).flatMap((e) => (e.kind === 'address' ? [`${e.address.ifindex} ${e.address.cidr}`] : []));
  const theirs = (await ipj<any[]>(ns.name, 'addr', 'show')).flatMap((l) => l.addr_info.map((a: any) => `${l.ifindex} ${a.local}/${a.prefixlen}`));
  expect(new Set(listed)).toEqual(new Set(theirs));
  expect(listed.length).toBeGreaterThan(3000);
  expect(w.stats().maxQueued).toBeLessThan(limit + 1024);
  w.close();
  await ns.delete();
});
