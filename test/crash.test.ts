// Crash consistency: a process driving a Controller (fixtures/churn.mjs:
// create with a published port, join, leave, delete) is SIGKILLed at
// random points, half of them at a step boundary chosen by the fault hook,
// half by a timer from outside (inside a kernel trip, a store write, a
// file write). After each kill a fresh controller reconciles, and then the
// store and the kernel agree (consistency.ts: ip -j, nft -j, /run/netns, the
// files), no address or host port is held twice or leaked, and the names
// the dead process used can be created again. NSNET_CRASH_KILLS sets the
// number of kills (scripts/crash-soak.sh runs the long version).
import { spawn } from 'node:child_process';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Controller, createSandbox } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { uniq } from './helpers.js';

const KILLS = Number(process.env.NSNET_CRASH_KILLS ?? 20);
const ROUNDS = 2;
let w: World;
let net: string;
let net2: string;
const prefix = uniq('cr');

interface Run {
  lines: string[];
  killed: boolean;
  /** From the first round's start to the last one's end. */
  ms: number;
}

function churn(o: { killAtStep?: number; killAfterMs?: number; rounds?: number }): Promise<Run> {
  const cfg = { stateDir: w.stateDir, host: w.host.name, network: net, network2: net2, prefix, rounds: o.rounds ?? ROUNDS, ports: ['80', '8400-8499:81'], killAtStep: o.killAtStep };
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
    p.on('exit', (code, signal) => {
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
    return r.found;
  } finally {
    c.close();
  }
}

beforeAll(async () => {
  w = await world('cr');
  net = (await w.c.createNetwork(uniq('crn'), { subnets: ['10.181.0.0/24'] })).name;
  net2 = (await w.c.createNetwork(uniq('crm'), { subnets: ['10.182.0.0/24'] })).name;
  w.c.close();
});

afterAll(async () => {
  await w?.reopen();
  await w?.cleanup();
});

test(`${KILLS} SIGKILLs at random points of create, join, publish, leave and delete: each time a fresh process reconciles, the store and the kernel agree, nothing is held twice or leaked, and the names can be created again`, async () => {
  const whole = await churn({});
  expect(whole.killed).toBe(false);
  expect(whole.lines.at(-1)).toBe('finished');
  const steps = whole.lines.filter((l) => l.startsWith('step ')).length;
  await recover();
  const at: string[] = [];
  const found: string[] = [];
  let runs = 0;
  for (let k = 0; k < KILLS; runs++) {
    const byStep = runs % 2 === 0;
    const run = byStep ? await churn({ killAtStep: 1 + Math.floor(Math.random() * steps) }) : await churn({ killAfterMs: Math.random() * whole.ms });
    if (run.killed) {
      k++;
      at.push(`${byStep ? 'step' : 'timer'}: ${run.lines.filter((l) => l.startsWith('step ')).at(-1) ?? 'before the first step'}`);
    }
    found.push(...(await recover()));
  }
  console.log(`crash: ${KILLS} kills in ${runs} runs, ${steps} steps per churn; killed at (the last step begun):\n  ${at.join('\n  ')}\nreconcile found:\n  ${found.join('\n  ') || '(nothing)'}`);
}, 600_000);
