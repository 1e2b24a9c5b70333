// The leak soak: create+delete cycles through the Controller (a sandbox on
// a network, with a published port) and through the low-level API (a
// namespace with a veth into a bridge, an address, a route and an nf_tables
// element, in one trip), with what a leak would grow read at the start and
// after each quarter: fds, RSS, the store's size and rows, and the kernel's
// objects (links, mounted namespaces, nf_tables elements), the kernel's read
// with `ip -j` and `nft -j`, not with nsnet.
//
// `npm run bench -- --soak 10000` runs it as its own suite (bench/run.ts);
// test/soak.test.ts runs 500 cycles and asserts that everything but RSS
// comes back exactly. The nsnet module is a parameter, so the benchmark
// passes the package and the test its sources.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { promisify } from 'node:util';

import type * as Nsnet from 'nsnet';

const run = promisify(execFile);

export interface SoakReading {
  /** Cycles done when read. */
  cycle: number;
  fds: number;
  rssMiB: number;
  /** V8's heap in use (after a collection): what of RSS is JS objects. */
  heapMiB: number;
  /** V8's heap as committed (heapTotal), and memory outside it that JS objects hold (external): the rest of RSS is native. */
  heapTotalMiB: number;
  externalMiB: number;
  /** nsnet.db and its -wal and -shm, bytes (Controller only; 0 for the low-level API). */
  storeBytes: number;
  /** Rows of the store's sandboxes, endpoints and allocations tables. */
  storeRows: number;
  /** In the soak's host namespace. */
  links: number;
  /** Mounted in the soak's run dir. */
  namespaces: number;
  /** In every set of every table of the host namespace. */
  nftElements: number;
}

export interface SoakRun {
  api: 'controller' | 'netns';
  cycles: number;
  perCycleMs: number;
  start: SoakReading;
  /** After each quarter of the cycles. */
  quarters: SoakReading[];
}

export interface SoakOptions {
  api: 'controller' | 'netns';
  cycles: number;
  /** The namespace that plays the host: a named one of the test's, or the process's own (the benchmark's fresh one). */
  host: Nsnet.Netns;
  /** Where namespaces are mounted; a fresh directory of its own is best, so only the soak's are counted. */
  runDir: string;
  /** 0-255: the 10.<net>.0.0/16 the soak's sandboxes live in. */
  net: number;
}

/** gc(), even without --expose-gc: RSS read after a collection says what is held, not what is garbage. */
function collector(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function ipj(ns: string | null, ...args: string[]): Promise<unknown[]> {
  const { stdout } = await run('ip', [...(ns ? ['-n', ns] : []), '-j', ...args]);
  return stdout.trim() ? (JSON.parse(stdout) as unknown[]) : [];
}

async function nftElements(ns: string | null): Promise<number> {
  const cmd = ns ? ['ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset']] : ['nft', ['-j', 'list', 'ruleset']];
  const { stdout } = await run(cmd[0] as string, cmd[1] as string[]);
  const items = (JSON.parse(stdout) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
  return items.reduce((n, it) => n + ((it.set ?? it.map)?.elem?.length ?? 0), 0);
}

async function bytesOf(dir: string | null): Promise<number> {
  if (!dir) return 0;
  let n = 0;
  for (const f of ['nsnet.db', 'nsnet.db-wal', 'nsnet.db-shm']) n += await stat(join(dir, f)).then((s) => s.size, () => 0);
  return n;
}

/**
 * Reads the kernel until two readings in a row agree: a released namespace's
 * devices go when the kernel gets to them, not when delete() returns.
 */
async function settledKernel(host: string | null, runDir: string, limitMs = 30_000): Promise<{ links: number; namespaces: number; nftElements: number }> {
  const read = async () => ({
    links: (await ipj(host, 'link', 'show')).length,
    namespaces: (await readdir(runDir).catch(() => [])).length,
    nftElements: await nftElements(host),
  });
  let prev = await read();
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    const cur = await read();
    if (JSON.stringify(cur) === JSON.stringify(prev)) return cur;
    prev = cur;
  }
  return prev;
}

const TABLE = { family: 'inet', table: 'nsnetsoak' } as const;
const SET: Nsnet.SetSpec = { ...TABLE, name: 'soak', key: 'ipv4_addr' };

/** Runs the soak and returns its readings. Leaves nothing behind (its network, bridge, table, state dir). */
export async function runSoak(nsnet: typeof Nsnet, o: SoakOptions): Promise<SoakRun> {
  const gc = collector();
  const hostName = o.host.name ?? null;
  const stateDir = o.api === 'controller' ? await mkdtemp(join(tmpdir(), 'nsnet-soak-')) : null;
  const addr = (i: number) => `10.${o.net}.${1 + ((i >> 8) % 250)}.${1 + (i % 250)}`;
  let cycle: (i: number) => Promise<void>;
  let rows: () => Promise<number> = async () => 0;
  let done: () => Promise<void>;

  if (o.api === 'controller') {
    const c = await nsnet.Controller.open({ stateDir: stateDir!, host: o.host, runDir: o.runDir });
    await c.createNetwork(`soak${o.net}`, { subnets: [`10.${o.net}.0.0/16`] });
    cycle = async (i) => {
      const sb = await nsnet.createSandbox(c, { name: `soak${o.net}-${i}`, mode: { network: `soak${o.net}` }, ports: [`${20000 + (i % 1000)}:80`] });
      await sb.delete();
    };
    rows = () =>
      c.store.view((t) => {
        const nets = t.networks();
        return t.sandboxes().length + t.endpoints().length + nets.reduce((n, x) => n + x.subnets.reduce((m, s) => m + t.allocations(`${x.id}/${s.subnet}`).length, 0), 0);
      });
    done = async () => {
      await (await c.network(`soak${o.net}`)).delete({ force: true });
      c.close();
    };
  } else {
    const br = `soakbr${o.net}`;
    await o.host.links.addBridge({ name: br, up: true });
    await o.host.addresses.add(br, `10.${o.net}.0.1/16`);
    const nft = new nsnet.Nftables(o.host);
    await nft.commit([{ verb: 'add', table: { family: 'inet', name: TABLE.table } }, { verb: 'add', set: SET }]);
    cycle = async (i) => {
      // Its own name: a released namespace's veth goes when the kernel gets to it.
      const v = `sv${o.net}x${i}`;
      const ns = await nsnet.Netns.create(`soak${o.net}-${i}`, {
        runDir: o.runDir,
        then: (sb) =>
          o.host
            .batch()
            .addVeth({ name: v, master: br, peer: { name: 'eth0', netns: sb } })
            .setLink(v, { addrGenMode: 'none' })
            .setUp(v)
            .in(sb)
            .setLink('eth0', { addrGenMode: 'none' })
            .setUp('eth0')
            .addAddress('eth0', `${addr(i)}/16`)
            .addRoute({ dst: 'default', gateway: `10.${o.net}.0.1` })
            // Last, as CreateOptions.then asks: releasing the namespace cannot undo it.
            .in(o.host)
            .nftables([{ verb: 'add', elements: { set: SET, elements: [{ key: addr(i) }] } }]),
      });
      await nft.commit([{ verb: 'delete', elements: { set: SET, elements: [{ key: addr(i) }] } }]);
      await ns.delete();
    };
    done = async () => {
      await nft.commit([{ verb: 'delete', table: { family: 'inet', name: TABLE.table } }]);
      await o.host.links.delete(br);
    };
  }

  const read = async (n: number): Promise<SoakReading> => {
    gc();
    const k = await settledKernel(hostName, o.runDir);
    return {
      cycle: n,
      fds: (await readdir('/proc/self/fd')).length,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
      heapTotalMiB: process.memoryUsage().heapTotal / 2 ** 20,
      externalMiB: process.memoryUsage().external / 2 ** 20,
      storeBytes: await bytesOf(stateDir),
      storeRows: await rows(),
      ...k,
    };
  };

  try {
    // Warm-up, not counted: threads, caches, JIT, the store's first pages.
    for (let i = 0; i < 20; i++) await cycle(o.cycles + i);
    const start = await read(0);
    const quarters: SoakReading[] = [];
    let busyMs = 0;
    for (let q = 1; q <= 4; q++) {
      const t0 = performance.now();
      for (let i = Math.floor(((q - 1) * o.cycles) / 4); i < Math.floor((q * o.cycles) / 4); i++) await cycle(i);
      busyMs += performance.now() - t0;
      quarters.push(await read(Math.floor((q * o.cycles) / 4)));
    }
    return { api: o.api, cycles: o.cycles, perCycleMs: busyMs / o.cycles, start, quarters };
  } finally {
    await done();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  }
}

/** The readings as a table, one row per reading. */
export function soakTable(r: SoakRun): string[][] {
  const row = (x: SoakReading, label: string) => [label, String(x.cycle), String(x.fds), x.rssMiB.toFixed(1), x.heapMiB.toFixed(1), x.heapTotalMiB.toFixed(1), x.externalMiB.toFixed(1), (x.storeBytes / 1024).toFixed(0), String(x.storeRows),
    String(x.links), String(x.namespaces), String(x.nftElements)];
  return [
    ['', 'cycles', 'fds', 'RSS MiB', 'heap used', 'heap total', 'external', 'store KiB', 'store rows', 'links', 'netns', 'nft elements'],
    row(r.start, 'start'),
    ...r.quarters.map((x, i) => row(x, `Q${i + 1}`)),
  ];
}
