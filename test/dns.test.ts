// Name resolution served from the embedding process (Controller.open({ dns:
// true })), with real queries from inside the sandboxes: getent run in a
// sandbox (its resolv.conf over /etc, as its processes see it) and a
// dns-packet client whose socket is opened in the sandbox's namespace. The
// outside is a namespace behind a veth from the namespace playing the host,
// with an upstream server written with dns-packet.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns, type Sandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { addresses, askDuringFlood, getent, OUTSIDE, query, theOutside, upstream, type Upstream } from './dns-helpers.js';
import { fdCount, uniq } from './helpers.js';

let w: World;
let outside: Awaited<ReturnType<typeof theOutside>>;
let tmp: string;
let up: Upstream;
let hostUp: Upstream;
let fault: ((step: string) => void) | null = null;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'nsnet-dns-'));
  // The host's resolv.conf names a loopback resolver, as systemd-resolved's 127.0.0.53.
  writeFileSync(join(tmp, 'resolv.conf'), 'nameserver 127.0.0.53\n');
  // A low rate per sandbox, so the flood below meets it.
  w = await world('dns', { dns: { resolvConf: join(tmp, 'resolv.conf'), timeoutMs: 600, limits: { rate: 1000, burst: 100 } }, faults: (step) => fault?.(step) });
  outside = await theOutside(w.host);
  up = outside.up;
  hostUp = await upstream(w.host, '127.0.0.53');
  await w.c.createNetwork('front', { subnets: ['10.71.0.0/24'] });
  await w.c.createNetwork('back', { subnets: ['10.72.0.0/24'] });
});
afterAll(async () => {
  hostUp.close();
  await w.cleanup();
  await outside.close();
  rmSync(tmp, { recursive: true, force: true });
});

const addr = async (sb: Sandbox) => (await sb.info()).endpoints[0]!.addresses[0]!.split('/')[0]!;

describe('names on a user network, served from this process', () => {
  test('two sandboxes resolve each other by name and by alias (getent inside, and a query from inside); from another network, NXDOMAIN', async () => {
    const a = await w.c.createSandbox(uniq('da'), { networks: [{ network: 'front', aliases: ['web'] }] });
    const b = await w.c.createSandbox(uniq('db'), { networks: ['front'] });
    const x = await w.c.createSandbox(uniq('dx'), { networks: ['back'] });
    try {
      expect(readFileSync(a.resolvConf!, 'utf8')).toMatch(/^nameserver 127\.0\.0\.11$/m);
      expect(await getent(b.name, a.name)).toBe(await addr(a));
      expect(await getent(b.name, 'web')).toBe(await addr(a));
      expect(await getent(a.name, b.name)).toBe(await addr(b));
      expect(addresses(await query(b.netnsPath, 'web'))).toEqual([await addr(a)]);
      expect(addresses(await query(b.netnsPath, a.name, 'A', { tcp: true }))).toEqual([await addr(a)]);
      const ptr = await query(b.netnsPath, `${(await addr(a)).split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
      expect(ptr !== 'timeout' && ptr.answers?.[0]?.data).toBe(`${a.name}.front`);
      // Isolation holds for names: x is on back only.
      expect(addresses(await query(x.netnsPath, a.name))).toBe('NXDOMAIN');
      expect(addresses(await query(x.netnsPath, 'web'))).toBe('NXDOMAIN');
      expect(await getent(x.name, 'web')).toBe('exit 2');
      expect((await (await w.c.network('front')).info()).nameResolution).toBe('embedded');
      expect(await a.info()).toMatchObject({ resolver: '127.0.0.11', nameResolution: 'embedded' });
    } finally {
      for (const s of [a, b, x]) await s.delete();
    }
  });

  test('a sandbox that leaves stops resolving at once; one that joins resolves at once; deleted, it is gone', async () => {
    const a = await w.c.createSandbox(uniq('dl'), { networks: ['front'] });
    const b = await w.c.createSandbox(uniq('dm'), { networks: ['front'] });
    const x = await w.c.createSandbox(uniq('dn'), { networks: ['back'] });
    try {
      expect(addresses(await query(b.netnsPath, a.name))).toEqual([await addr(a)]);
      const [ep] = await a.endpoints();
      await ep!.leave();
      // No sandbox holds the name now: it goes upstream, which answers anything it does not know with 192.0.2.1.
      expect(addresses(await query(b.netnsPath, a.name))).toEqual(['192.0.2.1']);
      const back = await (await w.c.network('back')).createEndpoint(uniq('de'), { aliases: ['api'] });
      await back.join(a);
      expect(addresses(await query(x.netnsPath, 'api'))).toEqual([(await back.info()).addresses[0]!.split('/')[0]]);
      expect(addresses(await query(x.netnsPath, a.name))).toEqual([(await back.info()).addresses[0]!.split('/')[0]]);
      expect(addresses(await query(b.netnsPath, 'api'))).toBe('NXDOMAIN');
      await a.delete();
      expect(addresses(await query(x.netnsPath, 'api'))).toEqual(['192.0.2.1']);
    } finally {
      for (const s of [b, x]) await s.delete();
      await a.delete().catch(() => {});
    }
  });

  test("a sandbox on the default bridge network that joins a user network gets its resolver then: resolv.conf names it, and it answers", async () => {
    await w.c.createNetwork('bridge', { driver: 'bridge' }).catch(() => null);
    const d = await w.c.createSandbox(uniq('dj'), { networks: ['bridge'] });
    const a = await w.c.createSandbox(uniq('dt'), { networks: ['front'] });
    try {
      expect(readFileSync(d.resolvConf!, 'utf8')).not.toMatch(/127\.0\.0\.11/);
      await (await (await w.c.network('front')).createEndpoint(uniq('dje'))).join(d);
      expect(readFileSync(d.resolvConf!, 'utf8')).toMatch(/^nameserver 127\.0\.0\.11$/m);
      expect(await d.info()).toMatchObject({ resolver: '127.0.0.11', nameResolution: 'embedded' });
      expect(addresses(await query(d.netnsPath, a.name))).toEqual([await addr(a)]);
      expect(await getent(d.name, a.name)).toBe(await addr(a));
    } finally {
      for (const s of [d, a]) await s.delete();
    }
  });

  test("a namespace nsnet did not make (a CNI runtime's) is found by its name and aliases; its resolv.conf stays its runtime's", async () => {
    const runtime = await Netns.create(uniq('drt'));
    const ext = await w.c.createSandbox(uniq('dc'), { netnsPath: runtime.path!, networks: [{ network: 'front', aliases: ['cnipod'] }] });
    const a = await w.c.createSandbox(uniq('dq'), { networks: ['front'] });
    try {
      const ip = (await ext.info()).endpoints[0]!.addresses[0]!.split('/')[0];
      expect(addresses(await query(a.netnsPath, 'cnipod'))).toEqual([ip]);
      expect(addresses(await query(a.netnsPath, ext.name))).toEqual([ip]);
      expect(await ext.info()).toMatchObject({ resolvConf: null, resolver: null, nameResolution: 'off' });
      expect(await query(runtime.path!, a.name, 'A', { ms: 500 })).toBe('timeout'); // no server in the runtime's namespace
    } finally {
      await ext.delete();
      await a.delete();
      await runtime.delete();
    }
  });

  test('on a routed network and a macvlan network, sandboxes resolve each other by name as on a bridge network', async () => {
    // A veth pair both of whose ends are the host's: the macvlan network's parent.
    const parent = uniq('dp');
    await w.host.batch().addVeth({ name: parent, up: true, peer: { name: `${parent}b`, up: true } }).commit();
    const routed = await w.c.createNetwork(uniq('drt'), { driver: 'routed', subnets: ['10.73.0.0/24'] });
    const lan = await w.c.createNetwork(uniq('dmv'), { driver: 'macvlan', subnets: [{ subnet: '10.74.0.0/24', gateway: '10.74.0.1' }], options: { parent } });
    const sbs: Sandbox[] = [];
    try {
      for (const net of [routed, lan]) {
        const a = await w.c.createSandbox(uniq('dr'), { networks: [{ network: net.name, aliases: ['peer'] }] });
        const b = await w.c.createSandbox(uniq('ds'), { networks: [net.name] });
        sbs.push(a, b);
        expect((await net.info()).nameResolution).toBe('embedded');
        expect(await getent(b.name, a.name)).toBe(await addr(a));
        expect(addresses(await query(b.netnsPath, 'peer'))).toEqual([await addr(a)]);
        expect(addresses(await query(a.netnsPath, `${b.name}.${net.name}`))).toEqual([await addr(b)]);
      }
      // Each network's names stay on it.
      expect(addresses(await query(sbs[2]!.netnsPath, sbs[0]!.name))).toBe('NXDOMAIN');
    } finally {
      for (const s of sbs) await s.delete();
      await routed.delete();
      await lan.delete();
      await w.host.links.delete(parent);
    }
  });

  test("resolv.conf names 127.0.0.11 and keeps --dns-search and --dns-option; the default bridge network keeps the host's resolvers and no server", async () => {
    const a = await w.c.createSandbox(uniq('dr'), { networks: ['front'], dnsSearch: ['corp.example'], dnsOptions: ['timeout:2'] });
    const n = await w.c.createSandbox(uniq('dk'), { networks: ['front'], dnsOptions: ['ndots:3'] });
    await w.c.createNetwork('bridge', { driver: 'bridge' }).catch(() => null);
    const d = await w.c.createSandbox(uniq('dd'), { networks: ['bridge'] });
    try {
      expect(readFileSync(a.resolvConf!, 'utf8')).toBe('# Generated by nsnet\nnameserver 127.0.0.11\nsearch corp.example\noptions timeout:2 ndots:0\n');
      expect(readFileSync(n.resolvConf!, 'utf8')).toMatch(/^options ndots:3$/m);
      expect(readFileSync(d.resolvConf!, 'utf8')).not.toMatch(/127\.0\.0\.11/);
      expect(await d.info()).toMatchObject({ resolver: null, nameResolution: 'off' });
      expect((await (await w.c.network('bridge')).info()).nameResolution).toBe('off');
      expect(await query(d.netnsPath, 'ok.test', 'A', { ms: 500 })).toBe('timeout'); // nothing listens at 127.0.0.11 there
    } finally {
      for (const s of [a, n, d]) await s.delete();
    }
  });
});

describe('all or nothing', () => {
  test('a create that fails at any step leaves no resolver behind (its sockets closed) and no name', async () => {
    const a = await w.c.createSandbox(uniq('dw'), { networks: ['front'] });
    try {
      // What this test touches is there before the fds are counted: the forwarder's socket opens on its first query.
      expect(addresses(await query(a.netnsPath, 'warm.test'))).toEqual(['192.0.2.1']);
      const fds = await fdCount();
      for (const step of ['kernel.sandbox', 'files', 'firewall', 'names']) {
        const name = uniq('df');
        fault = (s) => {
          if (s === step) throw new Error(`injected at ${step}`);
        };
        await expect(w.c.createSandbox(name, { networks: [{ network: 'front', aliases: ['ghost'] }] })).rejects.toThrow(`injected at ${step}`);
        fault = null;
        // Not a sandbox's name: it goes upstream, which answers anything it does not know with 192.0.2.1.
        expect(addresses(await query(a.netnsPath, name)), step).toEqual(['192.0.2.1']);
        expect(addresses(await query(a.netnsPath, 'ghost')), step).toEqual(['192.0.2.1']);
        expect(await fdCount(), step).toBe(fds);
      }
    } finally {
      fault = null;
      await a.delete();
    }
  });
});

describe('other names, passed upstream', () => {
  test("to the sandbox's --dns server outside: answers with their TTL, NXDOMAIN, SERVFAIL, a slow answer and a truncated one (asked again over TCP) pass through; a dead one gives SERVFAIL within the bound", async () => {
    const s = await w.c.createSandbox(uniq('du'), { networks: ['front'], dns: [OUTSIDE] });
    try {
      expect(readFileSync(s.resolvConf!, 'utf8')).toMatch(/^nameserver 127\.0\.0\.11$/m); // --dns is the resolver's upstream
      const ok = await query(s.netnsPath, 'ok.test');
      expect(ok !== 'timeout' && [ok.rcode, ok.answers?.[0]?.data, ok.answers?.[0]?.ttl]).toEqual(['NOERROR', '192.0.2.7', 1234]);
      expect(addresses(await query(s.netnsPath, 'nx.test'))).toBe('NXDOMAIN');
      expect(addresses(await query(s.netnsPath, 'fail.test'))).toBe('SERVFAIL');
      expect(addresses(await query(s.netnsPath, 'slow.test'))).toEqual(['192.0.2.8']);
      const t0 = performance.now();
      expect(addresses(await query(s.netnsPath, 'dead.test', 'A', { ms: 5000 }))).toBe('SERVFAIL');
      expect(performance.now() - t0).toBeLessThan(5000);
      // big.test: the upstream truncates over UDP; the resolver asks it again over TCP.
      expect(addresses(await query(s.netnsPath, 'big.test', 'A', { edns: true }))).toHaveLength(40);
      const cut = await query(s.netnsPath, 'big.test'); // no EDNS: 512 bytes, so TC, and the client asks over TCP
      expect(cut !== 'timeout' && cut.flag_tc).toBe(true);
      expect(addresses(await query(s.netnsPath, 'big.test', 'A', { tcp: true }))).toHaveLength(40);
      expect(up.seen).toEqual(expect.arrayContaining(['ok.test udp', 'big.test udp', 'big.test tcp']));
      // An upstream that answers something else is not believed: no answer, so SERVFAIL; one whose TCP answer is no answer leaves its truncated one.
      expect(addresses(await query(s.netnsPath, 'other.test'))).toBe('SERVFAIL');
      const liar = await query(s.netnsPath, 'liar.test', 'A', { edns: true });
      expect(liar !== 'timeout' && [liar.flag_tc, liar.answers?.length]).toEqual([true, 0]);
      expect(await getent(s.name, 'ok.test')).toBe('192.0.2.7');
    } finally {
      await s.delete();
    }
  });

  test("without --dns, to the host's resolvers, a loopback one asked from the host's side", async () => {
    const s = await w.c.createSandbox(uniq('dh'), { networks: ['front'] });
    try {
      hostUp.seen.length = 0;
      expect(addresses(await query(s.netnsPath, 'ok.test'))).toEqual(['192.0.2.7']);
      expect(addresses(await query(s.netnsPath, 'nx.test'))).toBe('NXDOMAIN');
      expect(hostUp.seen).toEqual(['ok.test udp', 'nx.test udp']);
    } finally {
      await s.delete();
    }
  });
});

describe('abuse', () => {
  test('malformed, oversized and flooding queries from one sandbox: the server keeps answering the others, and that one again afterwards', async () => {
    const bad = await w.c.createSandbox(uniq('dz'), { networks: ['front'] });
    const good = await w.c.createSandbox(uniq('dg'), { networks: ['front'] });
    try {
      const { during, flooded } = await askDuringFlood(bad, good);
      expect(during).toEqual(Array(10).fill([await addr(bad)]));
      expect(flooded).toBe(true); // they were answered while the flood went on
      const stats = (w.c.ctx.lifecycle as unknown as { stats(id: string): { answered: number; dropped: number } }).stats(bad.id)!;
      expect(stats.dropped).toBeGreaterThan(1); // past its rate (beside the one too long): dropped unread
      await new Promise((r) => setTimeout(r, 1100)); // its bucket refills
      expect(addresses(await query(bad.netnsPath, good.name))).toEqual([await addr(good)]);
    } finally {
      for (const s of [bad, good]) await s.delete();
    }
  });
});
