// Server sockets opened inside a namespace (Netns.listen, CreateOptions.listen):
// where they live is checked with ss run in the namespace, and real datagrams
// and connections from inside reach them.
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';

import { describe, expect, test } from 'vitest';

import { Netns, NsnetError, ValidationError } from '../src/index.js';
import { fdCount, nsExec, uniq } from './helpers.js';

/** Local addresses ss lists in a namespace: `udp 127.0.0.11:53` ... */
async function listening(ns: string): Promise<string[]> {
  const { stdout } = await nsExec(ns, 'ss', '-Hlntu');
  return stdout.trim().split('\n').filter(Boolean).map((l) => {
    const f = l.trim().split(/\s+/);
    return `${f[0]} ${f[4]}`;
  });
}

const DNS = [
  { type: 'udp', host: '127.0.0.11', port: 53, exclusive: true },
  { type: 'tcp', host: '127.0.0.11', port: 53 },
] as const;

describe('listening sockets inside a namespace', () => {
  test('Netns.create with listen opens them in the new namespace in its own trip, and they take traffic from inside', async () => {
    const fds = await fdCount();
    const name = uniq('ls');
    const ns = await Netns.create(name, { listen: [...DNS] });
    try {
      const [udp, tcp] = ns.takeListening() as [UdpSocket, Server];
      expect(ns.takeListening()).toEqual([]); // handed over once
      expect((await listening(name)).sort()).toEqual(['tcp 127.0.0.11:53', 'udp 127.0.0.11:53']);
      // A client that connects, as a stub resolver does, takes only answers from 127.0.0.11:53.
      udp.on('message', (m, from) => udp.send(Buffer.from(`re ${m}`), from.port, from.address));
      const client = await ns.bindUdp(0, '127.0.0.1');
      await new Promise<void>((resolve) => client.connect(53, '127.0.0.11', resolve));
      const got = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
      client.send('ping');
      expect(await got).toBe('re ping');
      const accepted = new Promise<void>((resolve) => tcp.once('connection', (s) => (s.destroy(), resolve())));
      const conn = await ns.connectTcp(53, '127.0.0.11');
      await accepted;
      conn.destroy();
      client.close();
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      expect(await listening(name)).toEqual([]);
    } finally {
      await ns.delete();
    }
    expect(await fdCount()).toBe(fds);
  });

  test('an exclusive UDP listener refuses an address another socket holds, and Netns.listen is all or none', async () => {
    const name = uniq('ls');
    const ns = await Netns.create(name);
    try {
      const held = await ns.listen([...DNS]);
      const err = await ns.listen([{ type: 'udp', host: '127.0.0.11', port: 53, exclusive: true }]).catch((e) => e);
      expect(err).toBeInstanceOf(NsnetError);
      expect(err.code).toBe('EADDRINUSE');
      // The first would open; the second cannot, so neither is left.
      const both = await ns.listen([{ type: 'tcp', host: '127.0.0.12', port: 53 }, { type: 'tcp', host: '127.0.0.11', port: 53 }]).catch((e) => e);
      expect(both.code).toBe('EADDRINUSE');
      expect((await listening(name)).sort()).toEqual(['tcp 127.0.0.11:53', 'udp 127.0.0.11:53']);
      for (const l of held) l.close();
    } finally {
      await ns.delete();
    }
  });

  test('a listener that cannot be opened fails Netns.create and leaves no namespace', async () => {
    const name = uniq('ls');
    const err = await Netns.create(name, { listen: [DNS[0], DNS[0]] }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('EADDRINUSE');
    expect(await Netns.list()).not.toContain(name);
  });

  test('bad listeners are refused before anything is made', async () => {
    const name = uniq('ls');
    await expect(Netns.create(name, { listen: [{ type: 'sctp' as 'udp', host: '127.0.0.11', port: 53 }] })).rejects.toBeInstanceOf(ValidationError);
    await expect(Netns.create(name, { listen: [{ type: 'udp', host: 'localhost', port: 53 }] })).rejects.toBeInstanceOf(ValidationError);
    await expect(Netns.create(name, { listen: [{ type: 'udp', host: '127.0.0.11', port: 70000 }] })).rejects.toBeInstanceOf(ValidationError);
    expect(await Netns.list()).not.toContain(name);
  });
});
