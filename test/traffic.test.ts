// Real packets: two sandboxes on a bridge talk TCP, UDP and ICMP, using
// sockets opened inside their namespaces and handed to Node by fd.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { nsExec, testHost, uniq } from './helpers.js';

let host: Netns;
let a: Netns;
let b: Netns;

// The bridge-mode shape: bridge with the gateway address in "host", a veth
// per sandbox with its peer created inside, address, default route.
async function attach(sb: Netns, veth: string, v4: string, v6: string): Promise<void> {
  await host.links.addVeth({ name: veth, master: 'br0', up: true, peer: { name: 'eth0', netns: sb } });
  await sb
    .batch()
    .setUp('eth0')
    .addAddress('eth0', v4)
    .addAddress('eth0', v6, { nodad: true })
    .addRoute({ dst: 'default', gateway: '10.90.0.1' })
    .addRoute({ dst: 'default', gateway: 'fd90::1', dev: 'eth0' })
    .commit();
}

beforeAll(async () => {
  host = await testHost('t');
  a = await Netns.create(uniq('sa'));
  b = await Netns.create(uniq('sb'));
  await host.links.addBridge({ name: 'br0', up: true });
  await host.batch().addAddress('br0', '10.90.0.1/24').addAddress('br0', 'fd90::1/64', { nodad: true }).commit();
  await attach(a, 'va', '10.90.0.2/24', 'fd90::2/64');
  await attach(b, 'vb', '10.90.0.3/24', 'fd90::3/64');
});

afterAll(async () => {
  await a.delete();
  await b.delete();
  await host.delete();
});

describe('traffic between sandboxes on one bridge', () => {
  test('TCP over IPv4: a server in a, a client in b, bytes both ways', async () => {
    const server = await a.listenTcp(8080, '10.90.0.2');
    const got = new Promise<string>((resolve) =>
      server.once('connection', (s) => {
        s.once('data', (d) => {
          s.end(`pong:${d}`);
          resolve(String(d));
        });
      }),
    );
    const client = await b.connectTcp(8080, '10.90.0.2');
    expect(client.remoteAddress).toBe('10.90.0.2');
    expect(client.localAddress).toBe('10.90.0.3');
    client.write('ping');
    const [reply] = await once(client, 'data');
    expect(String(reply)).toBe('pong:ping');
    expect(await got).toBe('ping');
    client.destroy();
    server.close();
  });

  test('TCP over IPv6', async () => {
    const server = await b.listenTcp(0, 'fd90::3');
    const port = (server.address() as AddressInfo).port;
    server.on('connection', (s) => s.end('hello6'));
    const client = await a.connectTcp(port, 'fd90::3');
    const [data] = await once(client, 'data');
    expect(String(data)).toBe('hello6');
    expect(client.localAddress).toBe('fd90::2');
    client.destroy();
    server.close();
  });

  test('UDP: a datagram from a reaches b and the reply comes back', async () => {
    const sb = await b.bindUdp(5353, '10.90.0.3');
    sb.on('message', (m, rinfo) => sb.send(`echo:${m}`, rinfo.port, rinfo.address));
    const sa = await a.bindUdp(0, '10.90.0.2');
    sa.send('hi', 5353, '10.90.0.3');
    const [msg, rinfo] = (await once(sa, 'message')) as [Buffer, { address: string }];
    expect(String(msg)).toBe('echo:hi');
    expect(rinfo.address).toBe('10.90.0.3');
    sa.close();
    sb.close();
  });

  test('ICMP: a pings b and the gateway; the host namespace pings a', async () => {
    const r1 = await nsExec(a.name!, 'ping', '-c1', '-W2', '10.90.0.3');
    expect(r1.stdout).toContain('1 received');
    const r2 = await nsExec(a.name!, 'ping', '-c1', '-W2', '10.90.0.1');
    expect(r2.stdout).toContain('1 received');
    const r3 = await nsExec(host.name!, 'ping', '-c1', '-W2', 'fd90::2');
    expect(r3.stdout).toContain('1 received');
  });

  test('a sandbox cannot reach a port nobody listens on (RST, not silence)', async () => {
    await expect(a.connectTcp(9, '10.90.0.3')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
