// The regex-free address parser agrees with Node's net.isIP on valid and
// invalid input (no privileges needed).
import { isIP } from 'node:net';

import { expect, test } from 'vitest';

import { ipFamily, parseIPv4, parseIPv6 } from '../src/ipaddr.js';

const cases = [
  '0.0.0.0', '10.88.0.2', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.4 ', '',
  '::', '::1', 'fe80::1', 'fd00:1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', '::ffff:10.0.0.1',
  '2001:db8::', 'g::1', '12345::', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '1:2:3:4:5:6::10.0.0.1', 'fe80::1%eth0', 'FD00::A',
];

test('ipFamily agrees with net.isIP on valid and invalid addresses (zones aside)', () => {
  for (const c of cases) {
    if (c.includes('%')) expect(ipFamily(c), c).toBe(0);
    else expect(ipFamily(c), c).toBe(isIP(c));
  }
});

test('parsed groups are the address', () => {
  expect(parseIPv4('10.88.0.2')).toEqual([10, 88, 0, 2]);
  expect(parseIPv6('fd00::2')).toEqual([0xfd00, 0, 0, 0, 0, 0, 0, 2]);
  expect(parseIPv6('::ffff:10.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
});

// A seeded generator (mulberry32), so a failure names an input that reproduces.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Valid addresses in every textual form, with the groups they stand for. */
function validForms(r: () => number): { text: string; groups: number[] | null; octets: number[] | null }[] {
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: T[]) => xs[int(xs.length)]!;
  const octets = [0, 0, 0, 0].map(() => pick([0, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255, int(256)]));
  const v4 = octets.join('.');
  // Zero groups are common in real addresses and give '::' room to compress.
  const groups = [0, 0, 0, 0, 0, 0, 0, 0].map(() => (r() < 0.4 ? 0 : pick([1, 0xf, 0xff, 0xfff, 0xffff, int(0x10000)])));
  const hex = (g: number) => {
    let s = g.toString(16);
    if (r() < 0.3) s = s.padStart(s.length + int(5 - s.length), '0'); // leading zeros, up to four digits
    return r() < 0.3 ? s.toUpperCase() : r() < 0.2 ? [...s].map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join('') : s;
  };
  const tail4 = r() < 0.3;
  const fields = tail4 ? [...groups.slice(0, 6).map(hex), `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`] : groups.map(hex);
  const n = fields.length; // 7 with an IPv4 tail (which stands for two groups), else 8
  let text = fields.join(':');
  if (r() < 0.7) {
    // '::' in place of a run of one or more groups (net.isIP wants at least one).
    const zeros: [number, number][] = [];
    for (let i = 0; i < n; i++) for (let j = i + 1; j <= n; j++) if (fields.slice(i, j).every((f) => /^0+$/.test(f)) && !(tail4 && j === n)) zeros.push([i, j]);
    const [i, j] = zeros.length ? pick(zeros) : [int(n), 0];
    if (j > i) text = `${fields.slice(0, i).join(':')}::${fields.slice(j).join(':')}`;
  }
  return [
    { text: v4, groups: null, octets },
    { text, groups, octets: null },
  ];
}

/** Near misses: the kinds of damage a hand-written parser gets wrong. */
function mutate(s: string, r: () => number): string {
  const int = (n: number) => Math.floor(r() * n);
  const at = int(s.length + 1);
  const ins = (x: string) => s.slice(0, at) + x + s.slice(at);
  switch (int(16)) {
    case 0: return ins(':');
    case 1: return ins('::');
    case 2: return `${s}::`;
    case 3: return `::${s}`;
    case 4: return `${s}.`;
    case 5: return `.${s}`;
    case 6: return s.slice(0, at) + s.slice(at + 1); // a character gone
    case 7: return ins(s[at] ?? 'a'); // one doubled
    case 8: return ins('g /%-0.'[int(7)]!);
    case 9: return s.replace(/\d+/, ['256', '999', '0256', '1000', '-1', ''][int(6)]!);
    case 10: return s.replace(/[0-9a-f]{1,4}/i, ['10000', 'fffff', 'g', '0x1', ''][int(5)]!);
    case 11: return `${s}:${int(0x10000).toString(16)}`;
    case 12: return `${int(0x10000).toString(16)}:${s}`;
    case 13: return `${s}.${int(300)}`;
    case 14: return s.replace('.', ':');
    default: return s.replace(':', '.');
  }
}

test('ipFamily agrees with net.isIP on a randomized corpus of valid addresses in every form and their near misses', () => {
  const seed = 14;
  const r = rng(seed);
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < 40_000; i++) {
    for (const { text, groups, octets } of validForms(r)) {
      expect(isIP(text), `generator: ${text}`).toBe(groups ? 6 : 4);
      expect(ipFamily(text), text).toBe(groups ? 6 : 4);
      if (groups) expect(parseIPv6(text), text).toEqual(groups);
      else expect(parseIPv4(text), text).toEqual(octets);
      let s = text;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
        s = mutate(s, r);
        const want = s.includes('%') ? 0 : isIP(s);
        if (ipFamily(s) !== want) expect(ipFamily(s), `${JSON.stringify(s)} (seed ${seed}, from ${text})`).toBe(want);
        if (want === 0) invalid++;
        else valid++;
      }
    }
  }
  // The mutations must mostly break addresses, and sometimes not (a doubled digit can stay valid).
  expect(invalid).toBeGreaterThan(100_000);
  expect(valid).toBeGreaterThan(1_000);
});

test('an IPv4 tail is only valid at the end of an IPv6 address', () => {
  for (const s of ['1.2.3.4::', '1.2.3.4::1', '::1.2.3.4:1', '1.2.3.4:1::', 'ffff:1.2.3.4::', '::1.2.3.4::']) {
    expect(isIP(s), s).toBe(0);
    expect(ipFamily(s), s).toBe(0);
  }
  expect(ipFamily('::1.2.3.4')).toBe(6);
  expect(ipFamily('1::1.2.3.4')).toBe(6);
});
