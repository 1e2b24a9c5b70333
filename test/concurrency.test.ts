// Several processes sharing one state dir: 4 create sandboxes on one
// network at once, each publishing a port from one ephemeral range, while
// this process opens (and so reconciles) controllers on the same store
// over and over. No address or host port is handed out twice, every
// sandbox answers through its port, every error is typed, and no open
// fails because others are busy (nor does one break their creates).
// And two processes making the same network name, or overlapping subnets,
// at once, while others open (and so reconcile) and remove networks:
// exactly one wins, the other is told why, and no reconcile takes a network
// being made (its record is written before its bridge) for a broken one.
// NSNET_CONCURRENCY_COUNT sets the sandboxes per process, and
// NSNET_NETWORK_RACE_ROUNDS the network rounds (scripts/concurrency-soak.sh
// runs 250 and 100).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Controller } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { fetchTcp, ip, serve, uniq } from './helpers.js';

const COUNT = Number(process.env.NSNET_CONCURRENCY_COUNT ?? 25);
const PROCESSES = 4;
/** Rounds of the network race (scripts/concurrency-soak.sh runs more). */
const RACE_ROUNDS = Number(process.env.NSNET_NETWORK_RACE_ROUNDS ?? 3);
let w: World;

interface Result {
  name: string;
  ok: boolean;
  address?: string;
  hostPort?: number;
  error?: { class: string; code: string; message: string };
  /** reportOpen's line: what the worker's own open reconciled. */
  found?: string[];
}

function worker(cfg: Record<string, unknown>, started?: (pid: number) => void): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['test/fixtures/worker.mjs', JSON.stringify({ stateDir: w.stateDir, host: w.host.name, ...cfg })], { stdio: ['ignore', 'pipe', 'pipe'] });
    started?.(p.pid!);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    // 'close', not 'exit': the last lines may still be in the pipe when the process has exited.
    p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Result)) : reject(new Error(`worker exited with ${code}: ${err}`))));
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
  // With wait: a veth the kernel is still destroying in the background would be there for the next test's reconciles to find.
  for (const sb of await w.c.sandboxes()) await sb.delete({ wait: true });
  await (await w.c.network(net.name)).delete();
}, 900_000);

test(`two processes creating the same network name, or networks with overlapping subnets, at once (${RACE_ROUNDS} rounds, while opens reconcile beside them and another process removes the last round's networks): exactly one wins and the other is told why; the reconciles find nothing wrong`, async () => {
  // Each round's subnets are its own, so a round never clashes with the last one's networks, which are being removed meanwhile.
  const sub = (base: number, round: number, tail: string) => `10.${base + (round >> 8)}.${round & 255}.${tail}`;
  let done = false;
  const reconciles = { opens: 0, found: [] as string[], errors: [] as string[] };
  /** Each worker's answers, and what its own open's reconcile found into reconciles. */
  const racer = async (cfg: Record<string, unknown>) => {
    const [open, ...rest] = await worker({ ...cfg, reportOpen: true });
    expect(open?.name).toBe('open');
    reconciles.found.push(...open!.found!);
    return rest;
  };
  const rounds = (async () => {
    let last: string[] = [];
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const name = uniq('ccx');
      const [same, overlap, removed] = await Promise.all([
        Promise.all([racer({ job: 'network', name, subnet: sub(100, round, '0/24') }), racer({ job: 'network', name, subnet: sub(110, round, '0/24') })]),
        Promise.all([racer({ job: 'network', name: uniq('ccy'), subnet: sub(120, round, '0/24') }), racer({ job: 'network', name: uniq('ccz'), subnet: sub(120, round, '128/25') })]),
        racer({ job: 'network-rm', names: last }),
      ]);
      const s = same.flat();
      const o = overlap.flat();
      expect(s.filter((r) => r.ok), JSON.stringify(s)).toHaveLength(1);
      expect(s.filter((r) => !r.ok).map((r) => r.error!.code), JSON.stringify(s)).toEqual(['ERR_NSNET_EXISTS']);
      expect(o.filter((r) => r.ok), JSON.stringify(o)).toHaveLength(1);
      expect(o.filter((r) => !r.ok).map((r) => [r.error!.code, r.error!.message]), JSON.stringify(o)).toEqual([['ERR_NSNET_OVERLAP', expect.stringMatching(/overlaps network/)]]);
      expect(removed.filter((r) => !r.ok), JSON.stringify(removed)).toEqual([]);
      last = [...s, ...o].filter((r) => r.ok).map((r) => r.name);
    }
  })().then(() => null, (e: unknown) => e).finally(() => (done = true));
  while (!done) {
    try {
      const c = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
      try {
        const r = await c.reconcile();
        reconciles.found.push(...r.found);
        reconciles.errors.push(...r.errors);
      } finally {
        c.close();
      }
      reconciles.opens++;
    } catch (e) {
      reconciles.errors.push(String((e as Error).message));
    }
  }
  const failed = await rounds;
  if (failed) throw new Error(`${(failed as Error).message}; the reconciles beside found ${JSON.stringify(reconciles)}`, { cause: failed });
  // Others' network creates and deletes in flight are nothing for a reconcile (this process's, or a worker's own open) to mend or remove.
  expect(reconciles).toEqual({ opens: reconciles.opens, found: [], errors: [] });
  await w.reopen();
  expect(await problems(w.c, w.host.name!, 'ccx')).toEqual([]);
  // This test's networks only: a network an earlier test left (having failed) is that test's to report.
  for (const n of await w.c.networks()) if (/^cc[xyz]/.test(n.name)) await n.delete();
  expect(await problems(w.c, w.host.name!, 'ccx')).toEqual([]);
}, 900_000);

/** Resolves once the worker has stopped itself (SIGSTOP: state T in /proc); fails with what it answered if it ended instead. */
async function stopped(pid: number, answer: Promise<Result[]>): Promise<void> {
  const state = () => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0];
    } catch {
      return null;
    }
  };
  for (let s = state(); s !== 'T'; s = state()) {
    if (s === null || s === 'Z') throw new Error(`the worker ended instead of stopping: ${JSON.stringify(await answer.catch(String))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a network another process is making or removing (stopped at each step of it) is left alone by this process's reconcile and takes no endpoint meanwhile; once that process goes on, the network is whole, or gone", async () => {
  const c = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
  try {
    const meanwhile = async (name: string) => {
      const r = await c.reconcile();
      expect([r.found, r.errors]).toEqual([[], []]);
      await expect(c.createSandbox(uniq('ccb'), { networks: [name] })).rejects.toMatchObject({ code: 'ERR_NSNET_BUSY', message: expect.stringMatching(new RegExp(`network ${name} is busy: process \\d+ is at its (create|delete)`)) });
    };
    const names: string[] = [];
    for (const [i, step] of ['kernel.network', 'firewall', 'store.driverState'].entries()) {
      const name = uniq('ccs');
      names.push(name);
      let pid = 0;
      const made = worker({ job: 'network', name, subnet: `10.194.${i}.0/24`, stopAt: step }, (p) => (pid = p));
      await stopped(pid, made);
      await meanwhile(name);
      process.kill(pid, 'SIGCONT');
      expect(await made, step).toEqual([{ name, ok: true }]);
      const sb = await c.createSandbox(uniq('ccb'), { networks: [name] });
      expect(await problems(c, w.host.name!, 'ccb')).toEqual([]);
      await sb.delete({ wait: true }); // its veth gone before the next reconcile looks
    }
    for (const [i, step] of ['teardown:firewall', 'teardown:kernel.network', 'teardown:store.network'].entries()) {
      const name = names[i]!;
      let pid = 0;
      const removed = worker({ job: 'network-rm', names: [name], stopAt: step }, (p) => (pid = p));
      await stopped(pid, removed);
      await meanwhile(name);
      process.kill(pid, 'SIGCONT');
      expect(await removed, step).toEqual([{ name, ok: true }]);
      expect((await c.networks()).map((n) => n.name)).not.toContain(name);
      expect(await problems(c, w.host.name!, 'ccb')).toEqual([]);
    }
  } finally {
    c.close();
  }
});
