// Micro-benchmarks with benchmark.js, run in a fresh namespace by
// bench/run.ts (peer 'micro'): the JS-side codec (a sandbox's rtnetlink
// batch and a published port's nf_tables element, built into the addon's
// shape), one round trip through the public API (set a link up, read one
// link), an IPAM allocation, a store transaction and a sandbox's files
// (written synchronously on the JS thread, each file a few syscalls on a
// tmpfs, as /run is). bench/run.ts puts the C
// floor's figure for the same work beside them where one exists (floor
// --encode, floor --op).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type BenchmarkT from 'benchmark';
import { Batch, Netns, SqliteStore, type NftOp, type SandboxRecord } from 'nsnet';

// Not part of the public API: loaded from the build, typed from its declarations.
type IpamModule = typeof import('../dist/ipam/ipam.js');
type FilesModule = typeof import('../dist/cnm/files.js');

const require = createRequire(import.meta.url);
const Benchmark = require('benchmark') as typeof BenchmarkT;

export interface MicroResult {
  group: 'codec' | 'round trip' | 'ipam' | 'store' | 'files';
  name: string;
  /** Mean time per operation, microseconds (benchmark.js). */
  meanUs: number;
  /** Median of benchmark.js's samples (each a cycle's mean), microseconds. */
  medianUs: number;
  /** Relative margin of error of the mean, percent. */
  rme: number;
  samples: number;
}

interface Case {
  group: MicroResult['group'];
  name: string;
  fn: () => unknown;
  /** The function returns a promise: benchmark.js's deferred mode. */
  async?: boolean;
}

function run(cases: Case[], maxTime: number): Promise<MicroResult[]> {
  return new Promise((resolve, reject) => {
    const suite = new Benchmark.Suite();
    for (const c of cases) {
      if (c.async) {
        suite.add(c.name, { defer: true, maxTime, fn: (d: BenchmarkT.Deferred) => void (c.fn() as Promise<unknown>).then(() => d.resolve(), reject) });
      } else {
        suite.add(c.name, c.fn, { maxTime });
      }
    }
    suite.on('error', (e: BenchmarkT.Event) => reject((e.target as unknown as { error: unknown }).error));
    suite.on('complete', function (this: BenchmarkT.Suite) {
      const out: MicroResult[] = [];
      this.forEach((b: BenchmarkT) => {
        const c = cases.find((x) => x.name === b.name)!;
        const sorted = [...b.stats.sample].sort((x, y) => x - y);
        out.push({
          group: c.group,
          name: c.name,
          meanUs: b.stats.mean * 1e6,
          medianUs: sorted[sorted.length >> 1]! * 1e6,
          rme: b.stats.rme,
          samples: b.stats.sample.length,
        });
      });
      resolve(out);
    });
    suite.run({ async: true });
  });
}

/** A published port's element, as the firewall adds it (dnat4: address . proto . port -> address . port). */
const DNAT_ELEMENT: NftOp = {
  verb: 'add',
  elements: {
    set: { family: 'inet', table: 'nsnet', name: 'dnat4', key: ['ipv4_addr', 'inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] },
    elements: [{ key: ['192.0.2.10', 'tcp', 8080], data: ['172.18.0.2', 80] }],
  },
};

const record = (i: number): SandboxRecord => ({
  id: i.toString(16).padStart(64, '0'), name: `micro${i}`, netnsKind: 'own', netnsPath: `/run/netns/micro${i}`, ownerId: null,
  hostname: `micro${i}`, dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], filesDir: `/run/nsnet/x/micro${i}`, labels: {},
  created: '2026-01-01T00:00:00Z', pid: process.pid,
});

export async function runMicro(o: { maxTime?: number } = {}): Promise<MicroResult[]> {
  const maxTime = o.maxTime ?? 1;
  const host = await Netns.host();
  const ipam = (await import(new URL('../../dist/ipam/ipam.js', import.meta.url).href)) as IpamModule;
  const files = (await import(new URL('../../dist/cnm/files.js', import.meta.url).href)) as FilesModule;
  const dir = mkdtempSync(join(tmpdir(), 'nsnet-micro-'));
  // Where a Controller keeps them by default: /run, a tmpfs.
  const filesRoot = mkdtempSync('/run/nsnet-micro-');
  const dirs = { filesRoot, etcDir: join(filesRoot, 'etc') };
  const endpoint = [{ addresses: ['10.210.0.2/16'], aliases: ['web'] }];
  const store = new SqliteStore(dir);
  try {
    // A /16 with 1000 addresses taken: allocation resumes after the last
    // one handed out, so this is its steady state.
    const pool = new ipam.Pool('micro/10.210.0.0/16', { subnet: '10.210.0.0/16', gateway: '10.210.0.1', ipRange: null, excluded: [] });
    await store.update((t) => {
      for (let i = 0; i < 1000; i++) pool.allocate(t, `held${i}`);
    });
    let n = 0;
    const cases: Case[] = [
      {
        group: 'codec',
        name: "a sandbox's rtnetlink batch (veth, addrgen, up; eth0 addrgen, up, address, route)",
        fn: () =>
          new Batch(host)
            .addVeth({ name: 'nsv0', master: 2, peer: { name: 'eth0', netns: host } })
            .setLink('nsv0', { addrGenMode: 'none' })
            .setUp('nsv0')
            .in(host)
            .setLink('eth0', { addrGenMode: 'none' })
            .setUp('eth0')
            .addAddress('eth0', '10.200.0.2/16')
            .addRoute({ dst: 'default', gateway: '10.200.0.1' })
            .take(),
      },
      { group: 'codec', name: "a published port's nf_tables element (dnat4 add)", fn: () => new Batch(host).nftables([DNAT_ELEMENT]).take() },
      { group: 'round trip', name: 'set a link up (lo)', fn: () => host.links.setUp(1), async: true },
      { group: 'round trip', name: 'read one link (lo)', fn: () => host.links.get(1), async: true },
      {
        group: 'ipam',
        name: 'allocate and release one address (/16, 1000 taken), in one store transaction',
        fn: () => store.update((t) => t.release(pool.key, pool.allocate(t, 'micro'))),
        async: true,
      },
      { group: 'store', name: 'write transaction: one sandbox record', fn: () => store.update((t) => t.putSandbox(record(n++ % 100))), async: true },
      { group: 'store', name: 'read transaction: one sandbox by name', fn: () => store.view((t) => t.sandbox('micro1')), async: true },
      {
        group: 'files',
        name: "a new sandbox's files: its dir, resolv.conf, hosts, hostname and /etc/netns link (5 writes)",
        fn: () => {
          const i = n++;
          files.writeSandboxFiles(dirs, { ...record(i), filesDir: join(filesRoot, `s${i}`) }, endpoint);
        },
      },
    ];
    return await run(cases, maxTime);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(filesRoot, { recursive: true, force: true });
  }
}
