// Crash consistency: a process driving a Controller (fixtures/churn.mjs:
// create with a published port, join, leave, delete; every other run in
// runtimes' namespaces, as a CNI plugin's sandboxes, whose deletions it
// defers) is SIGKILLed at random points, half of them at a step boundary chosen by the fault hook,
// half by a timer from outside (inside a kernel trip, a store write, a
// file write, a deferred deletion). After each kill a fresh controller
// reconciles, and then the store and the kernel agree (consistency.ts: ip -j, nft -j, /run/netns, the
// files), no address or host port is held twice or leaked, and the names
// the dead process used can be created again; the runtimes' namespaces
// are still there, holding nothing of nsnet's but what the store says. NSNET_CRASH_KILLS sets the
// number of kills (scripts/crash-soak.sh runs the long version).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Controller, createSandbox, Netns } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { ipj, uniq } from './helpers.js';

const KILLS = Number(process.env.NSNET_CRASH_KILLS ?? 20);
const ROUNDS = 2;
let w: World;
let net: string;
let net2: string;
const prefix = uniq('cr');
/** The runtimes' namespaces the external runs join, one per round. */
const runtimes: Netns[] = [];
let runtimeDir: string | undefined;

interface Run {
  lines: string[];
  killed: boolean;
  /** From the first round's start to the last one's end. */
  ms: number;
}

function churn(o: { killAtStep?: number; killAfterMs?: number; rounds?: number; external?: boolean }): Promise<Run> {
  const cfg = {
    stateDir: w.stateDir, host: w.host.name, network: net, network2: net2, prefix, rounds: o.rounds ?? ROUNDS, ports: ['80', '8400-8499:81'], killAtStep: o.killAtStep,
    ...(o.external ? { runtimes: runtimes.map((r) => r.path) } : {}),
  };
  return new Promise((resolve, reject) => {
    let t0 = 0;
    let ms = 0;
    const p = spawn(process.execPath, ['test/fixtures/churn.mjs', JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    p.stdout.on('data', (d: Buffer) => {
      out += d;
      // The timer starts with the first round, once the process is up.
      if (t0 && !ms && out.includes('finished')) ms = Date.now() - t0;
      if (!t0 && out.includes('begin ')) {
        t0 = Date.now();
        if (o.killAfterMs !== undefined) timer = setTimeout(() => p.kill('SIGKILL'), o.killAfterMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (err += d));
    // 'close', not 'exit': only then has all of its stdout been read.
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL' && code !== 0) return reject(new Error(`churn exited with ${code}: ${err}`));
      resolve({ lines: out.trim().split('\n'), killed: signal === 'SIGKILL', ms });
    });
  });
}

/** A fresh controller reconciles; then the store and the kernel must agree, and every name can be made again. */
async function recover(): Promise<string[]> {
  const c = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
  try {
    const r = await c.reconcile();
    expect(r.errors).toEqual([]);
    await eventually(async () => expect(await problems(c, w.host.name!, prefix)).toEqual([]), 10_000);
    for (const sb of await c.sandboxes()) await sb.delete({ wait: true });
    // An endpoint made but not yet joined when the process died is the store's to keep; the next churn makes it anew.
    for (const n of [net, net2]) for (const ep of await (await c.network(n)).endpoints()) await ep.delete();
    for (let i = 0; i < ROUNDS; i++) {
      const sb = await createSandbox(c, { name: `${prefix}${i}`, mode: { network: net }, ports: ['80'] });
      await sb.delete({ wait: true });
    }
    expect(await problems(c, w.host.name!, prefix)).toEqual([]);
    // Never deleted, and holding nothing of nsnet's once its sandboxes are gone.
    for (const rt of runtimes) expect((await ipj<any[]>(rt.path!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    return r.found;
  } finally {
    c.close();
  }
}

beforeAll(async () => {
  w = await world('cr');
  net = (await w.c.createNetwork(uniq('crn'), { subnets: ['10.181.0.0/24'] })).name;
  net2 = (await w.c.createNetwork(uniq('crm'), { subnets: ['10.182.0.0/24'] })).name;
  // Outside nsnet's run dir, as a runtime keeps its own.
  runtimeDir = mkdtempSync(join(tmpdir(), 'nsnet-crt-'));
  for (let i = 0; i < ROUNDS; i++) runtimes.push(await Netns.create(uniq('crt'), { runDir: runtimeDir }));
  w.c.close();
});

afterAll(async () => {
  await w?.reopen();
  await w?.cleanup();
  for (const rt of runtimes) await rt.delete();
  if (runtimeDir) {
    // Netns.create made the run dir a mount of its own, as `ip netns` does /run/netns.
    execFileSync('umount', ['-l', runtimeDir]);
    rmSync(runtimeDir, { recursive: true, force: true });
  }
});

test(`${KILLS} SIGKILLs at random points of create, join, publish, leave and delete: each time a fresh process reconciles, the store and the kernel agree, nothing is held twice or leaked, and the names can be created again`, async () => {
  // A whole run of each kind first: how many steps it has, and how long it takes.
  const whole = new Map<boolean, { steps: number; ms: number }>();
  for (const external of [false, true]) {
    const run = await churn({ external });
    expect(run.killed).toBe(false);
    expect(run.lines.at(-1)).toBe('finished');
    whole.set(external, { steps: run.lines.filter((l) => l.startsWith('step ')).length, ms: run.ms });
    await recover();
  }
  const at: string[] = [];
  const found: string[] = [];
  let runs = 0;
  for (let k = 0; k < KILLS; runs++) {
    const byStep = runs % 2 === 0;
    const external = runs % 4 >= 2;
    const { steps, ms } = whole.get(external)!;
    const run = byStep ? await churn({ external, killAtStep: 1 + Math.floor(Math.random() * steps) }) : await churn({ external, killAfterMs: Math.random() * ms });
    if (run.killed) {
      k++;
      at.push(`${external ? 'external, ' : ''}${byStep ? 'step' : 'timer'}: ${run.lines.filter((l) => l.startsWith('step ')).at(-1) ?? 'before the first step'}`);
    }
    found.push(...(await recover()));
  }
  console.log(`crash: ${KILLS} kills in ${runs} runs, ${whole.get(false)!.steps} steps per churn (${whole.get(true)!.steps} external); killed at (the last step begun):\n  ${at.join('\n  ')}\nreconcile found:\n  ${found.join('\n  ') || '(nothing)'}`);
}, 600_000);

/** worker.mjs killed at its step killAt: whether it was. */
function killedAt(cfg: Record<string, unknown>): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['test/fixtures/worker.mjs', JSON.stringify({ stateDir: w.stateDir, host: w.host.name, ...cfg })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(true) : code === 0 ? resolve(false) : reject(new Error(`worker exited with ${code}: ${out}`))));
  });
}

test("a network create or delete SIGKILLed at each of its steps: the next reconcile removes it, as the create's rollback or the delete would have, leaves nothing of it, and the name can be made again", async () => {
  const c = await Controller.open({ stateDir: w.stateDir, host: w.host, reconcile: false });
  try {
    const gone = async (name: string, op: string) => {
      const r = await c.reconcile();
      expect(r.errors).toEqual([]);
      expect(r.found.filter((f) => f.startsWith(`network ${name}:`))).toEqual([expect.stringMatching(new RegExp(`^network ${name}: its ${op} was cut short \\(process \\d+ is gone\\): removed$`))]);
      expect((await c.networks()).map((n) => n.name)).not.toContain(name);
      expect(await problems(c, w.host.name!, prefix)).toEqual([]);
    };
    // The first step comes before the record is written: nothing to undo.
    for (const step of ['kernel.network', 'firewall', 'store.driverState']) {
      const name = uniq('crk');
      expect(await killedAt({ job: 'network', name, subnet: '10.183.0.0/24', killAt: step }), step).toBe(true);
      await gone(name, 'create');
      await (await c.createNetwork(name, { subnets: ['10.183.0.0/24'] })).delete();
    }
    for (const step of ['teardown:firewall', 'teardown:kernel.network', 'teardown:store.network']) {
      const name = (await c.createNetwork(uniq('crd'), { subnets: ['10.183.0.0/24'] })).name;
      expect(await killedAt({ job: 'network-rm', names: [name], killAt: step }), step).toBe(true);
      await gone(name, 'delete');
      await (await c.createNetwork(name, { subnets: ['10.183.0.0/24'] })).delete();
    }
    expect(await problems(c, w.host.name!, prefix)).toEqual([]);
  } finally {
    c.close();
  }
});
