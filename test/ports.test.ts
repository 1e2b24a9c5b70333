// Docker's -p syntax, parsed without the kernel: every form, and every bad
// input refused with a message that says what is wrong.
import { describe, expect, test } from 'vitest';

import { formatPort, parsePort } from '../src/ports.js';

describe('parsePort', () => {
  test.each([
    ['80', { protocol: 'tcp', hostIp: null, hostPort: null, hostPortEnd: null, containerPort: 80, containerPortEnd: 80 }],
    ['8080:80', { protocol: 'tcp', hostIp: null, hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['8080:80/udp', { protocol: 'udp', hostIp: null, hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['53:53/SCTP', { protocol: 'sctp', hostIp: null, hostPort: 53, hostPortEnd: 53, containerPort: 53, containerPortEnd: 53 }],
    ['127.0.0.1:8080:80', { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['10.0.0.5::80', { protocol: 'tcp', hostIp: '10.0.0.5', hostPort: null, hostPortEnd: null, containerPort: 80, containerPortEnd: 80 }],
    ['[::1]:8080:80/tcp', { protocol: 'tcp', hostIp: '::1', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['8000-8002:80-82', { protocol: 'tcp', hostIp: null, hostPort: 8000, hostPortEnd: 8002, containerPort: 80, containerPortEnd: 82 }],
    ['8000-8010:80', { protocol: 'tcp', hostIp: null, hostPort: 8000, hostPortEnd: 8010, containerPort: 80, containerPortEnd: 80 }],
    ['65535:1', { protocol: 'tcp', hostIp: null, hostPort: 65535, hostPortEnd: 65535, containerPort: 1, containerPortEnd: 1 }],
  ])('%s', (spec, want) => {
    expect(parsePort(spec)).toEqual(want);
  });

  test('the object form', () => {
    expect(parsePort({ containerPort: 80, hostPort: 8080, protocol: 'udp', hostIp: '0.0.0.0' })).toEqual({
      protocol: 'udp', hostIp: '0.0.0.0', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80,
    });
  });

  test.each([
    ['0:80', /port 0 is out of range/],
    ['65536:80', /port 65536 is out of range/],
    ['8080:0', /port 0 is out of range/],
    ['8080:80/icmp', /unknown protocol 'icmp'/],
    ['8080:http', /'http' is not a port number/],
    ['300.1.1.1:8080:80', /is not an IP address/],
    ['::1:8080:80', /must be \[hostIP:\]/],
    ['8002-8000:80', /ends before it starts/],
    ['8000-8002:80-81', /differ in length/],
    ['', /must be/],
  ])('%s is refused', (spec, msg) => {
    expect(() => parsePort(spec)).toThrow(msg);
  });

  test('formatPort prints as docker ps does', () => {
    expect(formatPort({ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 })).toBe('0.0.0.0:8080->80/tcp');
    expect(formatPort({ protocol: 'udp', hostIp: '::', hostPort: 53, containerPort: 53 })).toBe('[::]:53->53/udp');
  });
});
