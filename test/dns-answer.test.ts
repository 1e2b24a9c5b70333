// The resolver's answers without sockets: the name table and one query at a
// time, encoded and decoded with dns-packet as a client would.
import dnsPacket from 'dns-packet';
import { describe, expect, test } from 'vitest';

import { ptrAddress, respond } from '../src/dns/answer.js';
import { NameTable } from '../src/dns/table.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../src/store/store.js';

const net = (id: string, name = id, subnets = ['10.1.0.0/24']): NetworkRecord => ({
  id, name, driver: 'bridge', scope: 'local', internal: false, ipv6: false, labels: {}, options: {}, driverState: {}, created: '',
  subnets: subnets.map((subnet) => ({ subnet, gateway: null, ipRange: null, excluded: [] })),
});
const NETS = new Map([
  ['n1', net('n1', 'front')],
  ['n2', net('n2', 'back')],
  ['nb', net('nb', 'bridge')],
]);
const sandbox = (id: string, o: Partial<SandboxRecord> = {}): SandboxRecord => ({
  id, name: id, netnsKind: 'own', netnsPath: `/run/netns/${id}`, ownerId: null, hostname: id, dns: [], dnsSearch: [], dnsOptions: [],
  extraHosts: [], filesDir: '', labels: {}, created: '', pid: 1, ...o,
});
const ep = (sb: string, networkId: string, addresses: string[], aliases?: string[]): EndpointRecord => ({
  id: `${sb}-${networkId}`, name: `${sb}-${networkId}`, networkId, sandboxId: sb, ifname: 'eth0', hostIfname: null, mac: null,
  addresses, gatewayEndpoint: false, requested: [], created: '', ...(aliases ? { aliases } : {}),
});

/** A table with web and db on front, db also on back, and api only on back. */
function table(): NameTable {
  const t = new NameTable();
  t.set(sandbox('web', { hostname: 'www' }), [ep('web', 'n1', ['10.1.0.2/24', 'fd00::2/64'], ['site'])], NETS);
  t.set(sandbox('db'), [ep('db', 'n1', ['10.1.0.3/24']), ep('db', 'n2', ['10.2.0.3/24'], ['store'])], NETS);
  t.set(sandbox('api'), [ep('api', 'n2', ['10.2.0.4/24'], ['site'])], NETS);
  return t;
}

const query = (name: string, type: string, o: { id?: number; edns?: boolean } = {}) =>
  dnsPacket.encode({
    type: 'query', id: o.id ?? 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }],
    ...(o.edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] } : {}),
  });

/** What the resolver answers asker, decoded; 'forward' when it goes upstream. */
function ask(t: NameTable, asker: string, name: string, type = 'A', transport: 'udp' | 'tcp' = 'udp', o: { edns?: boolean } = {}) {
  const out = respond(t, asker, query(name, type, o), transport);
  if (!out) return null;
  if ('forward' in out) return 'forward' as const;
  return dnsPacket.decode(out.reply) as dnsPacket.DecodedPacket & { rcode: string; flag_tc: boolean };
}
const data = (r: ReturnType<typeof ask>) => (r && r !== 'forward' ? (r.answers ?? []).map((a) => a.data) : r);

describe('the embedded resolver answers', () => {
  test('a name, hostname or alias on a network the asker shares with it; on networks it does not share, NXDOMAIN; an unknown name goes upstream', () => {
    const t = table();
    expect(data(ask(t, 'web', 'db'))).toEqual(['10.1.0.3']); // db's address on front, not back's
    expect(data(ask(t, 'db', 'WWW.'))).toEqual(['10.1.0.2']);
    expect(data(ask(t, 'db', 'store'))).toEqual(['10.2.0.3']); // db's alias on back
    const r = ask(t, 'web', 'api');
    expect(r !== 'forward' && r?.rcode).toBe('NXDOMAIN'); // isolation: api is on back only
    expect(r !== 'forward' && r?.flag_aa).toBe(true);
    expect(ask(t, 'web', 'store')).not.toBe('forward'); // a name of another network is never passed upstream
    expect(ask(t, 'web', 'example.com')).toBe('forward');
    expect(ask(t, 'stranger', 'web')).not.toBe('forward'); // a sandbox with no networks sees no names either
  });

  test('one alias on several sandboxes gives all their addresses, each turn starting with the next', () => {
    const t = new NameTable();
    for (const [i, id] of ['a', 'b', 'c'].entries()) t.set(sandbox(id), [ep(id, 'n1', [`10.1.0.${10 + i}/24`], ['pool'])], NETS);
    const firsts = [0, 1, 2, 3].map(() => data(ask(t, 'a', 'pool')) as string[]);
    for (const f of firsts) expect([...f].sort()).toEqual(['10.1.0.10', '10.1.0.11', '10.1.0.12']);
    expect(firsts.map((f) => f[0])).toEqual(['10.1.0.10', '10.1.0.11', '10.1.0.12', '10.1.0.10']);
  });

  test('AAAA of a name with IPv4 only is NODATA, not NXDOMAIN; AAAA and name.network work; other types of a sandbox name are NODATA', () => {
    const t = table();
    const r = ask(t, 'web', 'db', 'AAAA');
    expect(r !== 'forward' && [r?.rcode, r?.answers?.length]).toEqual(['NOERROR', 0]);
    expect(data(ask(t, 'db', 'web', 'AAAA'))).toEqual(['fd00::2']);
    expect(data(ask(t, 'web', 'db.front'))).toEqual(['10.1.0.3']);
    const other = ask(t, 'web', 'db.back');
    expect(other !== 'forward' && other?.rcode).toBe('NXDOMAIN');
    const mx = ask(t, 'web', 'db', 'MX');
    expect(mx !== 'forward' && [mx?.rcode, mx?.answers?.length]).toEqual(['NOERROR', 0]);
  });

  test('PTR gives name.network for an address on a shared network, NXDOMAIN for one on another, and goes upstream for any other', () => {
    const t = table();
    expect(data(ask(t, 'web', '3.0.1.10.in-addr.arpa', 'PTR'))).toEqual(['db.front']);
    expect(data(ask(t, 'db', '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa', 'PTR'))).toEqual(['web.front']);
    const r = ask(t, 'web', '4.0.2.10.in-addr.arpa', 'PTR');
    expect(r !== 'forward' && r?.rcode).toBe('NXDOMAIN');
    expect(ask(t, 'web', '8.8.8.8.in-addr.arpa', 'PTR')).toBe('forward');
    expect(ptrAddress('1.2.3.in-addr.arpa')).toBeNull();
  });

  test('a sandbox taken out stops resolving at once, while others holding its alias still do', () => {
    const t = table();
    t.set(sandbox('web2'), [ep('web2', 'n1', ['10.1.0.9/24'], ['site'])], NETS);
    expect(data(ask(t, 'web2', 'site'))).toHaveLength(2);
    t.remove('web');
    expect(data(ask(t, 'web2', 'site'))).toEqual(['10.1.0.9']);
    const gone = ask(t, 'db', 'www');
    expect(gone).toBe('forward'); // no sandbox anywhere holds it now
    expect(ask(t, 'db', '2.0.1.10.in-addr.arpa', 'PTR')).toBe('forward');
  });

  test('a sandbox on one network through two endpoints (CNI: two interfaces) answers with both addresses and both PTRs; taken out, neither name nor address is left', () => {
    const t = table();
    const second = { ...ep('two', 'n1', ['10.1.0.9/24']), id: 'two-b', name: 'two-b', ifname: 'eth1' };
    t.set(sandbox('two'), [ep('two', 'n1', ['10.1.0.8/24']), second], NETS);
    expect(t.lookup('web', 'two')).toEqual({ found: true, v4: ['10.1.0.8', '10.1.0.9'], v6: [] });
    expect([t.reverse('web', '10.1.0.8'), t.reverse('web', '10.1.0.9')]).toEqual([{ name: 'two.front' }, { name: 'two.front' }]);
    t.remove('two');
    expect(t.lookup('web', 'two')).toEqual({ found: false, known: false });
    expect(t.reverse('web', '10.1.0.9')).toEqual({ name: null, known: false });
  });

  test('the default bridge network has no names, as docker0 has none', () => {
    const t = new NameTable();
    t.set(sandbox('x'), [ep('x', 'nb', ['172.17.0.2/16'])], NETS);
    t.set(sandbox('y'), [ep('y', 'nb', ['172.17.0.3/16'])], NETS);
    expect(ask(t, 'x', 'y')).toBe('forward');
  });

  test('what is not one query gets FORMERR, NOTIMP or nothing, and never an exception', () => {
    const t = table();
    const garbage = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x41]);
    const bad = respond(t, 'web', garbage, 'udp');
    expect(bad && 'reply' in bad && dnsPacket.decode(bad.reply)).toMatchObject({ id: 0x1234, rcode: 'FORMERR', type: 'response' });
    expect(respond(t, 'web', Buffer.alloc(5), 'udp')).toBeNull();
    const response = dnsPacket.decode(query('db', 'A'));
    expect(respond(t, 'web', dnsPacket.encode({ ...response, type: 'response' }), 'udp')).toBeNull();
    const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'db' }, { type: 'A', name: 'web' }] });
    const r2 = respond(t, 'web', two, 'udp');
    expect(r2 && 'reply' in r2 && dnsPacket.decode(r2.reply)).toMatchObject({ id: 9, rcode: 'FORMERR' });
    const status = Buffer.from(query('db', 'A'));
    status.writeUInt16BE((2 << 11) | 0x100, 2); // opcode STATUS
    const r3 = respond(t, 'web', status, 'udp');
    expect(r3 && 'reply' in r3 && dnsPacket.decode(r3.reply)).toMatchObject({ rcode: 'NOTIMP' });
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(Array.from({ length: 12 + (i % 60) }, (_, j) => (i * 31 + j * 7) & 0xff));
      junk[2]! &= 0x7f; // a query, by its header
      expect(() => respond(t, 'web', junk, 'udp')).not.toThrow();
    }
  });

  test('an answer longer than the client takes over UDP is cut with TC set; with EDNS, or over TCP, it comes whole', () => {
    const t = new NameTable();
    for (let i = 0; i < 50; i++) t.set(sandbox(`s${i}`), [ep(`s${i}`, 'n1', [`10.1.0.${10 + i}/24`], ['many'])], NETS);
    const cut = ask(t, 's0', 'many');
    expect(cut !== 'forward' && cut?.flag_tc).toBe(true);
    expect(data(cut)!.length).toBeLessThan(50);
    expect(data(ask(t, 's0', 'many', 'A', 'udp', { edns: true }))).toHaveLength(50);
    const whole = ask(t, 's0', 'many', 'A', 'tcp');
    expect(whole !== 'forward' && [whole?.flag_tc, whole?.answers?.length]).toEqual([false, 50]);
  });
});
