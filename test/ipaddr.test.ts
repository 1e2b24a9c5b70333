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
