// Pure unit tests (no kernel): how nf_tables values, keys and ruleset
// changes are encoded before they reach the addon.
import { describe, expect, test } from 'vitest';

import { ValidationError } from '../src/errors.js';
import * as ruleset from '../src/firewall/ruleset.js';
import { toNativeNftOp, type SetSpec } from '../src/netlink/nftables.js';
import { commentOf, commentUserdata, decodeTuple, encodeTuple, layout, prefixRange, successor } from '../src/netlink/nftvalues.js';

const hex = (b: Buffer | undefined) => b?.toString('hex');

describe('nf_tables values', () => {
  test("layouts use nft's datatype ids (concatenations 6 bits apart) and pad each concatenated field to a register slot", () => {
    expect(layout('ifname', 'k')).toMatchObject({ id: 41, len: 16 });
    // The ids and lengths nft 1.0.6 itself sent for `inet_proto . inet_service : ipv4_addr . inet_service`.
    expect(layout(['inet_proto', 'inet_service'], 'k')).toMatchObject({ id: 0x30d, len: 8, fieldLen: [1, 2] });
    expect(layout(['ipv4_addr', 'inet_service'], 'k')).toMatchObject({ id: 0x1cd, len: 8 });
    expect(hex(encodeTuple(layout(['inet_proto', 'inet_service'], 'k'), ['tcp', 8080], 'k'))).toBe('060000001f900000');
    expect(hex(encodeTuple(layout('ifname', 'k'), 'br0', 'k'))).toBe('62723000000000000000000000000000');
    expect(decodeTuple(layout(['ipv6_addr', 'inet_service'], 'k'), encodeTuple(layout(['ipv6_addr', 'inet_service'], 'k'), ['fd00::1:2', 443], 'k'))).toEqual(['fd00::1:2', 443]);
  });

  test('prefixes become first and last address; the interval end is the address after the last', () => {
    const [a, b] = prefixRange('ipv4_addr', '10.88.0.0/16', 'k');
    expect([...a]).toEqual([10, 88, 0, 0]);
    expect([...b]).toEqual([10, 88, 255, 255]);
    expect([...successor(b)!]).toEqual([10, 89, 0, 0]);
    expect(successor(Buffer.from([255, 255, 255, 255]))).toBeNull();
    expect(() => prefixRange('ipv4_addr', '10.88.0.1/16', 'k')).toThrow(/host bits/);
    const [c, d] = prefixRange('ipv6_addr', 'fd88::/64', 'k');
    expect(hex(c)).toBe('fd880000000000000000000000000000');
    expect(hex(d)).toBe('fd88000000000000ffffffffffffffff');
  });

  test('a rule comment is stored as nft stores it and read back', () => {
    expect(hex(commentUserdata('hi'))).toBe('0003686900');
    expect(commentOf(commentUserdata('nsnet: hairpin'))).toBe('nsnet: hairpin');
    expect(commentOf(Buffer.from([1, 1, 0]))).toBeUndefined();
  });

  test('an element of a one-field interval set is a start and an INTERVAL_END element past its end', () => {
    const set: SetSpec = { family: 'inet', table: 't', name: 's', key: 'ipv4_addr', interval: true };
    const { op } = toNativeNftOp({ verb: 'add', elements: { set, elements: [{ key: '10.0.0.0/8' }, { key: '0.0.0.0/0' }] } });
    expect(op.elems!.map((e) => [hex(e.key), e.flags ?? 0])).toEqual([
      ['0a000000', 0],
      ['0b000000', 1],
      ['00000000', 0], // 0.0.0.0/0 ends at the top: no end element
    ]);
  });

  test('concatenated interval sets send per-field lengths and a key end', () => {
    const { op } = toNativeNftOp({ verb: 'add', set: ruleset.SETS.nets4 });
    expect(op).toMatchObject({ flags: 0x84, keyLen: 20, fieldLen: [4, 16] });
    const [el] = toNativeNftOp({ verb: 'add', elements: { set: ruleset.SETS.nets4, elements: [{ key: ['10.0.0.0/8', 'br0'] }] } }).op.elems!;
    const br0 = Buffer.alloc(16);
    br0.write('br0');
    expect(hex(el!.key)).toBe('0a000000' + br0.toString('hex'));
    expect(hex(el!.keyEnd)).toBe('0affffff' + br0.toString('hex'));
  });

  test("an interface wildcard (nft's name*) is the range from the name NUL-padded to the name 0xff-padded, and reads back as name*", () => {
    const [el] = toNativeNftOp({ verb: 'add', elements: { set: ruleset.SETS.self, elements: [{ key: ['nsr0ab*', 'nsr0ab*'] }] } }).op.elems!;
    const first = Buffer.alloc(16);
    first.write('nsr0ab');
    const last = Buffer.alloc(16, 0xff);
    last.write('nsr0ab');
    expect(hex(el!.key)).toBe(hex(Buffer.concat([first, first])));
    expect(hex(el!.keyEnd)).toBe(hex(Buffer.concat([last, last])));
    const l = layout(['ifname', 'ifname'], 'k');
    expect(decodeTuple(l, el!.key)).toEqual(['nsr0ab', 'nsr0ab']);
    expect(decodeTuple(l, el!.keyEnd!)).toEqual(['nsr0ab*', 'nsr0ab*']);
    // What a listing reads back adds the same element again (a rebuild keeps every element).
    const [again] = toNativeNftOp({ verb: 'add', elements: { set: ruleset.SETS.self, elements: [{ key: ['nsr0ab', 'nsr0ab'], keyEnd: ['nsr0ab*', 'nsr0ab*'] }] } }).op.elems!;
    expect([hex(again!.key), hex(again!.keyEnd)]).toEqual([hex(el!.key), hex(el!.keyEnd)]);
    // A 15-byte prefix leaves one 0xff byte; a hash set cannot hold a range at all.
    expect(hex(encodeTuple(layout('ifname', 'k'), 'abcdefghijklmno*', 'k'))).toBe(`${Buffer.from('abcdefghijklmno').toString('hex')}ff`);
    const plain: SetSpec = { family: 'inet', table: 't', name: 's', key: ['ifname', 'ifname'] };
    expect(() => toNativeNftOp({ verb: 'add', elements: { set: plain, elements: [{ key: ['nsr0ab*', 'x'] }] } })).toThrow(/only interval sets hold one/);
  });

  test('a routed network is one element per set, matching all its host veths by their prefix', () => {
    const ops = ruleset.addNetworkOps({ iface: 'nsr0ab*', subnets: ['10.9.0.0/24'], icc: false });
    expect(ops.map((o) => ('elements' in o ? [o.elements.set.name, o.elements.elements.map((e) => e.key)] : null))).toEqual([
      ['self', [['nsr0ab*', 'nsr0ab*']]],
      ['icc_off', [['nsr0ab*', 'nsr0ab*']]],
      ['masq4', ['10.9.0.0/24']],
      ['nets4', [['10.9.0.0/24', 'nsr0ab*']]],
    ]);
  });

  test('published ports are plain hash maps (no intervals), each field padded to a register', () => {
    const { op } = toNativeNftOp({ verb: 'add', set: ruleset.SETS.dnat4Any });
    expect(op).toMatchObject({ flags: 0x08, keyLen: 8, dataLen: 8 });
    expect(op.fieldLen).toBeUndefined();
    const [el] = toNativeNftOp(ruleset.addPortOps({ protocol: 'udp', hostPort: 53, containerIp: '10.0.0.3', containerPort: 5353 })[0]!).op.elems!;
    expect(hex(el!.key)).toBe('11000000' + '00350000');
    expect(el!.keyEnd).toBeUndefined();
    expect(hex(el!.data)).toBe('0a000003' + '14e90000');
    const specific = toNativeNftOp(ruleset.addPortOps({ protocol: 'tcp', hostPort: 80, hostIp: '192.0.2.1', containerIp: '10.0.0.3', containerPort: 80 })[0]!).op;
    expect(specific.set).toBe('dnat4');
    expect(hex(specific.elems![0]!.key)).toBe('c0000201' + '06000000' + '00500000');
  });
});

describe('ruleset changes', () => {
  test('a network is elements only, and removing it names exactly the same elements', () => {
    const add = ruleset.addNetworkOps({ iface: 'br7', subnets: ['10.7.0.0/24', 'fd07::/64'], icc: false });
    const del = ruleset.removeNetworkOps({ iface: 'br7', subnets: ['10.7.0.0/24', 'fd07::/64'], icc: false });
    expect(add.every((o) => 'elements' in o && o.verb === 'add')).toBe(true);
    expect(add.map((o) => ('elements' in o ? o.elements.set.name : ''))).toEqual(['self', 'icc_off', 'masq4', 'masq6', 'nets4', 'nets6']);
    expect(del.map((o) => ('elements' in o ? o.elements : null))).toEqual(add.map((o) => ('elements' in o ? o.elements : null)));
  });

  test('internal networks are never masqueraded', () => {
    const ops = ruleset.addNetworkOps({ iface: 'br8', subnets: ['10.8.0.0/24'], internal: true });
    expect(ops.map((o) => ('elements' in o ? o.elements.set.name : ''))).toEqual(['self', 'internal', 'nets4']);
  });

  test('bad networks and ports are refused before anything is built', () => {
    expect(() => ruleset.addNetworkOps({ iface: 'a/b', subnets: [] })).toThrow(ValidationError);
    expect(() => ruleset.addNetworkOps({ iface: '*', subnets: [] })).toThrow(ValidationError);
    expect(() => ruleset.addNetworkOps({ iface: 'br0', subnets: ['10.0.0.0/33'] })).toThrow(ValidationError);
    expect(() => ruleset.addPortOps({ protocol: 'tcp', hostPort: 0, containerIp: '10.0.0.2', containerPort: 80 })).toThrow(ValidationError);
    expect(() => ruleset.addPortOps({ protocol: 'tcp', hostPort: 80, hostIp: '::1', containerIp: '10.0.0.2', containerPort: 80 })).toThrow(/IPv4/);
  });

  test("names Object.prototype carries ('toString', '__proto__' ...) are not values of any nf_tables lookup table", () => {
    const T = { family: 'inet' as const, table: 't' };
    for (const bad of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const x = bad as never;
      const set: SetSpec = { ...T, name: 's', key: 'inet_proto' };
      const tries: [string, () => unknown][] = [
        ['table family', () => toNativeNftOp({ verb: 'add', table: { family: x, name: 'x' } })],
        ['chain hook', () => toNativeNftOp({ verb: 'add', chain: { ...T, name: 'c', hook: x } })],
        ['set key type', () => toNativeNftOp({ verb: 'add', set: { ...T, name: 's', key: x } })],
        ['map data type', () => toNativeNftOp({ verb: 'add', set: { ...T, name: 's', key: 'mark', data: x } })],
        ['inet_proto value', () => toNativeNftOp({ verb: 'add', elements: { set, elements: [{ key: x }] } })],
        ['meta key', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'meta', key: x, dreg: 1 }] } })],
        ['cmp op', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'cmp', op: x, sreg: 1, data: Buffer.from([1]) }] } })],
        ['payload base', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'payload', base: x, offset: 0, len: 1, dreg: 1 }] } })],
        ['ct key', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'ct', key: x, dreg: 1 }] } })],
        ['verdict', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'immediate', verdict: x }] } })],
        ['nat family', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'nat', type: 'dnat', family: x, addr: 1 }] } })],
        ['fib result', () => toNativeNftOp({ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'fib', lookup: ['daddr'], result: x, dreg: 1 }] } })],
      ];
      for (const [what, f] of tries) expect(f, `${what} ${bad}`).toThrow(ValidationError);
    }
  });

  test('the whole ruleset converts for the addon without a validation error', () => {
    const ops = ruleset.rulesetOps({ replace: true }).map((o, i) => toNativeNftOp(o, `ops[${i}]`));
    expect(ops[0]!.op).toMatchObject({ obj: 'table', verb: 'destroy' });
    expect(ops.filter((d) => d.op.obj === 'rule')).toHaveLength(23);
  });
});
