// The nsnet command as a user runs it: run/exec with stdio and exit codes,
// network and sandbox management with --json, and the demo.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { CLI, cliWithStateDir } from './cli-helpers.js';
import { ipj, uniq } from './helpers.js';

const run = promisify(execFile);
const { env, nsnet } = cliWithStateDir();
const listDir = (d: string) => readdir(d).catch(() => [] as string[]);
// The demos' TMPDIR, this file's own: another suite's demo running at the
// same time (CI's README step, a second worktree) makes its directories in /tmp.
const demoTmp = mkdtempSync(join(tmpdir(), 'nsnet-clitest-'));
afterAll(() => rmSync(demoTmp, { recursive: true, force: true }));
const demoEnv = () => ({ ...env(), TMPDIR: demoTmp });
const demoDirs = async () => (await listDir(demoTmp)).filter((f) => f.startsWith('nsnet-demo-'));

describe('nsnet CLI', () => {
  test('run: the command sees its hostname, resolv.conf, hosts and address; its exit code comes back; the sandbox is removed after', async () => {
    const net = uniq('cn');
    expect((await nsnet('network', 'create', '--subnet', '10.91.0.0/24', net)).code).toBe(0);
    const name = uniq('cr');
    const r = await nsnet('run', '--net', net, '--name', name, '-h', 'box1', '--dns', '10.0.0.53', '--add-host', 'db:10.9.9.9', '--ip', '10.91.0.42', '--',
      'sh', '-c', 'hostname; cat /etc/resolv.conf; grep -E "box1|db" /etc/hosts; ip -j addr show eth0; exit 7');
    expect(r.code).toBe(7);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('box1');
    expect(r.stdout).toContain('nameserver 10.0.0.53\n');
    expect(r.stdout).toContain(`10.91.0.42\tbox1 ${name}\n`);
    expect(r.stdout).toContain('10.9.9.9\tdb\n');
    const addr = JSON.parse(lines.find((l) => l.startsWith('['))!);
    expect(addr[0].addr_info[0].local).toBe('10.91.0.42');
    // Gone afterwards: namespace, files link, store row.
    expect((await ipj<any[]>(null, 'netns', 'list')).map((n) => n.name)).not.toContain(name);
    expect(JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout)).toEqual([]);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('run --keep, exec and container mode; sandbox ls/inspect/rm with --json', async () => {
    const name = uniq('ck');
    expect((await nsnet('run', '--keep', '--name', name, '--', 'true')).code).toBe(0);
    const [info] = JSON.parse((await nsnet('sandbox', 'inspect', name)).stdout);
    expect(info).toMatchObject({ name, kind: 'own', hostname: name });
    const ls = JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout);
    expect(ls.map((s: any) => s.name)).toEqual([name]);
    const ex = await nsnet('exec', name, '--', 'sh', '-c', 'hostname; ip -j -4 addr show eth0');
    expect(ex.code).toBe(0);
    expect(ex.stdout.split('\n')[0]).toBe(name);
    expect(JSON.parse(ex.stdout.split('\n')[1]!)[0].addr_info[0].local).toBe(info.endpoints[0].addresses[0].split('/')[0]);
    const side = await nsnet('run', '--net', `container:${name}`, '--', 'sh', '-c', 'hostname; ip -j -4 addr show eth0');
    expect(side.stdout).toBe(ex.stdout);
    // docker network connect / disconnect: a second interface, then gone again.
    const net = uniq('cc');
    expect((await nsnet('network', 'create', '--subnet', '10.93.0.0/24', net)).code).toBe(0);
    expect((await nsnet('network', 'connect', '--ip', '10.93.0.9', net, name)).code).toBe(0);
    expect((await ipj<any[]>(name, '-4', 'addr', 'show', 'eth1'))[0].addr_info[0].local).toBe('10.93.0.9');
    expect((await nsnet('network', 'disconnect', net, name)).code).toBe(0);
    expect((await ipj<any[]>(name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo', 'eth0']);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    const missing = await nsnet('exec', name, '--', 'true');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no sandbox ${name}`);
  });

  test('network create/ls/inspect/rm with options and labels; bad input exits 1 with a clear message', async () => {
    const net = uniq('cn');
    const c = await nsnet('network', 'create', '--subnet', '10.92.0.0/24', '--gateway', '10.92.0.254', '--ipv6', '--internal', '-o', 'mtu=1400', '--label', 'team=a', net);
    expect(c.code).toBe(0);
    const [info] = JSON.parse((await nsnet('network', 'inspect', net)).stdout);
    expect(info).toMatchObject({ name: net, driver: 'bridge', internal: true, ipv6: true, labels: { team: 'a' }, options: { mtu: '1400' } });
    expect(info.subnets[0]).toMatchObject({ subnet: '10.92.0.0/24', gateway: '10.92.0.254' });
    expect(info.subnets[1].subnet).toMatch(/^fd/);
    const text = (await nsnet('network', 'ls')).stdout;
    expect(text.split('\n')[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER/);
    expect(text).toContain(net);
    const dup = await nsnet('network', 'create', '--subnet', '10.92.0.0/25', uniq('cx'));
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/overlaps network/);
    const bad = await nsnet('run', '--net', 'none', '--bogus', '--', 'true');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown flag --bogus for 'run'");
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
    expect(JSON.parse((await nsnet('network', 'ls', '--json')).stdout).map((n: any) => n.name)).not.toContain(net);
  });

  test('run -p publishes a port: ls shows it, it is an element of nsnet\'s map, the host reaches it, and rm removes it; -p on an internal network is refused', async () => {
    const net = uniq('cp');
    expect((await nsnet('network', 'create', '--subnet', '10.94.0.0/24', '-o', 'com.docker.network.bridge.enable_icc=false', net)).code).toBe(0);
    const [info] = JSON.parse((await nsnet('network', 'inspect', net)).stdout);
    expect(info.options).toEqual({ 'com.docker.network.bridge.enable_icc': 'false' });
    const name = uniq('cq');
    const r = await nsnet('run', '--keep', '--net', net, '--name', name, '-p', '18080:80', '-p', '127.0.0.1:18081:81/udp', '--', 'true');
    expect(r.code, r.stderr).toBe(0);
    const ls = (await nsnet('sandbox', 'ls')).stdout;
    expect(ls).toMatch(/PORTS/);
    expect(ls).toContain('0.0.0.0:18080->80/tcp, 127.0.0.1:18081->81/udp');
    const elems = async () => JSON.stringify((await run('nft', ['-j', 'list', 'ruleset'])).stdout);
    expect(await elems()).toContain('18080');
    // Real traffic: a server inside the sandbox, reached from the host on 127.0.0.1.
    const ns = await Netns.open(name);
    const server = await ns.listenTcp(80, '0.0.0.0');
    server.on('connection', (c) => c.end('via cli'));
    try {
      const sock = await Netns.host().then((h) => h.connectTcp(18080, '127.0.0.1'));
      const chunks: Buffer[] = [];
      for await (const d of sock) chunks.push(d as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('via cli');
    } finally {
      server.close();
      ns.close();
    }
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect(await elems()).not.toContain('18080');
    const internal = uniq('ci');
    expect((await nsnet('network', 'create', '--subnet', '10.95.0.0/24', '--internal', internal)).code).toBe(0);
    const refused = await nsnet('run', '--net', internal, '-p', '18082:80', '--', 'true');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is internal/);
    expect((await nsnet('network', 'rm', net, internal)).code).toBe(0);
  });

  test('none and host modes through run', async () => {
    const none = await nsnet('run', '--net', 'none', '--', 'ip', '-j', 'link', 'show');
    expect(JSON.parse(none.stdout).map((l: any) => l.ifname)).toEqual(['lo']);
    const host = await nsnet('run', '--net', 'host', '--', 'ip', '-j', 'link', 'show');
    const mine = await ipj<any[]>(null, 'link', 'show');
    expect(JSON.parse(host.stdout).map((l: any) => l.ifname)).toEqual(mine.map((l) => l.ifname));
  });

  test('demo runs every mode with the names a user types, gives the default bridge 172.17 first, times every row, and leaves nothing behind', async () => {
    const before = { netns: (await ipj<any[]>(null, 'netns', 'list')).length, files: await listDir('/run/nsnet'), tmp: await demoDirs() };
    const { stdout } = await run(process.execPath, [CLI, 'demo'], { env: demoEnv() });
    expect(stdout).toMatch(/^network bridge \(the default, as docker0\): bridge nsnet0, 172\.17\.0\.0\/16 via 172\.17\.0\.1 /m);
    expect(stdout).toMatch(/^network demo: bridge nsbr-[0-9a-f]{10}, 172\.18\.0\.0\/16 via 172\.18\.0\.1, fd/m);
    for (const flags of ['--name web --net demo -p 8080:80', '--name client --net demo', '--name other --net bridge', '--name isolated --net none', '--name agent --net host', '--name sidecar --net container:web'])
      expect(stdout).toContain(`  ${flags} `);
    for (const name of ['web', 'client', 'other', 'isolated', 'agent', 'sidecar']) expect(stdout).toMatch(new RegExp(`^  ${name} +\\d+ interfaces? `, 'm'));
    expect(stdout).toMatch(/^ {2}isolated +1 interface +lo:/m);
    const rows = stdout.slice(stdout.indexOf('who reaches'), stdout.indexOf('sandbox files')).split('\n').slice(1).filter(Boolean);
    expect(rows).toHaveLength(7);
    for (const r of rows) expect(r).toMatch(/ \d+\.\d\d ms/);
    expect(stdout).toMatch(/client -> web +yes/);
    expect(stdout).toMatch(/sidecar -> 127\.0\.0\.1 +yes/);
    expect(stdout).toMatch(/agent -> 127\.0\.0\.1:8080 +yes/);
    expect(stdout).toMatch(/isolated -> web +no \(ENETUNREACH\)/);
    expect(stdout).toMatch(/other -> web +no \(dropped\)/);
    expect(stdout).toMatch(/6 sandboxes removed/);
    expect(stdout).toMatch(/2 networks removed/);
    expect(stdout).not.toMatch(/web-|-[0-9a-z]{3,}\b +\d+ interface/);
    expect((await ipj<any[]>(null, 'netns', 'list')).length).toBe(before.netns);
    expect(await listDir('/run/nsnet')).toEqual(before.files);
    expect(await demoDirs()).toEqual(before.tmp);
  });

  test('demo killed with SIGKILL half-way leaves no namespace, mount, file or directory behind', async () => {
    const before = { netns: (await ipj<any[]>(null, 'netns', 'list')).length, files: await listDir('/run/nsnet'), tmp: await demoDirs() };
    const outer = spawn(process.execPath, [CLI, 'demo'], { env: demoEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => outer.stdout!.on('data', (d) => String(d).includes('sandboxes, as nsnet run') && resolve()));
    // The tour runs in the demo's second process (its one child), in its own mount namespace.
    const inner = Number(readFileSync(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(inner, 'SIGKILL');
    const code = await new Promise((r) => outer.once('exit', r));
    expect(code).toBe(137);
    expect((await ipj<any[]>(null, 'netns', 'list')).length).toBe(before.netns);
    expect(await listDir('/run/nsnet')).toEqual(before.files);
    expect(await demoDirs()).toEqual(before.tmp);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('nsnet-demo');
  });
});
