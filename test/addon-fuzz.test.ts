// The N-API conversion of specs, fuzzed: arbitrary JS values and mangled
// specs for every argument of every function the addon exports, its handle
// classes' methods called on the wrong objects, hostile objects whose getters
// throw or call back into the addon, and calls in flight together. Each call
// must return, throw or reject with an Error; none may crash the process.
// Under scripts/sanitize.sh the addon is the ASan/UBSan build, so a memory
// error or a leak anywhere on these paths fails the run too.
//
// Everything it changes lives in namespaces it makes itself (anonymous, or
// mounted in a run dir of its own), and it ends with every one of them
// released and as many fds open as before.
//   NSNET_ADDON_FUZZ_CALLS=100000 NSNET_ADDON_FUZZ_SEED=7 scripts/sanitize.sh test/addon-fuzz.test.ts   (a long run)
import { execFileSync } from 'node:child_process';
import { closeSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { expect, test } from 'vitest';

import { native } from '../src/native.js';
import { shapes } from '../src/native-shapes.js';
import { eventually } from './cnm-helpers.js';
import { prng, Values } from './fuzz-values.js';
import { fdCount } from './helpers.js';

const CALLS = Number(process.env.NSNET_ADDON_FUZZ_CALLS ?? 1500);
const SEED = Number(process.env.NSNET_ADDON_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

type Fn = (...args: unknown[]) => unknown;
const addon = native as unknown as Record<string, Fn> & { NetnsHandle: { prototype: object } };

test(`every addon function, given arbitrary values and mangled specs, returns or fails with an Error and never crashes (seed ${SEED}, ${CALLS} calls)`, async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'nsnet-fuzz-'));
  // The first watch starts the addon's event thread, with an epoll fd and an
  // eventfd, and the first reset step the recycle thread, with its home
  // namespace's fd; both last as long as the process: count fds after that.
  const warm = (await native.nsCreate(runDir, null)).handle;
  (await native.watchOpen(warm, { what: 1, rcvbuf: 65536, queueLimit: 16, batch: 16, list: false }, () => {})).close();
  await native.resetStep(warm, {});
  warm.close();
  const fds = await fdCount();
  const v = new Values(prng(SEED), {
    handles: () => own,
    others: () => others,
    sideEffect: () => sideEffect(),
  });
  let own: object[] = [];
  const others: object[] = [];
  const named = new Set<string>();
  const watches: { close(): void; pull(): void }[] = [];
  const failures: string[] = [];
  let settled = 0;
  // Per function: calls that worked, and failures by message (NSNET_ADDON_FUZZ_STATS=1 prints them).
  const outcomes: Record<string, { ok: number; errors: Record<string, number> }> = {};
  const count = (name: string, e?: Error) => {
    const o = (outcomes[name] ??= { ok: 0, errors: {} });
    if (!e) o.ok++;
    else o.errors[e.message.replace(/[0-9]+/g, 'N').slice(0, 60)] = (o.errors[e.message.replace(/[0-9]+/g, 'N').slice(0, 60)] ?? 0) + 1;
  };

  // What a hostile getter does while the addon reads it.
  const sideEffect = () => {
    const r = v.int(4);
    if (r === 0 && own.length) {
      const h = own.splice(v.int(own.length), 1)[0] as { close(): void };
      h.close();
      others.push(h);
    } else if (r === 1) {
      void Promise.resolve(addon.exec!([{ ns: v.handle(), ops: [v.op()] }])).catch(() => {});
    } else if (r === 2) {
      addon.stats!();
    } else {
      others.push(addon.newHandle!() as object);
    }
  };

  // Takes what a call gave back, so nothing outlives the test.
  const keep = (name: string, r: unknown, args: unknown[]) => {
    if (name === 'nsCreate') {
      own.push((r as { handle: object }).handle);
      if (typeof args[1] === 'string') named.add(join(args[0] as string, args[1]));
      while (own.length > 6) {
        const h = own.shift() as { close(): void };
        h.close();
        others.push(h);
      }
    } else if (name === 'nsOpen') {
      (r as { close(): void }).close(); // maybe not ours: never acted on
    } else if (name === 'socketIn') {
      closeSync(r as number);
    } else if (name === 'watchOpen') {
      const w = r as { close(): void; pull(): void };
      watches.push(w);
      others.push(w);
      if (watches.length > 4) watches.shift()!.close();
    } else if (name === 'newHandle') {
      others.push(r as object);
    } else if (name === 'sysctlDump' || (name === 'snapshot' && (r as { extras?: object }).extras)) {
      // What the addon holds for JS (tagged by kind): given back later, to the right argument or the wrong one.
      held.push(name === 'snapshot' ? (r as { extras: object }).extras : (r as object));
      if (held.length > 4) held.shift();
    }
  };
  const held: object[] = [];
  const heldOrAny = () => (held.length && v.chance(0.7) ? v.pick(held) : v.any());

  const safeName = () => v.pick(['fza', 'fzb', 'fzc', '', '.', 'a'.repeat(300), 'x y', 'fz\u00e9']);
  const sysctlKey = () => v.pick(['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.ping_group_range']);
  const args: Record<string, () => unknown[]> = {
    exec: () => [v.groups()],
    nsCreate: () => [v.chance(0.9) ? runDir : join(runDir, 'sub'), v.chance(0.6) ? null : v.chance(0.8) ? safeName() : v.any(),
      v.chance(0.5) ? addon.newHandle!() : v.any(), v.chance(0.7) ? v.groups() : undefined],
    nsOpen: () => [v.chance(0.5) ? v.pick(['/proc/self/ns/net', '/proc/self/ns/mnt', '/nonexistent', '', '/dev/null', join(runDir, 'fza')]) : v.any()],
    nsRelease: () => [runDir, safeName()],
    // Writes only net.* keys that are per namespace, and only in the fuzzer's own.
    sysctl: () => (v.chance(0.3) && own.length ? [v.pick(own), sysctlKey(), v.string()] : [v.handle(), v.chance(0.5) ? sysctlKey() : v.any()]),
    socketIn: () => [v.handle(), v.any(), v.pick(['tcp', 'udp', v.any()]), v.chance(0.5) ? v.ip() : v.any(), v.chance(0.5) ? v.int(70000) : v.any()],
    links: () => [v.handle(), v.any(), v.any()],
    addrs: () => [v.handle(), v.any(), v.any()],
    routes: () => [v.handle(), v.any(), v.any()],
    nftTransact: () => [v.handle(), v.chance(0.9) ? Array.from({ length: v.int(6) }, () => v.nftOp()) : v.any(), v.any()],
    nftList: () => [v.handle(), v.pick(['gen', 'tables', 'chains', 'sets', 'rules', 'elems', v.string()]), v.any(), v.any(), v.any()],
    watchOpen: () => [v.handle(), v.mutate({ what: v.int(32), rcvbuf: v.number(), queueLimit: v.number(), batch: v.number(), list: v.chance(0.5) }),
      v.chance(0.9) ? () => {} : v.any()],
    stats: () => [v.any()],
    newHandle: () => [],
    // Put back before anything converts again (see one()): what a shape's
    // function that throws does is shapes.test.ts's to prove.
    setShapes: () => [v.chance(0.6) ? v.mutate({ ...shapes }) : v.any()],
    shapeKeys: () => [v.any()],
    snapshot: () => [v.handle(), v.any()],
    sysctlDump: () => [v.handle()],
    // A reset acts only in the fuzzer's own namespaces (v.handle()).
    resetStep: () => [v.handle(), v.chance(0.8) ? v.mutate({ clear: v.chance(0.5), extras: heldOrAny(), sysctls: heldOrAny(), ...(v.chance(0.3) ? { groups: v.groups() } : {}) }) : v.any()],
  };

  // A handle class's methods and getters, on any object.
  const methods = (): [string, Fn][] => {
    const out: [string, Fn][] = [];
    const protos = [addon.NetnsHandle.prototype, ...watches.slice(0, 1).map((w) => Object.getPrototypeOf(w) as object)];
    for (const p of protos)
      for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(p))) {
        if (k === 'constructor') continue;
        const f = (d.value ?? d.get) as Fn | undefined;
        if (typeof f === 'function') out.push([k, f]);
      }
    return out;
  };

  const one = async (i: number): Promise<void> => {
    let name: string;
    let call: () => unknown;
    if (v.chance(0.1)) {
      const ms = methods();
      const [k, f] = v.pick(ms);
      const self = v.chance(0.5) ? v.handle() : v.any();
      name = `method ${k}`;
      call = () => f.call(self);
    } else {
      name = v.pick(Object.keys(args));
      const a = args[name]!();
      call = async () => {
        try {
          const r = await addon[name]!(...a);
          keep(name, r, a);
          return r;
        } finally {
          if (name === 'setShapes') native.setShapes(shapes);
        }
      };
    }
    try {
      await call();
      count(name);
    } catch (e) {
      if (!(e instanceof Error)) failures.push(`call ${i} (${name}) threw a non-Error: ${String(e)}`);
      else count(name, e);
    }
    settled++;
  };

  for (let i = 0; i < CALLS; ) {
    // Keep a namespace or two to act in, so most specs get past their handle.
    if (own.length < 2) own.push((await native.nsCreate(runDir, null)).handle);
    // Now and then several in flight at once, as an application would have them.
    const n = v.chance(0.1) ? 2 + v.int(6) : 1;
    await Promise.all(Array.from({ length: n }, (_, k) => one(i + k)));
    i += n;
    if (v.chance(0.05)) for (const w of watches) w.pull();
  }

  for (const w of watches) w.close();
  for (const h of own as { close(): void }[]) h.close();
  own = [];
  const sub = join(runDir, 'sub');
  const listed = async (d: string) => (await readdir(d).catch(() => [] as string[])).filter((n) => n !== 'sub').map((n) => join(d, n));
  for (const path of new Set([...named, ...(await listed(runDir)), ...(await listed(sub))]))
    await Promise.resolve(addon.nsRelease!(dirname(path), basename(path))).catch(() => {});
  const left = (await readdir(runDir, { recursive: true })).filter((n) => n !== 'sub');
  // The run dir itself is a bind mount (the addon makes it a shared mount, as `ip netns` does).
  for (const d of [sub, runDir]) {
    try {
      execFileSync('umount', ['-l', d], { stdio: 'ignore' });
    } catch {
      // not a mount point
    }
  }
  await rm(runDir, { recursive: true, force: true });

  if (process.env.NSNET_ADDON_FUZZ_STATS) writeFileSync(process.env.NSNET_ADDON_FUZZ_STATS, JSON.stringify(outcomes, null, 1));
  expect(failures).toEqual([]);
  expect(settled).toBeGreaterThanOrEqual(CALLS);
  expect(left).toEqual([]);
  // Every socket, namespace fd and watch is closed again (the kernel and the
  // Hub thread let go of a closed one a moment later).
  await eventually(async () => expect(await fdCount()).toBeLessThanOrEqual(fds), 10_000);
}, 600_000);

// What the fuzzer found, kept as cases: each crashed the process before its fix.
test('a watch handle where a namespace handle belongs, a method on the other class, and an array 2^32-1 long are refused with a TypeError', async () => {
  const ns = (await native.nsCreate('/run/netns', null)).handle;
  const w = await native.watchOpen(ns, { what: 1, rcvbuf: 65536, queueLimit: 16, batch: 16, list: false }, () => {});
  try {
    // napi_unwrap alone took the watch for a namespace (a type tag now tells them apart).
    await expect(async () => native.links(w as unknown as typeof ns, 0, '')).rejects.toThrow(TypeError);
    expect(() => (Object.getPrototypeOf(w) as { stats: Fn }).stats.call(ns)).toThrow(TypeError);
    expect(() => Object.getOwnPropertyDescriptor(addon.NetnsHandle.prototype, 'fd')!.get!.call(w)).toThrow(TypeError);
    // The length was reserved up front: std::bad_alloc, then abort.
    await expect(async () => native.exec(new Array(2 ** 32 - 1))).rejects.toThrow(TypeError);
    await expect(async () => native.exec([{ ns, ops: new Array(2 ** 32 - 1) }])).rejects.toThrow(Error);
    expect(await native.links(ns, 0, '')).toMatchObject({ errno: 0, items: [{ name: 'lo' }] });
  } finally {
    w.close();
    ns.close();
  }
});
