// The addon's objects (links, addresses, routes, rules, neighbours, FDB
// entries, sockets, replies) are built by JS functions registered at load
// (src/native-shapes.ts), which take their fields by position. What they
// build must be what the addon builds without them, field for field and in
// the same order.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { native, type NativeNetns } from '../src/native.js';
import { shapes } from '../src/native-shapes.js';
import { ip as ipn, uniq } from './helpers.js';

type Shape = keyof typeof shapes;
const execFileAsync = promisify(execFile);

describe('object shapes', () => {
  test("each shape's function puts every field where the addon's order names it, and makes no other", () => {
    const keys = native.shapeKeys();
    expect(Object.keys(keys).sort()).toEqual(Object.keys(shapes).sort());
    for (const name of Object.keys(shapes) as Shape[]) {
      const k = keys[name];
      expect(k.length, name).toBeGreaterThan(2);
      // Each field given its own name as value: a field in the wrong place shows.
      const made = (shapes[name] as (...a: unknown[]) => Record<string, unknown>)(...k);
      expect(Object.keys(made), name).toEqual(k);
      for (const key of k) expect(made[key], `${name}.${key}`).toBe(key);
    }
  });

  test('a namespace of every kind of object reads the same, field for field and in order, with the functions and without them', async () => {
    const name = uniq('shp');
    const ns = await Netns.create(name);
    const ip = (...args: string[]) => ipn(name, ...args);
    // A listening TCP socket, held by a process in the namespace.
    const holder = spawn('ip', ['netns', 'exec', name, 'python3', '-c', "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',5555))\ns.listen()\nprint('up',flush=True)\ntime.sleep(60)"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res, rej) => {
        holder.stdout!.once('data', () => res());
        holder.once('exit', (c) => rej(new Error(`the socket's holder exited (${c})`)));
      });
      await ip('link', 'add', 'shp0', 'type', 'veth', 'peer', 'name', 'shp1');
      await ip('link', 'add', 'shpbr', 'type', 'bridge');
      await ip('link', 'set', 'shp1', 'master', 'shpbr');
      for (const l of ['shp0', 'shp1', 'shpbr']) await ip('link', 'set', l, 'up');
      await ip('link', 'set', 'shp0', 'alias', 'a tenant');
      await ip('addr', 'add', '10.77.0.2/24', 'dev', 'shp0');
      await ip('addr', 'add', '10.77.1.2', 'peer', '10.77.1.1', 'dev', 'shp0');
      await ip('addr', 'add', 'fd77::2/64', 'dev', 'shp0', 'nodad');
      await ip('route', 'add', '10.78.0.0/16', 'via', '10.77.0.1', 'metric', '7');
      await ip('route', 'add', 'blackhole', '10.79.0.0/16', 'table', '100');
      await ip('rule', 'add', 'from', '10.77.0.0/24', 'table', '100', 'pref', '1000');
      await ip('neigh', 'add', '10.77.0.9', 'lladdr', '02:00:00:00:00:09', 'dev', 'shp0', 'nud', 'permanent');
      await ip('neigh', 'add', 'fd77::9', 'lladdr', '02:00:00:00:00:0a', 'dev', 'shp0', 'nud', 'permanent');
      const h: NativeNetns = ns.handle;
      const read = async () => ({
        snapshot: await native.snapshot(h),
        fdb: await native.fdb(h),
        sockets: await native.sockets(h, false),
        // A reply with the kernel's extended ACK: no such device.
        replies: await native.exec([{ ns: h, ops: [{ op: 'link.set', dev: 9999, up: true }] }]),
      });
      // Each function counted, so that the readings are known to take the two paths.
      const calls = new Map<string, number>();
      const counted = Object.fromEntries(
        Object.entries(shapes).map(([k, f]) => [k, (...a: unknown[]) => (calls.set(k, (calls.get(k) ?? 0) + 1), (f as (...x: unknown[]) => unknown)(...a))]),
      ) as typeof shapes;
      native.setShapes(counted);
      const plainly = async () => {
        native.setShapes({} as typeof shapes);
        try {
          const before = [...calls.values()].reduce((x, y) => x + y, 0);
          const r = await read();
          expect([...calls.values()].reduce((x, y) => x + y, 0), 'no function is called without them').toBe(before);
          return r;
        } finally {
          native.setShapes(counted);
        }
      };
      // The kernel may still change something between two readings (its
      // IGMP and MLD reports add neighbours and FDB entries): a plain
      // reading counts only between two shaped ones that agree.
      let shaped = await read();
      let plain = await plainly();
      for (let i = 0; i < 20; i++) {
        const again = await read();
        if (JSON.stringify(again) === JSON.stringify(shaped)) break;
        await new Promise((r) => setTimeout(r, 250));
        shaped = await read();
        plain = await plainly();
      }
      native.setShapes(shapes);
      for (const k of ['link', 'addr', 'route', 'neigh', 'rule', 'fdb', 'sock', 'reply']) expect(calls.get(k), `${k} built by its function`).toBeGreaterThan(0);
      // Every kind is there to compare.
      expect(shaped.snapshot.links.find((l) => l.name === 'shp0')).toMatchObject({ alias: 'a tenant', kind: 'veth' });
      expect(shaped.snapshot.addresses.map((a) => a.address)).toEqual(expect.arrayContaining(['10.77.0.2', '10.77.1.2', 'fd77::2']));
      expect(shaped.snapshot.routes.find((r) => r.dst === '10.78.0.0')).toMatchObject({ gateway: '10.77.0.1', metric: 7 });
      expect(shaped.snapshot.rules.find((r) => r.priority === 1000)).toMatchObject({ table: 100 });
      expect(shaped.snapshot.neighbours.map((n) => n.dst)).toEqual(expect.arrayContaining(['10.77.0.9', 'fd77::9']));
      expect(shaped.fdb.items.length).toBeGreaterThan(0);
      expect(shaped.sockets.items.find((s) => s.sport === 5555)).toMatchObject({ src: '127.0.0.1', state: 10 });
      expect(shaped.replies[0]!.errno).toBe(19);
      expect(shaped).toEqual(plain);
      // The same keys in the same order, object by object.
      expect(JSON.stringify(shaped)).toBe(JSON.stringify(plain));
    } finally {
      native.setShapes(shapes);
      holder.kill('SIGKILL');
      await ns.delete();
    }
  });

  test("a shape's function that throws, or returns no object, fails the call that needed it with an Error, and nothing else", async () => {
    const ns = await Netns.create(uniq('shp'));
    try {
      native.setShapes({ ...shapes, link: () => { throw new Error('no links today'); }, route: (() => 7) as unknown as typeof shapes.route });
      await expect(native.links(ns.handle, 0, '')).rejects.toThrow('no links today');
      await expect(native.routes(ns.handle, 0, 0)).rejects.toThrow(/route shape's function returned no object/);
      // The other kinds, and the addon, go on.
      expect((await native.addrs(ns.handle, 0, 0)).items.map((a) => a.address)).toEqual(['127.0.0.1', '::1']);
    } finally {
      native.setShapes(shapes);
    }
    try {
      expect((await native.links(ns.handle, 0, '')).items.map((l) => l.name)).toEqual(['lo']);
    } finally {
      await ns.delete();
    }
  });

  test("a watch whose events meet a shape's function that throws hands the error to the process, as a callback's throw, and the process goes on", async () => {
    // In a process of its own: the error reaches its uncaughtException handler.
    const script = `
      import { native } from ${JSON.stringify(new URL('../dist/native.js', import.meta.url).href)};
      import { shapes } from ${JSON.stringify(new URL('../dist/native-shapes.js', import.meta.url).href)};
      const { handle } = await native.nsCreate(process.argv[1], null);
      let w;
      let over = false;
      const done = () => { over = true; native.setShapes(shapes); w?.close(); handle.close(); };
      process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); done(); });
      // Stuck (no batch with a link ever converted): say so rather than hang.
      setTimeout(() => { console.log('no link event in 10 s'); process.exit(1); }, 10_000).unref();
      // Before the watch opens: its first batch may be delivered before the open's promise settles.
      native.setShapes({ ...shapes, link: () => { throw new Error('no links today'); } });
      // A batch may hold only the listing's resync event: the next is asked for until one holds a link.
      w = await native.watchOpen(handle, { what: 1, rcvbuf: 65536, queueLimit: 64, batch: 16, list: true }, (evs) => {
        if (evs.some((e) => e.kind === 'link')) { console.log('delivered'); done(); } else if (!over) w?.pull();
      });
      if (over) w.close();
      else w.pull();
    `;
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-shp-'));
    try {
      const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script, dir], { timeout: 20_000 });
      expect(stdout).toContain('uncaught: no links today');
      expect(stdout).not.toContain('delivered');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
