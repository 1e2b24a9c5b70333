// One query, as the asker's own resolver answers it: from the name table
// when the name (or address, for PTR) is a sandbox's on a network the
// asker is on; NXDOMAIN when it is one only on networks the asker is not
// on (isolation holds for names: such a name is not passed upstream
// either); otherwise the query goes upstream as it came. Messages are
// decoded and encoded with dns-packet.
import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';

import { canonical, normalName, type NameTable } from './table.js';

/** A decoded message as dns-packet's decode makes it (its typings leave these optional). */
export interface Decoded {
  id: number;
  flags: number;
  opcode: string;
  rcode: string;
  flag_tc: boolean;
  questions: Question[];
  answers: Answer[];
  additionals: Answer[];
}

/**
 * Decodes a message whose header is plausible: its counts fit its length
 * (a question takes 5 bytes at least, a record 11). dns-packet makes an
 * array of each count's length before it reads any, so a 20-byte message
 * claiming 60,000 records would cost milliseconds to refuse.
 */
export function decode(msg: Buffer): Decoded {
  if (msg.length < 12) throw new Error('shorter than a DNS header');
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  if (12 + msg.readUInt16BE(4) * 5 + records * 11 > msg.length) throw new Error('its counts are more than its length holds');
  return dnsPacket.decode(msg) as unknown as Decoded;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/**
 * Answers about sandboxes carry TTL 0, as dnsmasq's local names do: a
 * sandbox that leaves must stop resolving at once, also for a caching
 * resolver inside the sandbox.
 */
const TTL = 0;
/** The UDP size a client without EDNS takes (RFC 1035), and the most we offer one with it (RFC 9715's advice). */
const PLAIN_UDP = 512;
const EDNS_UDP = 1232;
const QR = 1 << 15;

export interface Forward {
  /** The query as it came (its id is replaced on the way out and restored on the way back). */
  query: Buffer;
  /** It decoded. */
  packet: Decoded;
  /** The most a UDP reply to the client may carry; Infinity over TCP. */
  limit: number;
}

/** What becomes of a query: a reply, a query to pass upstream, or nothing (not a query at all). */
export type Outcome = { reply: Buffer } | { forward: Forward } | null;

/** The most a UDP reply may carry for this query: 512 bytes, or what its EDNS record offers up to EDNS_UDP. */
function udpLimit(q: Decoded): number {
  const opt = q.additionals.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return opt ? Math.max(PLAIN_UDP, Math.min(opt.udpPayloadSize ?? PLAIN_UDP, EDNS_UDP)) : PLAIN_UDP;
}

/** A name dns-packet encodes back as it came: printable ASCII, labels of at most 63 bytes. */
function plainName(name: string): boolean {
  return /^[\x21-\x7e]*$/.test(name) && name.split('.').every((l) => l.length <= 63);
}

/** The address a PTR name asks about (`4.3.2.1.in-addr.arpa`, the 32 nibbles of ip6.arpa), or null. */
export function ptrAddress(name: string): string | null {
  const labels = name.split('.');
  if (name.endsWith('.in-addr.arpa') && labels.length === 6 && labels.slice(0, 4).every((l) => /^\d{1,3}$/.test(l) && +l < 256))
    return canonical(labels.slice(0, 4).reverse().join('.'));
  if (name.endsWith('.ip6.arpa') && labels.length === 34 && labels.slice(0, 32).every((l) => /^[0-9a-f]$/.test(l))) {
    const hex = labels.slice(0, 32).reverse().join('');
    return canonical(hex.match(/.{4}/g)!.join(':'));
  }
  return null;
}

/** A reply to q: its question, these answers and rcode; cut to limit (TC set) when it does not fit. */
export function reply(q: Decoded, rcode: number, answers: Answer[], o: { authoritative?: boolean; limit?: number } = {}): Buffer {
  const flags = (q.flags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | (o.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode;
  const edns = q.additionals.some((a) => a.type === 'OPT');
  const p: Packet = {
    id: q.id, type: 'response', flags, questions: q.questions, answers,
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
  let buf = dnsPacket.encode(p);
  if (o.limit !== undefined && buf.length > o.limit) {
    // As many answers as fit, and TC so the client asks again over TCP.
    while (p.answers!.length && buf.length > o.limit) {
      p.answers = p.answers!.slice(0, Math.max(0, Math.floor(p.answers!.length * (o.limit / buf.length)) - 1));
      buf = dnsPacket.encode(p);
    }
    p.flags = flags | dnsPacket.TRUNCATED_RESPONSE;
    buf = dnsPacket.encode(p);
  }
  return buf;
}

/** FORMERR for a message that does not decode: its id and opcode, nothing else (RFC 1035 4.1.1). */
function formErr(msg: Buffer): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(msg.readUInt16BE(0), 0);
  out.writeUInt16BE(QR | (msg.readUInt16BE(2) & 0x7800) | RCODE.FORMERR, 2);
  return out;
}

/** What the table says of q's question, for asker; null: not a sandbox's name, ask upstream. */
function fromTable(table: NameTable, asker: string, q: Decoded, limit: number): Buffer | null {
  const question = q.questions[0]!;
  const name = normalName(question.name);
  if (question.type === 'PTR') {
    const address = ptrAddress(name);
    if (!address) return null;
    const r = table.reverse(asker, address);
    if (r.name !== null) return reply(q, RCODE.NOERROR, [{ type: 'PTR', name: question.name, ttl: TTL, class: 'IN', data: r.name }], { authoritative: true, limit });
    return r.known ? reply(q, RCODE.NXDOMAIN, [], { authoritative: true, limit }) : null;
  }
  const r = table.lookup(asker, name);
  if (!r.found) return r.known ? reply(q, RCODE.NXDOMAIN, [], { authoritative: true, limit }) : null;
  const answers: Answer[] = [];
  const all = (question.type as string) === 'ANY';
  if (question.type === 'A' || all) for (const a of r.v4) answers.push({ type: 'A', name: question.name, ttl: TTL, class: 'IN', data: a });
  if (question.type === 'AAAA' || all) for (const a of r.v6) answers.push({ type: 'AAAA', name: question.name, ttl: TTL, class: 'IN', data: a });
  // The name exists: a type it has nothing of is NODATA (NOERROR, no answers), never NXDOMAIN.
  return reply(q, RCODE.NOERROR, answers, { authoritative: true, limit });
}

/** Answers one message from asker's socket (transport: how it came). */
export function respond(table: NameTable, asker: string, msg: Buffer, transport: 'udp' | 'tcp'): Outcome {
  if (msg.length < 12 || msg.readUInt16BE(2) & QR) return null; // not a query: answering responses could loop
  let q: Decoded;
  try {
    q = decode(msg);
  } catch {
    return { reply: formErr(msg) };
  }
  const limit = transport === 'udp' ? udpLimit(q) : Infinity;
  if (q.opcode !== 'QUERY') return { reply: reply({ ...q, questions: [] }, RCODE.NOTIMP, []) };
  if (q.questions.length !== 1) return { reply: reply({ ...q, questions: [] }, RCODE.FORMERR, []) };
  const question = q.questions[0]!;
  if ((question.class ?? 'IN') === 'IN' && plainName(question.name)) {
    const local = fromTable(table, asker, q, limit);
    if (local) return { reply: local };
  }
  return { forward: { query: msg, packet: q, limit } };
}

/**
 * A reply of rcode alone to a query going upstream: SERVFAIL when no
 * upstream answered, REFUSED past the bounds; truncated (TC) when the
 * upstream's answer is more than the client's UDP takes.
 */
export function failure(f: Forward, rcode: number, truncated = false): Buffer {
  const q = f.packet;
  return reply(plainName(q.questions[0]!.name) ? q : { ...q, questions: [] }, rcode, [], truncated ? { limit: 0 } : {});
}
