// Shared by the DNS tests: an upstream DNS server written with dns-packet
// (UDP and TCP) in a namespace that plays the outside, a resolver client
// that asks from inside a sandbox's namespace, and getent run inside a
// sandbox as its processes would run it.
import { execFile } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';
import { promisify } from 'node:util';

import dnsPacket, { type Answer } from 'dns-packet';

import { Netns } from '../src/index.js';
import { frame, FrameReader } from '../src/dns/tcp.js';
import { uniq } from './helpers.js';

const run = promisify(execFile);

export type Reply = dnsPacket.DecodedPacket & { rcode: string; flag_tc: boolean };

/**
 * An upstream server at address:53 in ns, by name:
 *   ok.test    A 192.0.2.7, TTL 1234
 *   nx.test    NXDOMAIN        fail.test  SERVFAIL
 *   slow.test  A 192.0.2.8 after 400 ms
 *   dead.test  never answered
 *   big.test   over UDP truncated (TC, no answers); over TCP 40 A records
 *   liar.test  over UDP truncated; over TCP three bytes that are no answer
 *   other.test an answer to another question (as a spoofer's would be)
 *   anything else: A 192.0.2.1 (TTL 60)
 */
export interface Upstream {
  /** Queries by name and transport: `ok.test udp`. */
  seen: string[];
  close(): void;
}

function upstreamAnswer(q: dnsPacket.DecodedPacket, transport: 'udp' | 'tcp'): { reply: Buffer; delay: number } | null {
  const question = q.questions![0]!;
  const a = (data: string, ttl = 60): Answer => ({ type: 'A', name: question.name, ttl, class: 'IN', data });
  const base = { id: q.id, type: 'response' as const, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED, questions: q.questions };
  const name = question.name.toLowerCase();
  let answers: Answer[] = [];
  let rcode = 0;
  let flags = base.flags;
  let delay = 0;
  if (name === 'dead.test') return null;
  if (question.type !== 'A') return { reply: dnsPacket.encode({ ...base, answers }), delay }; // NODATA: it has addresses of IPv4 only
  if (name === 'ok.test') answers = [a('192.0.2.7', 1234)];
  else if (name === 'nx.test') rcode = 3;
  else if (name === 'fail.test') rcode = 2;
  else if (name === 'slow.test') (answers = [a('192.0.2.8')]), (delay = 400);
  else if (name === 'big.test' && transport === 'udp') flags |= dnsPacket.TRUNCATED_RESPONSE;
  else if (name === 'big.test') answers = Array.from({ length: 40 }, (_, i) => a(`192.0.2.${100 + i}`));
  else if (name === 'liar.test' && transport === 'udp') flags |= dnsPacket.TRUNCATED_RESPONSE;
  else if (name === 'liar.test') return { reply: Buffer.from([1, 2, 3]), delay };
  else if (name === 'other.test') return { reply: dnsPacket.encode({ ...base, questions: [{ type: 'A', name: 'else.test' }], answers: [a('192.0.2.9')] }), delay };
  else answers = [a('192.0.2.1')];
  return { reply: dnsPacket.encode({ ...base, flags: flags | rcode, answers }), delay };
}

export async function upstream(ns: Netns, address: string): Promise<Upstream> {
  const seen: string[] = [];
  const [udp, tcp] = (await ns.listen([
    { type: 'udp', host: address, port: 53 },
    { type: 'tcp', host: address, port: 53 },
  ])) as [UdpSocket, Server];
  const handle = (msg: Buffer, transport: 'udp' | 'tcp', send: (b: Buffer) => void) => {
    const q = dnsPacket.decode(msg);
    seen.push(`${q.questions![0]!.name} ${transport}`);
    const r = upstreamAnswer(q, transport);
    if (r) setTimeout(() => send(r.reply), r.delay);
  };
  udp.on('message', (m, from) => handle(m, 'udp', (b) => udp.send(b, from.port, from.address)));
  tcp.on('connection', (s) => {
    const reader = new FrameReader(0xffff);
    s.on('data', (d: Buffer) => reader.push(d).forEach((m) => handle(m, 'tcp', (b) => s.write(frame(b)))));
    s.on('error', () => {});
  });
  return { seen, close: () => (udp.close(), tcp.close()) };
}

/**
 * Asks server (127.0.0.11 by default) from inside the namespace at path,
 * over UDP (optionally with EDNS) or TCP; 'timeout' when nothing came back.
 */
export async function query(
  path: string, name: string, type = 'A',
  o: { tcp?: boolean; edns?: boolean; server?: string; ms?: number; id?: number } = {},
): Promise<Reply | 'timeout'> {
  const ns = await Netns.openPath(path);
  const server = o.server ?? '127.0.0.11';
  const msg = dnsPacket.encode({
    type: 'query', id: o.id ?? Math.floor(Math.random() * 0xffff), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }],
    ...(o.edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as Answer] } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), o.ms ?? 3000)));
  try {
    if (o.tcp) {
      const s = await ns.connectTcp(53, server);
      const reader = new FrameReader(0xffff);
      const got = new Promise<Buffer>((resolve) => s.on('data', (d: Buffer) => reader.push(d).forEach(resolve)));
      s.on('error', () => {});
      s.write(frame(msg));
      const r = await Promise.race([got, timeout]);
      s.destroy();
      return r === 'timeout' ? r : (dnsPacket.decode(r) as Reply);
    }
    const s = await ns.bindUdp(0, '127.0.0.1');
    // Connected, as a stub resolver's socket is: only the server's own address is heard.
    await new Promise<void>((resolve) => s.connect(53, server, resolve));
    const got = new Promise<Buffer>((resolve) => s.on('message', resolve));
    s.on('error', () => {});
    s.send(msg);
    const r = await Promise.race([got, timeout]);
    s.close();
    return r === 'timeout' ? r : (dnsPacket.decode(r) as Reply);
  } finally {
    clearTimeout(timer);
    ns.close();
  }
}

/** Where the outside's upstream listens. */
export const OUTSIDE = '198.51.100.2';

/**
 * A namespace playing the outside, behind a veth from host (198.51.100.1),
 * with an upstream server at OUTSIDE; close() removes both.
 */
export async function theOutside(host: Netns): Promise<{ up: Upstream; close(): Promise<void> }> {
  const outside = await Netns.create(uniq('dout'));
  const v = uniq('dv');
  await host.links.addVeth({ name: v, up: true, peer: { name: 'eth0', netns: outside } });
  await host.addresses.add(v, '198.51.100.1/24');
  await outside.batch().setUp('eth0').addAddress('eth0', `${OUTSIDE}/24`).commit();
  const up = await upstream(outside, OUTSIDE);
  return { up, close: async () => (up.close(), await outside.delete()) };
}

/** The A/AAAA data of a reply, or its rcode when it has none. */
export function addresses(r: Reply | 'timeout'): string[] | string {
  if (r === 'timeout') return r;
  const a = (r.answers ?? []).filter((x) => x.type === 'A' || x.type === 'AAAA').map((x) => x.data as string);
  return a.length ? a : r.rcode;
}

/**
 * `getent hosts name` inside the sandbox, as its processes run it:
 * `ip netns exec` puts the sandbox's resolv.conf (and hosts) over /etc.
 * Its output, or `exit N`.
 */
export async function getent(sandbox: string, name: string): Promise<string> {
  try {
    const { stdout } = await run('ip', ['netns', 'exec', sandbox, 'getent', 'hosts', name], { timeout: 15_000 });
    return stdout.trim().split(/\s+/)[0]!;
  } catch (e) {
    return `exit ${(e as { code?: number }).code}`;
  }
}

/**
 * From inside the namespace at path, sends 127.0.0.11 what is not a query
 * (garbage, a header alone, a header claiming 60,000 records, 5 KB of
 * zeros; over TCP a length promising 65535 bytes), then queries for name as
 * fast as the socket takes them until stop(). sent() says how many so far.
 * The flood has no end of its own, so a test that asks its questions
 * meanwhile knows they met the flood however fast or slow the machine is.
 */
export async function abuse(path: string, name: string): Promise<{ sent: () => number; stop: () => Promise<void> }> {
  const ns = await Netns.openPath(path);
  const udp = await ns.bindUdp(0, '127.0.0.1');
  udp.on('error', () => {});
  const hdr = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0xea, 0x60, 0xea, 0x60, 0, 0, 0, 0]);
  for (const m of [Buffer.from('not dns'), hdr.subarray(0, 12), hdr, Buffer.alloc(5000)]) udp.send(m, 53, '127.0.0.11');
  const tcp = await ns.connectTcp(53, '127.0.0.11');
  tcp.on('error', () => {});
  tcp.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  const q = dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
  let sent = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      for (let i = 0; i < 500; i++, sent++) udp.send(q, 53, '127.0.0.11');
      await new Promise((r) => setImmediate(r));
    }
    udp.close();
    tcp.destroy();
    ns.close();
  })();
  return {
    sent: () => sent,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/**
 * bad floods 127.0.0.11 (abuse) while good asks for bad's name ten times:
 * what good got each time, and whether the flood was still going at the
 * last answer (then every answer met it).
 */
export async function askDuringFlood(
  bad: { netnsPath: string; name: string },
  good: { netnsPath: string; name: string },
): Promise<{ during: (string | string[])[]; flooded: boolean }> {
  const flood = await abuse(bad.netnsPath, good.name);
  const during: (string | string[])[] = [];
  const sent: number[] = [];
  for (let i = 0; i < 10; i++) {
    during.push(addresses(await query(good.netnsPath, bad.name, 'A', { ms: 2000 })));
    sent.push(flood.sent());
  }
  await flood.stop();
  return { during, flooded: sent[sent.length - 1]! > sent[0]! };
}
