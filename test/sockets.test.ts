// Netns.sockets(filter): sock_diag from inside a namespace, filtered by
// kind, family and state, checked against ss run in the same namespace.
import { execFileSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns, ValidationError } from '../src/index.js';

import { nsExec, uniq } from './helpers.js';

/** `ss -H <flags>` in a namespace (null: this process's), as sorted `local state` lines. */
async function ss(ns: string | null, flags: string): Promise<string[]> {
  const stdout = ns ? (await nsExec(ns, 'ss', '-Hn', flags)).stdout : execFileSync('ss', ['-Hn', flags], { encoding: 'utf8' });
  return stdout.trim().split('\n').filter(Boolean).map((l) => {
    const f = l.trim().split(/\s+/);
    // -t/-u with -a or a state filter print: state recv-q send-q local peer.
    return `${f[3]} ${f[0]}`;
  }).sort();
}

const named = (list: { local: string; state: string }[]) => list.map((s) => `${s.local} ${s.state}`).sort();

describe('Netns.sockets with a filter', () => {
  let ns: Netns;
  const held: { close(): void }[] = [];
  beforeAll(async () => {
    ns = await Netns.create(uniq('sk'));
    await ns.batch().setLink('lo', { up: true }).commit();
    const a = await ns.listenTcp(7001, '127.0.0.1');
    const b = await ns.listenTcp(7002, '::1');
    const u = await ns.bindUdp(7003, '127.0.0.1');
    const c = await ns.connectTcp(7001, '127.0.0.1');
    held.push(a, b, u, { close: () => c.destroy() });
  });
  afterAll(async () => {
    for (const h of held) h.close();
    await ns?.delete();
  });

  test('listening TCP sockets are what ss -tl lists, of both families', async () => {
    const got = await ns.sockets({ protocols: ['tcp'], states: ['LISTEN'] });
    expect(named(got)).toEqual(await ss(ns.name!, '-tl'));
    expect(got.map((s) => [s.family, s.address, s.port]).sort()).toEqual([['inet', '127.0.0.1', 7001], ['inet6', '::1', 7002]]);
  });

  test('one family, one state: IPv6 listeners only; established TCP connections only (both ends)', async () => {
    expect((await ns.sockets({ protocols: ['tcp'], states: ['LISTEN'], family: 6 })).map((s) => s.local)).toEqual(['[::1]:7002']);
    const estab = await ns.sockets({ protocols: ['tcp'], states: ['ESTAB'] });
    expect(estab).toHaveLength(2);
    expect(named(estab)).toEqual(await ss(ns.name!, '-t'));
  });

  test('UDP sockets are what ss -ua lists; unix, packet and netlink ones are left out when not asked for', async () => {
    const udp = await ns.sockets({ protocols: ['udp'] });
    expect(named(udp)).toEqual(await ss(ns.name!, '-ua'));
    expect(udp.every((s) => s.protocol === 'udp')).toBe(true);
    const all = await ns.sockets();
    expect(all.length).toBeGreaterThan(udp.length + 3);
    expect(new Set((await ns.sockets({ states: ['LISTEN', 'ESTAB', 'UNCONN'] })).map((s) => s.family))).not.toContain('netlink');
  });

  test("the host's listeners (this process's namespace) are what ss -tl lists here", async () => {
    const host = await Netns.host();
    const l = await host.listenTcp(7010, '127.0.0.1');
    try {
      // Other test files' listeners here come and go: nsnet's list lies
      // between what ss saw just before and just after.
      const before = await ss(null, '-tl');
      const got = named(await host.sockets({ protocols: ['tcp'], states: ['LISTEN'] }));
      const after = await ss(null, '-tl');
      expect(got).toContain('127.0.0.1:7010 LISTEN');
      for (const x of before.filter((b) => after.includes(b))) expect(got).toContain(x);
      for (const x of got) expect([...before, ...after]).toContain(x);
    } finally {
      l.close();
    }
  });

  test('a filter nsnet does not know is a ValidationError, before the kernel is asked', async () => {
    for (const f of [{ protocols: ['tcpx'] }, { protocols: [] }, { states: ['LISTENING'] }, { family: 5 }, { states: 'LISTEN' }])
      await expect(ns.sockets(f as never)).rejects.toBeInstanceOf(ValidationError);
  });
});
