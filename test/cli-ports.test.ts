// Publishing beside host processes and from the host's own addresses: a
// port a host process listens on is refused with the process named (as
// Docker's "port is already allocated"), skipped when nsnet picks the port,
// and taken only when forced; and a dual-stack sandbox's published port is
// reached from the host on 127.0.0.1 and the host's IPv6 addresses, while
// [::1], which NAT cannot carry, is refused at once rather than left to hang.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterEach, describe, expect, test } from 'vitest';

import { cliWithStateDir, connectFrom, serve } from './cli-helpers.js';
import { uniq } from './helpers.js';

const run = promisify(execFile);
const { nsnet, host, inHost } = cliWithStateDir({ ownHost: true });
const inspect = async (kind: 'sandbox' | 'network', name: string) => JSON.parse((await nsnet(kind, 'inspect', name)).stdout)[0];

const listeners: ChildProcess[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.kill('SIGKILL');
});

/** A node process in the host namespace, listening on port (TCP) or bound to it (UDP); resolves once it is. */
async function listen(protocol: 'tcp' | 'udp', address: string, port: number): Promise<ChildProcess> {
  const code = protocol === 'tcp'
    ? `require('net').createServer().listen(${port}, '${address}', () => console.log('ready'))`
    : `require('dgram').createSocket('${address.includes(':') ? 'udp6' : 'udp4'}').bind(${port}, '${address}', () => console.log('ready'))`;
  const argv = inHost(process.execPath, '-e', code);
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  listeners.push(p);
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    p.once('exit', (c) => reject(new Error(`listener exited with ${c}`)));
  });
  return p;
}

const connect = (port: number, address: string) => connectFrom(host()!.path, port, address);

describe('publishing a port a host process listens on', () => {
  test('is refused, naming the process and its socket, for the port on every address and on one; a listener on another port or protocol is no clash; --force-publish takes it', async () => {
    const net = uniq('la');
    expect((await nsnet('network', 'create', '--subnet', '10.84.1.0/24', net)).code).toBe(0);
    const l = await listen('tcp', '0.0.0.0', 18410);
    const cases: [string, string][] = [
      ['18410:80', 'host port 0.0.0.0:18410/tcp is already allocated'],
      ['127.0.0.1:18410:80', 'host port 127.0.0.1:18410/tcp is already allocated'],
      ['18409-18410:79-80', 'host port 0.0.0.0:18410/tcp is already allocated'],
    ];
    for (const [spec, message] of cases) {
      const r = await nsnet('run', '--net', net, '-p', spec, 'true');
      expect(r.code, spec).toBe(1);
      expect(r.stderr).toBe(`nsnet: ${message}: node (pid ${l.pid}) listens on 0.0.0.0:18410/tcp, and publishing over it would take its connections (force it with forcePublish, or nsnet run --force-publish)\n`);
    }
    expect(JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout)).toEqual([]);
    // Another port, or UDP on the same port: no clash.
    expect((await nsnet('run', '--net', net, '-p', '18411:80', '-p', '18410:80/udp', 'true')).code).toBe(0);
    // Forced: published over the listener, whose outside clients now reach the sandbox.
    const name = uniq('lb');
    const forced = await nsnet('run', '--keep', '--net', net, '--name', name, '--force-publish', '-p', '18410:80', 'true');
    expect(forced.code, forced.stderr).toBe(0);
    expect((await inspect('sandbox', name)).endpoints[0].ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 18410, containerPort: 80 }]);
    const stop = await serve(name, 80, () => 'sandbox');
    try {
      expect(await connect(18410, '127.0.0.1')).toBe('ok sandbox');
    } finally {
      stop();
    }
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('a UDP socket bound on one address clashes with that address and with every address, not with another address', async () => {
    const net = uniq('lc');
    expect((await nsnet('network', 'create', '--subnet', '10.84.2.0/24', net)).code).toBe(0);
    const l = await listen('udp', '127.0.0.1', 18412);
    for (const spec of ['18412:53/udp', '127.0.0.1:18412:53/udp']) {
      const r = await nsnet('run', '--net', net, '-p', spec, 'true');
      expect(r.code, spec).toBe(1);
      expect(r.stderr).toContain(`node (pid ${l.pid}) listens on 127.0.0.1:18412/udp`);
    }
    // The bridge's gateway is another address of the host.
    expect((await nsnet('run', '--net', net, '-p', '10.84.2.1:18412:53/udp', 'true')).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('an ephemeral host port, or one picked from a range, skips the ports host processes listen on', async () => {
    const net = uniq('ld');
    expect((await nsnet('network', 'create', '--subnet', '10.84.3.0/24', net)).code).toBe(0);
    const sysctl = inHost('sysctl', '-qw', 'net.ipv4.ip_local_port_range=18420 18422');
    await run(sysctl[0]!, sysctl.slice(1));
    await listen('tcp', '::', 18420);
    await listen('tcp', '0.0.0.0', 18431);
    const name = uniq('le');
    const r = await nsnet('run', '--keep', '--net', net, '--name', name, '-p', '80', '-p', '18430-18432:81', 'true');
    expect(r.code, r.stderr).toBe(0);
    const ports = (await inspect('sandbox', name)).endpoints[0].ports.map((p: any) => `${p.hostPort}->${p.containerPort}`);
    expect(ports).toEqual(['18421->80', '18430->81']);
    const other = uniq('lf');
    expect((await nsnet('run', '--keep', '--net', net, '--name', other, '-p', '18430-18432:81', 'true')).code).toBe(0);
    expect((await inspect('sandbox', other)).endpoints[0].ports.map((p: any) => p.hostPort)).toEqual([18432]);
    expect((await nsnet('sandbox', 'rm', name, other)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });
});

describe('a dual-stack sandbox\'s published port from the host', () => {
  test('is reached on 127.0.0.1 and on the host\'s IPv6 address, and on [::1] refused at once (NAT cannot carry ::1) rather than left to hang', async () => {
    const net = uniq('lg');
    expect((await nsnet('network', 'create', '--subnet', '10.84.4.0/24', '--subnet', 'fd84:4::/64', net)).code).toBe(0);
    const name = uniq('lh');
    expect((await nsnet('run', '--keep', '--net', net, '--name', name, '-p', '18440:80', 'true')).code).toBe(0);
    const stop = await serve(name, 80);
    try {
      expect(await connect(18440, '127.0.0.1')).toBe(`ok ${name}`);
      // The bridge's IPv6 gateway is one of the host's addresses.
      expect(await connect(18440, 'fd84:4::1')).toBe(`ok ${name}`);
      expect(await connect(18440, '::1')).toBe('ECONNREFUSED');
    } finally {
      stop();
    }
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });
});
