// A corpus of bad input, one row per case, across the TS API (Controller,
// networks, endpoints, sandboxes, modes, the low-level netlink API), the
// store (its directory and its file) and the nsnet command. Each row proves
// that the input fails with a typed error (an NsnetError with the code the
// row names, a ValidationError for ERR_NSNET_INVALID) and that nothing
// changed: the kernel (`ip -j` links, addresses, routes; `nft -j`;
// /run/netns), the store's rows and the sandbox files are as they were.
// No TypeError, SyntaxError or engine error may reach the caller.
//
// To add a case, add a row: [what it proves, the call, the expected code].
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Controller, createSandbox, Netns, NsnetError, Nftables, ValidationError, type Network, type Sandbox } from '../src/index.js';
import { CLI } from './cli-helpers.js';
import { snapshot, world, type World } from './cnm-helpers.js';
import { uniq } from './helpers.js';

const run = promisify(execFile);
const INVALID = 'ERR_NSNET_INVALID';
const NOT_FOUND = 'ERR_NSNET_NOT_FOUND';
const STORE = 'ERR_NSNET_STORE';

// Bad values typed as whatever the signature wants: the point is a caller who gets it wrong.
const bad = <T>(v: unknown) => v as T;

let w: World;
let net: Network;
let sb: Sandbox;
const P = uniq('bi');
/** A fresh name per row, so a row that wrongly succeeds cannot make the next fail for another reason. */
const x = () => uniq('bx');

/** The call's error, or a note that it did not fail. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  return new Error('did not fail');
}

function expectTyped(e: unknown, code: string): void {
  expect(e, String((e as Error)?.stack ?? e)).toBeInstanceOf(NsnetError);
  expect((e as NsnetError).code, (e as Error).message).toBe(code);
  if (code === INVALID) expect(e).toBeInstanceOf(ValidationError);
}

beforeAll(async () => {
  w = await world('bi');
  // Something to leave alone: a network with an endpoint in a sandbox, and a published port.
  net = await w.c.createNetwork(`${P}n`, { subnets: ['10.77.0.0/24'] });
  sb = await w.c.createSandbox(`${P}s`);
  const ep = await net.createEndpoint(`${P}e`, { ports: ['8080:80'] });
  await ep.join(sb);
});
afterAll(async () => {
  await w.cleanup();
});

type Row = [what: string, call: () => unknown, code: string];

const api: Row[] = [
  // networks
  ['createNetwork: no name', () => w.c.createNetwork(bad(undefined)), INVALID],
  ['createNetwork: an empty name', () => w.c.createNetwork(''), INVALID],
  ['createNetwork: a name with a slash', () => w.c.createNetwork('a/b'), INVALID],
  ['createNetwork: a name 300 bytes long', () => w.c.createNetwork('n'.repeat(300)), INVALID],
  ['createNetwork: a number for a name', () => w.c.createNetwork(bad(42)), INVALID],
  ['createNetwork: the name of a network that exists', () => w.c.createNetwork(`${P}n`), 'ERR_NSNET_EXISTS'],
  ["createNetwork: subnets given as a string, not a list", () => w.c.createNetwork(x(), { subnets: bad('10.0.0.0/24') }), INVALID],
  ['createNetwork: subnets given as an object, not a list', () => w.c.createNetwork(x(), { subnets: bad({ subnet: '10.0.0.0/24' }) }), INVALID],
  ['createNetwork: a subnet with prefix /33', () => w.c.createNetwork(x(), { subnets: ['10.0.0.0/33'] }), INVALID],
  ['createNetwork: a subnet that is not an address', () => w.c.createNetwork(x(), { subnets: ['ten.0.0.0/24'] }), INVALID],
  ['createNetwork: a subnet of 256.0.0.0/24', () => w.c.createNetwork(x(), { subnets: ['256.0.0.0/24'] }), INVALID],
  ['createNetwork: a subnet too small for a gateway and an endpoint (/31)', () => w.c.createNetwork(x(), { subnets: ['10.0.0.0/31'] }), INVALID],
  ['createNetwork: a null subnet', () => w.c.createNetwork(x(), { subnets: [bad(null)] }), INVALID],
  ['createNetwork: a subnet given as a number', () => w.c.createNetwork(x(), { subnets: [bad(10)] }), INVALID],
  ['createNetwork: two subnets that overlap', () => w.c.createNetwork(x(), { subnets: ['10.1.0.0/24', '10.1.0.128/25'] }), INVALID],
  ["createNetwork: a subnet that overlaps another network's", () => w.c.createNetwork(x(), { subnets: ['10.77.0.0/16'] }), 'ERR_NSNET_OVERLAP'],
  ['createNetwork: a gateway outside the subnet', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', gateway: '10.3.0.1' }] }), INVALID],
  ["createNetwork: the subnet's network address as gateway", () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', gateway: '10.2.0.0' }] }), INVALID],
  ["createNetwork: the subnet's broadcast address as gateway", () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', gateway: '10.2.0.255' }] }), INVALID],
  ['createNetwork: an IPv6 gateway on an IPv4 subnet', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', gateway: 'fd00::1' }] }), INVALID],
  ['createNetwork: a gateway given as a number', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', gateway: bad(1) }] }), INVALID],
  ['createNetwork: an ip range outside the subnet', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', ipRange: '10.4.0.0/28' }] }), INVALID],
  ['createNetwork: an ip range that is not a prefix', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', ipRange: 'most of it' }] }), INVALID],
  ['createNetwork: an excluded address outside the subnet', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', excluded: ['10.9.9.9'] }] }), INVALID],
  ['createNetwork: excluded addresses given as a string, not a list', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', excluded: bad('10.2.0.9') }] }), INVALID],
  ['createNetwork: an excluded address given as a number', () => w.c.createNetwork(x(), { subnets: [{ subnet: '10.2.0.0/24', excluded: [bad(9)] }] }), INVALID],
  ['createNetwork: a driver nsnet does not have', () => w.c.createNetwork(x(), { driver: 'overlay9' }), INVALID],
  ['createNetwork: a driver given as a number', () => w.c.createNetwork(x(), { driver: bad(1) }), INVALID],
  ['createNetwork: subnets for the null driver', () => w.c.createNetwork(x(), { driver: 'null', subnets: ['10.2.0.0/24'] }), INVALID],
  ['createNetwork: options given as a string, not a map', () => w.c.createNetwork(x(), { options: bad('mtu=1500') }), INVALID],
  ['createNetwork: an option value that is an object', () => w.c.createNetwork(x(), { options: bad({ mtu: { size: 1500 } }) }), INVALID],
  ['createNetwork: an MTU that is not a number', () => w.c.createNetwork(x(), { options: { mtu: 'big' } }), INVALID],
  ['createNetwork: an MTU below 68', () => w.c.createNetwork(x(), { options: { mtu: '10' } }), INVALID],
  ['createNetwork: a bridge name 16 bytes long', () => w.c.createNetwork(x(), { options: { 'com.docker.network.bridge.name': 'b'.repeat(16) } }), INVALID],
  ['createNetwork: a bridge name with a slash', () => w.c.createNetwork(x(), { options: { bridge: 'br/0' } }), INVALID],
  ['createNetwork: enable_icc that is neither true nor false', () => w.c.createNetwork(x(), { options: { 'com.docker.network.bridge.enable_icc': 'maybe' } }), INVALID],
  ['createNetwork: a label value that is an object', () => w.c.createNetwork(x(), { labels: bad({ team: { id: 7 } }) }), INVALID],
  ['createNetwork: a BigInt where a subnet belongs', () => w.c.createNetwork(x(), { subnets: [bad(10n)] }), INVALID],
  ['network(undefined)', () => w.c.network(bad(undefined)), INVALID],
  ['network: a number for a name', () => w.c.network(bad(7)), INVALID],
  ['network: a name nothing has', () => w.c.network(`${P}nope`), NOT_FOUND],
  // sandboxes
  ['createSandbox: no name', () => w.c.createSandbox(bad(undefined)), INVALID],
  ['createSandbox: a name with a slash', () => w.c.createSandbox('../etc'), INVALID],
  ['createSandbox: the name of a sandbox that exists', () => w.c.createSandbox(`${P}s`), 'ERR_NSNET_EXISTS'],
  ['createSandbox: a hostname with a space', () => w.c.createSandbox(x(), { hostname: 'my host' }), INVALID],
  ['createSandbox: a DNS server that is not an address', () => w.c.createSandbox(x(), { dns: ['dns.example'] }), INVALID],
  ['createSandbox: a DNS server given as a number', () => w.c.createSandbox(x(), { dns: bad(8) }), INVALID],
  ['createSandbox: a DNS search domain given as a number', () => w.c.createSandbox(x(), { dnsSearch: [bad(5)] }), INVALID],
  ['createSandbox: an extra host without an address', () => w.c.createSandbox(x(), { extraHosts: ['db'] }), INVALID],
  ['createSandbox: an extra host whose address is not one', () => w.c.createSandbox(x(), { extraHosts: ['db:10.0.0.300'] }), INVALID],
  ['createSandbox: a namespace option that is neither own nor host', () => w.c.createSandbox(x(), { namespace: bad('shared') }), INVALID],
  ['createSandbox: joining a network nothing has', () => w.c.createSandbox(x(), { networks: [`${P}nope`] }), NOT_FOUND],
  ['createSandbox: networks given as a string, not a list', () => w.c.createSandbox(x(), { networks: bad(`${P}n`) }), INVALID],
  ["createSandbox: sharing the namespace of a sandbox nothing has", () => w.c.createSandbox(x(), { container: `${P}nope` }), NOT_FOUND],
  ['sandbox(undefined)', () => w.c.sandbox(bad(undefined)), INVALID],
  ['sandbox: a name nothing has', () => w.c.sandbox(`${P}nope`), NOT_FOUND],
  // endpoints
  ['createEndpoint: no name', () => net.createEndpoint(bad(undefined)), INVALID],
  ['createEndpoint: an address outside the subnet', () => net.createEndpoint(x(), { ip: '10.78.0.5' }), INVALID],
  ['createEndpoint: an address that is not one', () => net.createEndpoint(x(), { ip: '10.77.0.999' }), INVALID],
  ['createEndpoint: an address given as a number', () => net.createEndpoint(x(), { ip: bad(5) }), INVALID],
  ["createEndpoint: the gateway's address", () => net.createEndpoint(x(), { ip: '10.77.0.1' }), INVALID],
  ["createEndpoint: an address another endpoint holds", () => net.createEndpoint(x(), { ip: '10.77.0.2' }), 'ERR_NSNET_IN_USE'],
  ['createEndpoint: an IPv6 address on an IPv4-only network', () => net.createEndpoint(x(), { ip6: 'fd00::5' }), INVALID],
  ['createEndpoint: an interface name 16 bytes long', () => net.createEndpoint(x(), { ifname: 'i'.repeat(16) }), INVALID],
  ['createEndpoint: a host port above 65535', () => net.createEndpoint(x(), { ports: ['99999:80'] }), INVALID],
  ['createEndpoint: a port with protocol icmp', () => net.createEndpoint(x(), { ports: ['80/icmp'] }), INVALID],
  ['createEndpoint: a port that is not a number', () => net.createEndpoint(x(), { ports: ['http'] }), INVALID],
  ['createEndpoint: ports given as a string, not a list', () => net.createEndpoint(x(), { ports: bad('8081:80') }), INVALID],
  ['createEndpoint: a port object with a negative container port', () => net.createEndpoint(x(), { ports: [bad({ containerPort: -1 })] }), INVALID],
  ['createEndpoint: a host port already published', () => net.createEndpoint(x(), { ports: ['8080:81'] }), 'ERR_NSNET_IN_USE'],
  ["createEndpoint: a host address that is not the host's", () => net.createEndpoint(x(), { ports: ['192.0.2.77:8082:80'] }), INVALID],
  // modes
  ['createSandbox (modes): a mode naming a network nothing has', () => createSandbox(w.c, { name: x(), mode: 'bridged' }), NOT_FOUND],
  ['createSandbox (modes): a mode object that is neither container nor network', () => createSandbox(w.c, { name: x(), mode: bad({ pod: 'x' }) }), INVALID],
  ['createSandbox (modes): container: with no name', () => createSandbox(w.c, { name: x(), mode: 'container:' }), INVALID],
  ['createSandbox (modes): a number for a mode', () => createSandbox(w.c, { name: x(), mode: bad(3) }), INVALID],
  ['createSandbox (modes): a network mode naming no network', () => createSandbox(w.c, { name: x(), mode: { network: `${P}nope` } }), NOT_FOUND],
  ['createSandbox (modes): no options at all', () => createSandbox(w.c, bad(undefined)), INVALID],
  // the low-level API, in the world's host namespace
  ['Netns.create: a name with a slash', () => Netns.create('x/y'), INVALID],
  ['Netns.open: a namespace nothing has', () => Netns.open(`${P}nope`), 'ENOENT'],
  ['links.addBridge: a name 16 bytes long', () => w.host.links.addBridge({ name: 'b'.repeat(16) }), INVALID],
  ['links.addVeth: a peer name with a space', () => w.host.links.addVeth({ name: `${P}v`, peer: { name: 'a b' } }), INVALID],
  ['links.addBridge: no spec at all', () => w.host.links.addBridge(bad(undefined)), INVALID],
  ['links.addVeth: a peer netns that is not a Netns', () => w.host.links.addVeth({ name: x(), peer: { name: x(), netns: bad({}) } }), INVALID],
  ['links.setMtu: an MTU of 10', () => w.host.links.setMtu('lo', 10), INVALID],
  ['links.setMac: a MAC that is not one', () => w.host.links.setMac('lo', 'zz:zz:zz:zz:zz:zz'), INVALID],
  ['addresses.add: prefix /33', () => w.host.addresses.add('lo', '10.9.0.1/33'), INVALID],
  ['addresses.add: on a device nothing has', () => w.host.addresses.add(`${P}nodev`, '10.9.0.1/24'), 'ENODEV'],
  ['routes.add: a destination that is not a prefix', () => w.host.routes.add({ dst: 'somewhere' }), INVALID],
  ['routes.add: a gateway given as a number', () => w.host.routes.add({ dst: '10.9.0.0/24', gateway: bad(1) }), INVALID],
  ['sysctl: a key that climbs out of /proc/sys', () => w.host.sysctl('../../etc/hostname'), INVALID],
  ['Nftables.commit: an op that is not one', () => new Nftables(w.host).commit([bad({ verb: 'add', widget: {} })]), INVALID],
];

describe('bad input to the TS API: a typed error, and nothing changes', () => {
  test.each(api)('%s', async (_what, call, code) => {
    const before = await snapshot(w, P);
    expectTyped(await failure(call), code);
    expect(await snapshot(w, P)).toEqual(before);
  });
});

// ---------------------------------------------------------------- the store

/** The state dir's files and their bytes, and the kernel of a world's host. */
async function storeFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { readdir } = await import('node:fs/promises');
  for (const f of await readdir(dir).catch(() => [] as string[])) out[f] = (await readFile(join(dir, f)).catch(() => Buffer.alloc(0))).toString('base64');
  return out;
}

const store: [what: string, prepare: (dir: string) => Promise<string>, code: string][] = [
  ['a state dir that is a file', async (dir) => {
    await writeFile(join(dir, 'file'), 'not a dir');
    return join(dir, 'file');
  }, STORE],
  ['a state dir under a file', async (dir) => {
    await writeFile(join(dir, 'file'), 'not a dir');
    return join(dir, 'file', 'state');
  }, STORE],
  ['an nsnet.db of random bytes', async (dir) => {
    await writeFile(join(dir, 'nsnet.db'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 73) & 255)));
    return dir;
  }, STORE],
  ['an nsnet.db that is a text file', async (dir) => {
    await writeFile(join(dir, 'nsnet.db'), 'hello, I am not a database\n');
    return dir;
  }, STORE],
  ['an nsnet.db cut short after its first page', async (dir) => {
    await storeThen(dir);
    const whole = await readFile(join(dir, 'nsnet.db'));
    await rm(join(dir, 'nsnet.db-wal'), { force: true });
    await rm(join(dir, 'nsnet.db-shm'), { force: true });
    await writeFile(join(dir, 'nsnet.db'), whole.subarray(0, 100));
    return dir;
  }, STORE],
  ['a network row whose data is not JSON', (dir) => storeThen(dir, `UPDATE networks SET data = '{"id": "oops' WHERE name = 'none'`), STORE],
  ['a network row whose data is JSON but not a record', (dir) => storeThen(dir, `UPDATE networks SET data = '42' WHERE name = 'host'`), STORE],
];

/**
 * A new store in dir (the predefined networks only; no reconcile, which is
 * not what these cases are about), then one statement run on its file with
 * the store's own engine.
 */
async function storeThen(dir: string, statement?: string): Promise<string> {
  (await Controller.open({ stateDir: dir, host: w.host, reconcile: false })).close();
  if (statement) {
    const { openEngine } = await import('../src/store/engine.js');
    const db = openEngine(join(dir, 'nsnet.db'));
    db.exec(statement);
    db.close();
  }
  return dir;
}

describe('a broken store: a typed error that names it, and nothing changes', () => {
  test.each(store)('%s', async (_what, prepare, code) => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-bi-'));
    try {
      const stateDir = await prepare(dir);
      const files = await storeFiles(dir);
      const before = await snapshot(w, P);
      const e = await failure(async () => (await Controller.open({ stateDir, host: w.host, reconcile: false })).close());
      expectTyped(e, code);
      expect((e as Error).message).toContain(dir);
      expect(await storeFiles(dir)).toEqual(files);
      expect(await snapshot(w, P)).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a read-only state dir: a typed error, and nothing is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-bi-'));
    try {
      await run('mount', ['--bind', dir, dir]);
      await run('mount', ['-o', 'remount,bind,ro', dir]);
      const before = await snapshot(w, P);
      const e = await failure(async () => (await Controller.open({ stateDir: dir, host: w.host, reconcile: false })).close());
      expectTyped(e, STORE);
      expect(await storeFiles(dir)).toEqual({});
      expect(await snapshot(w, P)).toEqual(before);
    } finally {
      await run('umount', [dir]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------ the nsnet command

/** `nsnet ...args` in the world's host namespace, on its state dir. */
async function nsnet(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run('ip', ['netns', 'exec', w.host.name!, process.execPath, CLI, ...args], {
      env: { ...process.env, NSNET_STATE_DIR: w.stateDir },
    });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

const cli: [what: string, args: string[], exit: number, says: RegExp][] = [
  ['network create: subnet /33', ['network', 'create', '--subnet', '10.5.0.0/33', `${P}c`], 1, /subnet/],
  ['network create: a gateway outside the subnet', ['network', 'create', '--subnet', '10.5.0.0/24', '--gateway', '10.6.0.1', `${P}c`], 1, /gateway/],
  ['network create: no name', ['network', 'create', '--subnet', '10.5.0.0/24'], 2, /name|operand|argument/i],
  ['network create: an MTU that is not a number', ['network', 'create', '-o', 'mtu=big', `${P}c`], 1, /mtu/],
  ['network create: a name with a slash', ['network', 'create', 'a/b'], 1, /name/],
  ['network create: an option without a value', ['network', 'create', '-o', 'mtu', `${P}c`], 1, /key=value/],
  ['network create: a flag it does not know', ['network', 'create', '--subnett', '10.5.0.0/24', `${P}c`], 2, /subnett/],
  ['network create: the name of a network that exists', ['network', 'create', `${P}n`], 1, /exists/],
  ['network rm: a network nothing has', ['network', 'rm', `${P}nope`], 1, /nope/],
  ['network inspect: a network nothing has', ['network', 'inspect', `${P}nope`], 1, /nope/],
  ['sandbox rm: a sandbox nothing has', ['sandbox', 'rm', `${P}nope`], 1, /nope/],
  ['run: a network nothing has', ['run', '--net', `${P}nope`, '--', 'true'], 1, /nope/],
  ['run: a host port above 65535', ['run', '-p', '99999:80', '--', 'true'], 1, /port/],
  ['run: an address that is not one', ['run', '--net', `${P}n`, '--ip', '10.77.0.999', '--', 'true'], 1, /10\.77\.0\.999/],
  ['run: an extra host without an address', ['run', '--add-host', 'db', '--', 'true'], 1, /db/],
  ['run: a DNS server that is not an address', ['run', '--dns', 'dns.example', '--', 'true'], 1, /dns\.example/],
  ['network connect: a sandbox nothing has', ['network', 'connect', `${P}n`, `${P}nope`], 1, /nope/],
  ['a command it does not know', ['netwrk', 'ls'], 2, /netwrk/],
  ['a state dir that is a file', ['network', 'ls', '--state-dir', '/etc/hostname'], 1, /hostname/],
];

describe('bad input to the nsnet command: one line that says what, no stack, and nothing changes', () => {
  test.each(cli)('%s', async (_what, args, exit, says) => {
    const before = await snapshot(w, P);
    const r = await nsnet(...args);
    expect(r.code, r.stderr).toBe(exit);
    expect(r.stderr).toMatch(/^nsnet: /);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).not.toMatch(/\n\s+at |TypeError|SyntaxError|SqliteError|ERR_SQLITE/);
    // A usage error adds the usage line and where to find help (exit 2, as getopt tools do).
    expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(exit === 2 ? 3 : 1);
    expect(await snapshot(w, P)).toEqual(before);
  });
});

test('the corpus holds at least 60 cases', () => {
  expect(api.length + store.length + 1 + cli.length).toBeGreaterThanOrEqual(60);
});
