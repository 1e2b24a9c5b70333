// Several processes sharing one state dir: 4 create sandboxes on one
// network at once, each publishing a port from one ephemeral range, while
// this process opens (and so reconciles) controllers on the same store
// over and over. No address or host port is handed out twice, every
// sandbox answers through its port, every error is typed, and no open
// fails because others are busy (nor does one break their creates).
// And two processes making the same network name, or overlapping subnets,
// at once: exactly one wins, the other is told why. NSNET_CONCURRENCY_COUNT
// sets the sandboxes per process (scripts/concurrency-soak.sh runs 250).
import { spawn } from 'node:child_process';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Controller } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { fetchTcp, ip, serve, uniq } from './helpers.js';

const COUNT = Number(process.env.NSNET_CONCURRENCY_COUNT ?? 25);
const PROCESSES = 4;
let w: World;

interface Result {
  name: string;
  ok: boolean;
  address?: string;
  hostPort?: number;
  error?: { class: string; code: string; message: string };
}

function worker(cfg: Record<string, unknown>): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['test/fixtures/worker.mjs', JSON.stringify({ stateDir: w.stateDir, host: w.host.name, ...cfg })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Result)) : reject(new Error(`worker exited with ${code}: ${err}`))));
  });
}

const typed = (r: Result) => !r.error || (['NsnetError', 'ValidationError', 'TeardownError'].includes(r.error.class) && !!r.error.code);

beforeAll(async () => {
  w = await world('cc');
  // One range for every process's ephemeral host ports.
  await w.host.setSysctl('net.ipv4.ip_local_port_range', '40000 41999');
});

afterAll(async () => {
  await w?.cleanup();
});

test(`${PROCESSES} processes x ${COUNT} sandboxes on one network with ephemeral ports, while opens reconcile beside them: 0 duplicate addresses or ports, every sandbox reachable, every error typed, no open fails`, async () => {
  const net = await w.c.createNetwork(uniq('ccn'), { subnets: ['10.190.0.0/21'] });
  const prefix = uniq('cc');
  const t0 = Date.now();
  let done = false;
  const workers = Promise.all(
    Array.from({ length: PROCESSES }, (_, i) => worker({ job: 'sandboxes', network: net.name, prefix: `${prefix}p${i}s`, count: COUNT, ports: ['80'] })),
  ).finally(() => (done = true));
  let opens = 0;
  const openErrors: string[] = [];
  const found: string[] = [];
  while (!done) {
    try {
      const c = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
      try {
        const r = await c.reconcile();
        found.push(...r.found, ...r.errors);
      } finally {
        c.close();
      }
      opens++;
    } catch (e) {
      openErrors.push(String((e as Error).message));
    }
  }
  const results = (await workers).flat();
  const ms = Date.now() - t0;
  expect(openErrors).toEqual([]);
  // Nothing was wrong for these reconciles to find: others' creates in flight are not broken sandboxes.
  expect(found).toEqual([]);
  expect(results.filter((r) => !typed(r))).toEqual([]);
  const ok = results.filter((r) => r.ok);
  expect(results.filter((r) => !r.ok)).toEqual([]);
  expect(ok).toHaveLength(PROCESSES * COUNT);
  const dup = (xs: unknown[]) => xs.length - new Set(xs).size;
  expect([dup(ok.map((r) => r.address)), dup(ok.map((r) => r.hostPort))]).toEqual([0, 0]);
  for (const r of ok) expect(r.hostPort).toBeGreaterThanOrEqual(40000);
  await w.reopen();
  expect(await problems(w.c, w.host.name!, prefix)).toEqual([]);
  const bridge = (await (await w.c.network(net.name)).info()).bridge!;
  // Every sandbox answers its name through its published port.
  const servers = [];
  for (const r of ok) servers.push((await serve(await (await w.c.sandbox(r.name)).netns(), 80, '0.0.0.0', r.name)).server);
  try {
    for (let i = 0; i < ok.length; i += 50) {
      await Promise.all(ok.slice(i, i + 50).map(async (r) => expect(await fetchTcp(w.host, r.hostPort!, '127.0.0.1')).toBe(r.name)));
      // The kernel's ARP table is one for all namespaces, and its limit
      // (gc_thresh3, 1024 by default, settable only on the host) is below
      // what 1000 sandboxes and the host talking to each need at once.
      if (i % 200 === 150) {
        await ip(w.host.name!, 'neigh', 'flush', 'dev', bridge);
        for (const r of ok.slice(i - 150, i + 50)) await ip(r.name, 'neigh', 'flush', 'all');
      }
    }
  } finally {
    for (const s of servers) s.close();
  }
  console.log(`concurrency: ${ok.length} sandboxes by ${PROCESSES} processes in ${ms} ms, ${opens} opens beside them; duplicates 0, unreachable 0, errors 0`);
  for (const sb of await w.c.sandboxes()) await sb.delete();
  await (await w.c.network(net.name)).delete();
}, 900_000);

test('two processes creating the same network name, or networks with overlapping subnets, at once: exactly one wins and the other is told why', async () => {
  for (let round = 0; round < 3; round++) {
    const name = uniq('ccx');
    const same = (await Promise.all([worker({ job: 'network', name, subnet: `10.191.${round}.0/24` }), worker({ job: 'network', name, subnet: `10.192.${round}.0/24` })])).flat();
    expect(same.filter((r) => r.ok)).toHaveLength(1);
    expect(same.filter((r) => !r.ok).map((r) => r.error!.code)).toEqual(['ERR_NSNET_EXISTS']);
    const overlap = (await Promise.all([worker({ job: 'network', name: uniq('ccy'), subnet: `10.193.${round}.0/24` }), worker({ job: 'network', name: uniq('ccz'), subnet: `10.193.${round}.128/25` })])).flat();
    expect(overlap.filter((r) => r.ok)).toHaveLength(1);
    expect(overlap.filter((r) => !r.ok).map((r) => [r.error!.code, r.error!.message])).toEqual([['ERR_NSNET_OVERLAP', expect.stringMatching(/overlaps network/)]]);
  }
  await w.reopen();
  for (const n of await w.c.networks()) if (n.name !== 'host' && n.name !== 'none') await n.delete();
});
