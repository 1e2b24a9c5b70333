// The CNI runtime's pure parts, checked against libcni's behaviour: results
// read and converted per version, configurations parsed and versions chosen,
// Go's JSON, plugin stdin, attachment checks, and the cache file's bytes
// against one Podman 4.3 (libcni 1.1) wrote.
import { readFileSync } from 'node:fs';

import { describe, expect, test } from 'vitest';

import { CniError } from '../src/cni/errors.js';
import { argsString, checkAttachment, parseArgsString, pluginStdin } from '../src/cni/runtime/attachment.js';
import { decodeCache, encodeCache } from '../src/cni/runtime/cache.js';
import { parseConf, parseConfList } from '../src/cni/runtime/config.js';
import { goJson } from '../src/cni/runtime/gojson.js';
import { convertResult, decodeResult, type CniLegacyResult, type CniResult } from '../src/cni/types.js';

const cniError = (fn: () => unknown): CniError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error('did not throw');
};

describe('results, as libcni reads them', () => {
  test('a 1.0.0 result keeps its fields only, addresses in Go form, empty ones dropped, dns always present', () => {
    const r = decodeResult({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '', sandbox: '/run/netns/x', mtu: 1400, extra: 1 }],
      ips: [{ address: '2001:DB8:0:0:0:0:0:5/64', gateway: '::ffff:10.0.0.1', interface: 0, version: '6' }],
      routes: [{ dst: '0.0.0.0/0', gw: '', table: 5 }],
      unknown: true,
    });
    expect(r).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ address: '2001:db8::5/64', gateway: '10.0.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    });
  });

  test('0.4.0 keeps ips[].version; 1.1.0 keeps the interface and route fields 1.1 added; a missing version is the configuration\'s', () => {
    const ip = { version: '4', address: '10.0.0.2/24', interface: 1 };
    expect((decodeResult({ cniVersion: '0.4.0', ips: [ip] }) as CniResult).ips).toEqual([ip]);
    const r = decodeResult({ interfaces: [{ name: 'a', mtu: 1400, pciID: '0000:01:00.0' }], routes: [{ dst: '10.1.0.0/16', table: 0, scope: 253, priority: 0 }] }, '1.1.0') as CniResult;
    expect(r.cniVersion).toBe('1.1.0');
    expect(r.interfaces).toEqual([{ name: 'a', mtu: 1400, pciID: '0000:01:00.0' }]);
    expect(r.routes).toEqual([{ dst: '10.1.0.0/16', table: 0, scope: 253 }]);
  });

  test('output libcni would not decode is code 6; an unknown version is code 1', () => {
    expect(cniError(() => decodeResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.300/24' }] })).cniCode).toBe(6);
    expect(cniError(() => decodeResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.3' }] })).cniCode).toBe(6);
    expect(cniError(() => decodeResult({ cniVersion: '1.1.0', interfaces: [{ name: 'a', mtu: 'x' }] })).cniCode).toBe(6);
    expect(cniError(() => decodeResult([])).cniCode).toBe(6);
    expect(cniError(() => decodeResult({ cniVersion: '9.9.9' })).cniCode).toBe(1);
  });

  test('conversion follows libcni: 0.2.0 up to 0.4.0 and 1.0.0, 1.0.0 down to 0.4.0 (version from the family) and 0.2.0 (first address of each family)', () => {
    const old = decodeResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0' }] }, dns: { nameservers: ['1.1.1.1'] } });
    expect(convertResult(old, '0.4.0')).toEqual({
      cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['1.1.1.1'] },
    });
    expect(convertResult(old, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['1.1.1.1'] } });
    const cur = decodeResult({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mtu: 1400 }],
      ips: [{ address: '10.0.0.2/24', interface: 0 }, { address: '10.0.0.3/24' }, { address: 'fd00::2/64', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0', table: 7 }],
    });
    const v04 = convertResult(cur, '0.4.0') as CniResult;
    expect(v04.ips!.map((i) => i.version)).toEqual(['4', '4', '6']);
    expect(v04.interfaces).toEqual([{ name: 'eth0' }]);
    expect(v04.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0' }]);
    expect(convertResult(v04, '1.0.0')).toEqual({ ...v04, cniVersion: '1.0.0', ips: v04.ips!.map(({ version: _, ...i }) => i) });
    const v02 = convertResult(cur, '0.2.0') as CniLegacyResult;
    expect(v02).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] }, ip6: { ip: 'fd00::2/64', routes: [{ dst: '::/0' }] }, dns: {} });
    const noV6 = decodeResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }], routes: [{ dst: '::/0' }] });
    expect(cniError(() => convertResult(noV6, '0.2.0')).message).toMatch(/no IPv6 address/);
  });
});

describe('configurations, as libcni parses them', () => {
  test('cniVersions (1.1) picks the highest version nsnet implements, ignoring newer ones', () => {
    const l = parseConfList(JSON.stringify({ name: 'n', cniVersion: '0.4.0', cniVersions: ['1.0.0', '1.1.0', '2.0.0'], plugins: [{ type: 'bridge' }] }));
    expect(l.cniVersion).toBe('1.1.0');
    expect(parseConfList(JSON.stringify({ name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'a' }] })).cniVersion).toBe('1.0.0');
    expect(parseConfList(JSON.stringify({ name: 'n', cniVersions: ['0.3.1'], plugins: [{ type: 'a' }] })).cniVersion).toBe('0.3.1');
  });

  test('capabilities, disableCheck and disableGC (true or "true") are read; the bytes are kept as given', () => {
    const text = '{"name":"n","cniVersion":"1.0.0","disableCheck":"true","plugins":[{"type":"portmap","capabilities":{"portMappings":true,"ips":false}}]}\n';
    const l = parseConfList(text);
    expect(l.disableCheck).toBe(true);
    expect(l.disableGC).toBe(false);
    expect(l.plugins[0]!.capabilities).toEqual(['portMappings']);
    expect(l.bytes.toString()).toBe(text);
  });

  test('invalid JSON is code 6; no name, no plugins, a plugin without type or a bad cniVersions entry is code 7', () => {
    expect(cniError(() => parseConfList('{"name": "n",')).cniCode).toBe(6);
    expect(cniError(() => parseConfList('{"plugins":[{"type":"a"}]}')).cniCode).toBe(7);
    expect(cniError(() => parseConfList('{"name":"n","plugins":[]}')).cniCode).toBe(7);
    expect(cniError(() => parseConfList('{"name":"n","plugins":[{"bridge":"x"}]}')).message).toMatch(/missing 'type'/);
    expect(cniError(() => parseConfList('{"name":"n","cniVersions":["1.0"],"plugins":[{"type":"a"}]}')).cniCode).toBe(7);
  });

  test('a single-plugin .conf becomes the one-plugin list libcni makes of it (its bytes Go\'s)', () => {
    const l = parseConf('{"cniVersion":"0.4.0","name":"old","type":"bridge","bridge":"b0"}');
    expect(l.name).toBe('old');
    expect(l.plugins.map((p) => p.type)).toEqual(['bridge']);
    expect(l.bytes.toString()).toBe('{"cniVersion":"0.4.0","name":"old","plugins":[{"bridge":"b0","cniVersion":"0.4.0","name":"old","type":"bridge"}]}');
  });
});

describe("Go's JSON, attachments and plugin stdin", () => {
  test('goJson sorts keys by bytes at every level and escapes as Go does', () => {
    expect(goJson({ b: 1, a: { d: [1, 'x<y>&z'], c: null }, B: 1e21, e: 1e-7, f: 0.5 })).toBe('{"B":1e+21,"a":{"c":null,"d":[1,"x\\u003cy\\u003e\\u0026z"]},"b":1,"e":1e-7,"f":0.5}');
    expect(goJson({ b: 1, a: 2 }, false)).toBe('{"b":1,"a":2}');
  });

  test("container ids, interface names and CNI_ARGS are checked as libcni checks them, with the spec's codes", () => {
    expect(checkAttachment({ containerId: 'abc' }, 'n')).toEqual({ containerId: 'abc', netns: '', ifName: 'eth0', args: [], capabilityArgs: {} });
    expect(cniError(() => checkAttachment({ containerId: '' }, 'n')).cniCode).toBe(3);
    expect(cniError(() => checkAttachment({ containerId: '../x' }, 'n')).cniCode).toBe(4);
    expect(cniError(() => checkAttachment({ containerId: 'a', ifName: 'a-very-long-name0' }, 'n')).cniCode).toBe(4);
    expect(cniError(() => checkAttachment({ containerId: 'a', ifName: 'eth:0' }, 'n')).cniCode).toBe(4);
    expect(cniError(() => checkAttachment({ containerId: 'a', args: [['A=B', 'c']] }, 'n')).cniCode).toBe(4);
    expect(parseArgsString('IgnoreUnknown=1;IP=10.0.0.5')).toEqual([['IgnoreUnknown', '1'], ['IP', '10.0.0.5']]);
    expect(argsString([['A', '1'], ['B', 'x=y']])).toBe('A=1;B=x=y');
    expect(cniError(() => parseArgsString('novalue')).cniCode).toBe(4);
  });

  test("a plugin's stdin carries the list's name and version, prevResult, and runtimeConfig with only the capabilities it declares, and not `capabilities` (the spec removes it)", () => {
    const l = parseConfList('{"name":"net","cniVersion":"1.0.0","plugins":[{"type":"a","cniVersion":"0.1.0"},{"type":"portmap","capabilities":{"portMappings":true}}]}');
    const caps = { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }], mac: '02:00:00:00:00:01' };
    expect(JSON.parse(pluginStdin(l, l.plugins[0]!, undefined, caps))).toEqual({ type: 'a', cniVersion: '1.0.0', name: 'net' });
    const prev = decodeResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    expect(JSON.parse(pluginStdin(l, l.plugins[1]!, prev, caps))).toEqual({
      type: 'portmap', cniVersion: '1.0.0', name: 'net', prevResult: prev, runtimeConfig: { portMappings: caps.portMappings },
    });
  });
});

describe("libcni's cache file", () => {
  const podman = readFileSync(new URL('./fixtures/cni/podman-4.3-cache.json', import.meta.url));

  test('the file Podman 4.3 (libcni 1.1) wrote for a bridge + portmap container decodes, and encodes again to the same bytes', () => {
    const e = decodeCache(podman, { network: 'pmnet', containerId: 'x', ifName: 'eth0' })!;
    expect(e.networkName).toBe('pmnet');
    expect(e.cniArgs).toEqual([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'c1']]);
    expect(parseConfList(e.config).plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    // The result as nsnet would cache it after reading it from a plugin: libcni's normalization changes nothing.
    const result = decodeResult(e.result) as unknown as Record<string, unknown>;
    expect(encodeCache({ ...e, result })).toBe(podman.toString());
  });

  test('fields left empty are left out, netns (libcni 1.2) is written when known, and a bare legacy result still reads', () => {
    const base = { containerId: 'c', config: Buffer.from('{}'), ifName: 'eth0', networkName: 'n' };
    expect(encodeCache({ ...base, cniArgs: [], capabilityArgs: {} })).toBe('{"kind":"cniCacheV1","containerId":"c","config":"e30=","ifName":"eth0","networkName":"n"}');
    expect(encodeCache({ ...base, netns: '/run/netns/x' })).toContain('"networkName":"n","netns":"/run/netns/x"}');
    const legacy = decodeCache(Buffer.from('{"cniVersion":"0.3.1","ips":[]}'), { network: 'n', containerId: 'c', ifName: 'eth0' });
    expect(legacy?.result).toEqual({ cniVersion: '0.3.1', ips: [] });
  });
});
