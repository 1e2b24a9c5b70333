// Name resolution. (1) What a resolver adds to a sandbox's create, paired in
// one process: sandboxes of a controller that serves names (in this
// process with dns: true, or through `nsnet daemon`) alternate with those
// of a controller that serves none (dns: false), each on a user network of
// its own store, and each pair's difference is the cost. (2) Queries from
// inside sandboxes to their resolvers, served by `nsnet daemon` (its own
// process, as deployed), from one client process whose sockets are opened
// in the sandboxes' namespaces: one at a time for latency, and pipelined
// over 100 sandboxes for throughput.
import type dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import dnsPacket from 'dns-packet';
import { Controller, Netns, type Sandbox } from 'nsnet';

import { daemon } from '../lib/daemon.js';

export interface DnsCreateRun {
  mode: 'embedded' | 'daemon';
  /** Per pair: ms with a resolver minus ms without. */
  pairMs: number[];
  withMs: number[];
  withoutMs: number[];
}

export interface DnsQueryRun {
  /** One query at a time from one sandbox, ms each. */
  latencyMs: number[];
  /** Pipelined from every sandbox: answers a second. */
  qps: number;
  sandboxes: number;
  /** Answers that were not the one address asked for (must be 0). */
  wrong: number;
}

async function withDaemon<T>(fn: (stateDir: string, socket: string) => Promise<T>): Promise<T> {
  const tmp = mkdtempSync(join(tmpdir(), 'nsnet-bench-dns-'));
  const stateDir = join(tmp, 'state');
  const socket = join(tmp, 'dns.sock');
  const stop = await daemon(['--dns-socket', socket, '--cni-socket', join(tmp, 'cni.sock'), '--state-dir', stateDir]);
  try {
    return await fn(stateDir, socket);
  } finally {
    await stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function runDnsCreate(o: { n: number; mode: 'embedded' | 'daemon' }): Promise<DnsCreateRun> {
  const plainDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-dns-plain-'));
  const measure = async (stateDir: string, dns: boolean | { socket: string }): Promise<DnsCreateRun> => {
    const served = await Controller.open({ stateDir, dns });
    const plain = await Controller.open({ stateDir: plainDir, dns: false });
    try {
      if ((await served.nameResolution()) !== o.mode) throw new Error(`names are served by ${await served.nameResolution()}, not ${o.mode}`);
      await served.createNetwork('named', { subnets: ['10.201.0.0/16'] });
      await plain.createNetwork('plain', { subnets: ['10.202.0.0/16'] });
      // One of each first, outside the timing: every first call pays for loading.
      for (const [c, net] of [[served, 'named'], [plain, 'plain']] as const) await (await c.createSandbox(`w${net}`, { networks: [net] })).delete();
      const run: DnsCreateRun = { mode: o.mode, pairMs: [], withMs: [], withoutMs: [] };
      const made: Sandbox[] = [];
      for (let i = 0; i < o.n; i++) {
        const ms: Record<string, number> = {};
        for (const named of i % 2 ? [false, true] : [true, false]) {
          const t0 = performance.now();
          made.push(await (named ? served : plain).createSandbox(`${named ? 'dn' : 'dp'}${i}`, { networks: [named ? 'named' : 'plain'] }));
          ms[String(named)] = performance.now() - t0;
        }
        run.withMs.push(ms.true!);
        run.withoutMs.push(ms.false!);
        run.pairMs.push(ms.true! - ms.false!);
      }
      for (const sb of made) await sb.delete();
      return run;
    } finally {
      served.close();
      plain.close();
      rmSync(plainDir, { recursive: true, force: true });
    }
  };
  if (o.mode === 'daemon') return withDaemon((stateDir, socket) => measure(stateDir, { socket }));
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-dns-'));
  try {
    return await measure(stateDir, true);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** A connected UDP socket inside a sandbox, as a stub resolver's. */
async function client(sb: Sandbox): Promise<dgram.Socket> {
  const ns = await Netns.openPath(sb.netnsPath);
  const s = await ns.bindUdp(0, '127.0.0.1');
  ns.close();
  await new Promise<void>((resolve) => s.connect(53, '127.0.0.11', resolve));
  return s;
}

export async function runDnsQuery(o: { sandboxes: number; latencyN: number; seconds: number; window: number }): Promise<DnsQueryRun> {
  return withDaemon(async (stateDir, socket) => {
    const c = await Controller.open({ stateDir, dns: { socket } });
    try {
      if ((await c.nameResolution()) !== 'daemon') throw new Error('the daemon does not serve names');
      await c.createNetwork('q', { subnets: ['10.203.0.0/16'] });
      const sbs: Sandbox[] = [];
      for (let i = 0; i < o.sandboxes; i++) sbs.push(await c.createSandbox(`q${i}`, { networks: ['q'] }));
      const addrs = await Promise.all(sbs.map(async (s) => (await s.info()).endpoints[0]!.addresses[0]!.split('/')[0]!));
      const socks = await Promise.all(sbs.map(client));
      // Sandbox i asks for the next one's name; its answer must be that one's address.
      const queries = sbs.map((_, i) => dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `q${(i + 1) % sbs.length}` }] }));
      let wrong = 0;
      const check = (i: number, m: Buffer) => {
        const a = (dnsPacket.decode(m).answers ?? []) as { data?: unknown }[];
        if (a.length !== 1 || a[0]!.data !== addrs[(i + 1) % sbs.length]) wrong++;
      };

      // Latency: one query at a time from the first sandbox.
      const latencyMs: number[] = [];
      const one = socks[0]!;
      for (let k = 0; k < o.latencyN + 200; k++) {
        const got = new Promise<Buffer>((resolve) => one.once('message', resolve));
        const t0 = performance.now();
        one.send(queries[0]!);
        const m = await got;
        if (k >= 200) latencyMs.push(performance.now() - t0);
        check(0, m);
      }

      // Throughput: `window` queries outstanding per sandbox, each answer sending the next.
      let answered = 0;
      let running = true;
      socks.forEach((s, i) =>
        s.on('message', (m) => {
          answered++;
          if ((answered & 63) === 0) check(i, m);
          if (running) s.send(queries[i]!);
        }),
      );
      const t0 = performance.now();
      for (const [i, s] of socks.entries()) for (let k = 0; k < o.window; k++) s.send(queries[i]!);
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      const qps = answered / ((performance.now() - t0) / 1000);
      running = false;
      for (const s of socks) s.close();
      for (const sb of sbs) await sb.delete();
      return { latencyMs, qps, sandboxes: sbs.length, wrong };
    } finally {
      c.close();
    }
  });
}
