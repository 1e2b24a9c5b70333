// Docker's habits in nsnet run and nsnet network, each checked against the
// kernel (ip -j, nft -j) or with traffic where it changes the datapath:
// -P/--expose, --mac-address, --network-alias, --sysctl, --rm, -d, -e,
// --net default, the options container: mode refuses, network create's
// --aux-address/--attachable/--ipam-driver and refused subnets, lookups by
// id prefix, ls -q/--filter/--format, network prune, network inspect's
// sandboxes, the predefined networks, and what sandbox rm -f stops.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { describe, expect, test } from 'vitest';

import { running } from '../src/processes.js';
import { cliWithStateDir, connectFrom, serve } from './cli-helpers.js';
import { ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

const run = promisify(execFile);
const { nsnet, cli, start, host, inHost } = cliWithStateDir({ ownHost: true });
const h = () => host()!.name;

const netnsNames = async () => (await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name);
const sandboxNames = async () => JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout).map((s: any) => s.name) as string[];
const inspect = async (kind: 'sandbox' | 'network', name: string) => JSON.parse((await nsnet(kind, 'inspect', name)).stdout)[0];
/** The keys of a map of nsnet's table in the host namespace, as text. */
const mapKeys = async (name: string) => JSON.stringify(ofKind(await nftj(h()), 'map').find((m) => m.name === name)?.elem ?? []);

const connect = (port: number, address: string) => connectFrom(host()!.path, port, address);

describe('nsnet run: ports, addresses and the namespace', () => {
  test('-P publishes each --expose port on an ephemeral host port the host reaches; a port -p publishes keeps its mapping; --expose alone publishes nothing', async () => {
    const net = uniq('dp');
    expect((await nsnet('network', 'create', '--subnet', '10.83.1.0/24', net)).code).toBe(0);
    const name = uniq('dq');
    const r = await nsnet('run', '--keep', '--net', net, '--name', name, '-P', '--expose', '80', '--expose', '90-91/udp', '-p', '18401:91/udp', 'true');
    expect(r.code, r.stderr).toBe(0);
    const ports = (await inspect('sandbox', name)).endpoints[0].ports as { protocol: string; hostPort: number; containerPort: number }[];
    const [lo, hi] = (await run('ip', ['netns', 'exec', h(), 'cat', '/proc/sys/net/ipv4/ip_local_port_range'])).stdout.trim().split(/\s+/).map(Number);
    const tcp80 = ports.find((p) => p.protocol === 'tcp' && p.containerPort === 80)!;
    expect(tcp80.hostPort).toBeGreaterThanOrEqual(lo!);
    expect(tcp80.hostPort).toBeLessThanOrEqual(hi!);
    expect(ports.find((p) => p.protocol === 'udp' && p.containerPort === 90)!.hostPort).toBeGreaterThanOrEqual(lo!);
    expect(ports.filter((p) => p.containerPort === 91)).toEqual([{ protocol: 'udp', hostIp: '0.0.0.0', hostPort: 18401, containerPort: 91 }]);
    expect(await mapKeys('dnat4_any')).toContain(String(tcp80.hostPort));
    const stop = await serve(name, 80);
    try {
      expect(await connect(tcp80.hostPort, '127.0.0.1')).toBe(`ok ${name}`);
    } finally {
      stop();
    }
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    // --expose without -P: checked, and nothing published.
    const alone = uniq('dr');
    expect((await nsnet('run', '--keep', '--net', net, '--name', alone, '--expose', '80', 'true')).code).toBe(0);
    expect((await inspect('sandbox', alone)).endpoints[0].ports).toEqual([]);
    const bad = await nsnet('run', '--net', net, '--expose', '127.0.0.1:80:80', '-P', 'true');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid --expose "127.0.0.1:80:80": takes a port or a range');
    expect((await nsnet('sandbox', 'rm', alone)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('--mac-address gives the interface that MAC, which the host learns from real traffic; multicast, host and container: MACs are refused', async () => {
    const net = uniq('dm');
    expect((await nsnet('network', 'create', '--subnet', '10.83.2.0/24', net)).code).toBe(0);
    const name = uniq('dn');
    expect((await nsnet('run', '--keep', '--net', net, '--name', name, '--mac-address', '02:aa:bb:cc:dd:01', 'true')).code).toBe(0);
    expect((await ipj<any[]>(name, 'link', 'show', 'eth0'))[0].address).toBe('02:aa:bb:cc:dd:01');
    const info = await inspect('sandbox', name);
    expect(info.endpoints[0].mac).toBe('02:aa:bb:cc:dd:01');
    const ping = await nsnet('exec', name, 'ping', '-c', '1', '-W', '5', '10.83.2.1');
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const bridge = (await inspect('network', net)).bridge;
    const neigh = await ipj<any[]>(h(), 'neigh', 'show', 'dev', bridge);
    expect(neigh.find((n) => n.dst === info.endpoints[0].addresses[0].split('/')[0])?.lladdr).toBe('02:aa:bb:cc:dd:01');
    const refusals: [string[], string][] = [
      [['--net', net, '--mac-address', '01:00:5e:00:00:01'], 'must be a unicast address'],
      [['--net', 'host', '--mac-address', '02:aa:bb:cc:dd:02'], 'a host sandbox has no interface of its own'],
      [['--net', `container:${name}`, '--mac-address', '02:aa:bb:cc:dd:02'], 'conflicting options: mac-address and the network mode'],
    ];
    for (const [flags, message] of refusals) {
      const r = await nsnet('run', ...flags, 'true');
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
    }
    expect(await sandboxNames()).toEqual([name]);
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('--network-alias (and network connect --alias) names the sandbox in its /etc/hosts and in network inspect; on the default bridge it is refused, as docker refuses it', async () => {
    const net = uniq('da');
    expect((await nsnet('network', 'create', '--subnet', '10.83.3.0/24', net)).code).toBe(0);
    const name = uniq('db');
    const r = await nsnet('run', '--keep', '--net', net, '--name', name, '--network-alias', 'web', '--net-alias', 'www.example', 'grep', '10.83.3', '/etc/hosts');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`10.83.3.2\t${name} web www.example\n`);
    const [sb] = (await inspect('network', net)).sandboxes;
    expect(sb).toMatchObject({ name, addresses: ['10.83.3.2/24'], aliases: ['web', 'www.example'] });
    expect((await inspect('sandbox', name)).endpoints[0].aliases).toEqual(['web', 'www.example']);
    // network connect --alias: the name on that network's address.
    const second = uniq('dw');
    expect((await nsnet('network', 'create', '--subnet', '10.83.14.0/24', second)).code).toBe(0);
    expect((await nsnet('network', 'connect', '--alias', 'api', second, name)).code).toBe(0);
    expect((await nsnet('exec', name, 'grep', '10.83.14', '/etc/hosts')).stdout).toBe(`10.83.14.2\t${name} api\n`);
    expect((await nsnet('network', 'disconnect', second, name)).code).toBe(0);
    expect((await nsnet('network', 'rm', second)).code).toBe(0);
    const onDefault = await nsnet('run', '--net', 'bridge', '--network-alias', 'x', 'true');
    expect(onDefault.code).toBe(1);
    expect(onDefault.stderr).toContain('network-scoped alias is supported only for sandboxes in user defined networks');
    const bad = await nsnet('run', '--net', net, '--network-alias', 'not valid', 'true');
    expect(bad.code).toBe(1);
    expect(await sandboxNames()).toEqual([name]);
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('--sysctl sets net.* keys in the sandbox (icmp_echo_ignore_all stops real pings to it); other keys are refused before anything is made, a key the kernel lacks undoes the create', async () => {
    const net = uniq('ds');
    expect((await nsnet('network', 'create', '--subnet', '10.83.4.0/24', net)).code).toBe(0);
    const deaf = uniq('dt');
    const hears = uniq('du');
    const r = await nsnet('run', '--keep', '--net', net, '--name', deaf, '--ip', '10.83.4.10', '--sysctl', 'net.ipv4.icmp_echo_ignore_all=1',
      '--sysctl', 'net.ipv4.conf.eth0.rp_filter=2', 'cat', '/proc/sys/net/ipv4/icmp_echo_ignore_all', '/proc/sys/net/ipv4/conf/eth0/rp_filter');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\n2\n');
    expect((await inspect('sandbox', deaf)).sysctls).toEqual({ 'net.ipv4.icmp_echo_ignore_all': '1', 'net.ipv4.conf.eth0.rp_filter': '2' });
    expect((await nsnet('run', '--keep', '--net', net, '--name', hears, '--ip', '10.83.4.11', 'true')).code).toBe(0);
    const ping = (to: string) => {
      const argv = inHost('ping', '-c', '1', '-W', '1', to);
      return run(argv[0]!, argv.slice(1)).then(() => 'answered', () => 'silent');
    };
    expect(await ping('10.83.4.11')).toBe('answered');
    expect(await ping('10.83.4.10')).toBe('silent');
    const before = await netnsNames();
    const refused = await nsnet('run', '--net', net, '--sysctl', 'kernel.shmmax=1', 'true');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('invalid sysctls "kernel.shmmax": must be a key under net.');
    const host = await nsnet('run', '--net', 'host', '--sysctl', 'net.ipv4.ip_forward=0', 'true');
    expect(host.stderr).toContain("net.* sysctls are not allowed in the host's network namespace");
    const missing = await nsnet('run', '--net', net, '--sysctl', 'net.ipv4.no_such_key=1', 'true');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('sysctl net.ipv4.no_such_key');
    expect(await netnsNames()).toEqual(before);
    expect((await sandboxNames()).sort()).toEqual([deaf, hears].sort());
    expect((await nsnet('sandbox', 'rm', deaf, hears)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('-e sets and passes variables; --rm is accepted as the default it is, and refused with --keep', async () => {
    const r = await cli({ env: { FROM_NSNET: 'passed' } }, 'run', '--net', 'none', '--rm', '-e', 'A=1', '--env', 'B=two words', '-e', 'FROM_NSNET', '-e', 'UNSET_HERE',
      'sh', '-c', 'echo "$A|$B|$FROM_NSNET|${UNSET_HERE-unset}"');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1|two words|passed|unset\n');
    const both = await nsnet('run', '--net', 'none', '--rm', '--keep', 'true');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('conflicting options: --rm and --keep');
    expect((await nsnet('run', '--net', 'none', '-e', '=x', 'true')).stderr).toContain('invalid --env "=x"');
    expect(await sandboxNames()).toEqual([]);
  });

  test('--net default is the bridge network; --ip there is refused as docker refuses it, and nothing is made', async () => {
    const r = await nsnet('run', '--net', 'default', 'true');
    expect(r.code, r.stderr).toBe(0);
    const bridge = (await inspect('network', 'bridge'));
    expect(bridge.bridge).toBe('nsnet0');
    const before = await netnsNames();
    const ip = await nsnet('run', '--net', 'default', '--ip', '172.17.0.50', 'true');
    expect(ip.code).toBe(1);
    expect(ip.stderr).toBe('nsnet: invalid ip "172.17.0.50": user specified IP address is supported on user defined networks only (the default bridge network hands out its own)\n');
    expect(await netnsNames()).toEqual(before);
    expect((await nsnet('run', '--net', 'bridge', '--ip6', 'fd00::5', 'true')).code).toBe(1);
  });

  test('--net container: refuses -h, --dns, --dns-search, --dns-option, --add-host, -p, -P with --expose and --expose, as docker does, and makes nothing', async () => {
    const owner = uniq('dc');
    expect((await nsnet('run', '--keep', '--net', 'none', '--name', owner, 'true')).code).toBe(0);
    const cases: [string[], string][] = [
      [['-h', 'x'], 'conflicting options: hostname and the network mode'],
      [['--dns', '10.0.0.1'], 'conflicting options: dns and the network mode'],
      [['--dns-search', 'example.com'], 'conflicting options: dns-search and the network mode'],
      [['--dns-option', 'ndots:1'], 'conflicting options: dns-option and the network mode'],
      [['--add-host', 'db:10.0.0.2'], 'conflicting options: custom host-to-IP mapping and the network mode'],
      [['-p', '18402:80'], 'conflicting options: port publishing and the network mode'],
      [['-P', '--expose', '80'], 'conflicting options: port exposing and the network mode'],
      [['--expose', '80'], 'conflicting options: port exposing and the network mode'],
    ];
    for (const [flags, message] of cases) {
      const r = await nsnet('run', '--net', `container:${owner}`, ...flags, 'true');
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
    }
    expect(await sandboxNames()).toEqual([owner]);
    expect((await nsnet('sandbox', 'rm', owner)).code).toBe(0);
  });
});

describe('nsnet run -d and sandbox rm -f', () => {
  test('-d starts the command in the sandbox in the background and keeps the sandbox; rm refuses it while it runs; rm -f stops it, SIGKILL for one that ignores SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-detach-'));
    try {
      const name = uniq('dd');
      const r = await nsnet('run', '-d', '--net', 'none', '--name', name, 'sh', '-c', `trap "" TERM; echo $$ > ${dir}/pid; exec sleep 1000`);
      expect(r.code, r.stderr).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      while (!existsSync(join(dir, 'pid'))) await sleep(20);
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      // It runs in the sandbox's namespace, and the sandbox outlived nsnet run.
      const { stdout: nsOfPid } = await run('readlink', [`/proc/${pid}/ns/net`]);
      const { stdout: nsOfSb } = await run('sh', ['-c', `stat -L -c %i /run/netns/${name}`]);
      expect(nsOfPid.trim()).toBe(`net:[${nsOfSb.trim()}]`);
      expect((await inspect('sandbox', name)).id).toBe(id);
      const refused = await nsnet('sandbox', 'rm', name);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`nsnet: sandbox ${name} has 1 running process(es) (pid ${pid}): stop them, or remove it with -f\n`);
      const forced = await nsnet('sandbox', 'rm', '-f', '-t', '1', name);
      expect(forced.code, forced.stderr).toBe(0);
      expect(running(pid)).toBe(false);
      expect(await sandboxNames()).toEqual([]);
      expect(await netnsNames()).not.toContain(name);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('rm -f stops what nsnet run started in a sandbox that shares another one\'s namespace, and only that', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-joiner-'));
    try {
      const owner = uniq('do');
      expect((await nsnet('run', '-d', '--net', 'none', '--name', owner, 'sh', '-c', `echo $$ > ${dir}/owner; exec sleep 1000`)).code).toBe(0);
      const side = uniq('dj');
      expect((await nsnet('run', '-d', '--net', `container:${owner}`, '--name', side, 'sh', '-c', `echo $$ > ${dir}/side; exec sleep 1000`)).code).toBe(0);
      while (!existsSync(join(dir, 'owner')) || !existsSync(join(dir, 'side'))) await sleep(20);
      const [ownerPid, sidePid] = ['owner', 'side'].map((f) => Number(readFileSync(join(dir, f), 'utf8')));
      expect((await nsnet('sandbox', 'rm', '-f', side)).code).toBe(0);
      expect(running(sidePid!)).toBe(false);
      expect(running(ownerPid!)).toBe(true);
      expect(await sandboxNames()).toEqual([owner]);
      expect((await nsnet('sandbox', 'rm', '-f', owner)).code).toBe(0);
      expect(await sandboxNames()).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a sandbox whose nsnet run was killed with SIGKILL is removed by the next nsnet command once its command has exited; a --keep one stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsnet-killed-'));
    try {
      const net = uniq('dk');
      expect((await nsnet('network', 'create', '--subnet', '10.83.5.0/24', net)).code).toBe(0);
      const kept = uniq('dl');
      expect((await nsnet('run', '--keep', '--net', net, '--name', kept, 'true')).code).toBe(0);
      const name = uniq('dv');
      const p = start({}, 'run', '--net', net, '--name', name, '-p', '18403:80', 'sh', '-c', `echo $$ > ${dir}/pid; exec sleep 1000`);
      while (!existsSync(join(dir, 'pid'))) await sleep(20);
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
      // Its command still runs: the sandbox stays.
      expect((await sandboxNames()).sort()).toEqual([kept, name].sort());
      process.kill(pid, 'SIGKILL');
      while (running(pid)) await sleep(20);
      expect(await sandboxNames()).toEqual([kept]);
      expect(await netnsNames()).not.toContain(name);
      expect(await mapKeys('dnat4_any')).not.toContain('18403');
      expect((await nsnet('sandbox', 'rm', kept)).code).toBe(0);
      expect((await nsnet('network', 'rm', net)).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('nsnet network', () => {
  test('create: --aux-address keeps its address from IPAM, --attachable is accepted, --ipam-driver takes only default; subnets no host may use are refused', async () => {
    const net = uniq('dx');
    const c = await nsnet('network', 'create', '--subnet', '10.83.6.0/29', '--aux-address', 'router=10.83.6.2', '--attachable', '--ipam-driver', 'default', net);
    expect(c.code, c.stderr).toBe(0);
    expect((await inspect('network', net)).subnets[0].excluded).toEqual(['10.83.6.2/32']);
    const name = uniq('dy');
    expect((await nsnet('run', '--keep', '--net', net, '--name', name, 'true')).code).toBe(0);
    expect((await inspect('sandbox', name)).endpoints[0].addresses).toEqual(['10.83.6.3/29']);
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
    const refusals: [string[], string][] = [
      [['--ipam-driver', 'dhcp'], `invalid --ipam-driver "dhcp": is not an IPAM driver nsnet has`],
      [['--subnet', '10.83.7.0/24', '--aux-address', 'x=10.83.8.1'], 'is in none of the --subnet values'],
      [['--subnet', '127.1.0.0/24'], 'overlaps 127.0.0.0/8 (loopback)'],
      [['--subnet', '169.254.10.0/24'], 'overlaps 169.254.0.0/16 (link-local)'],
      [['--subnet', '224.1.0.0/24'], 'overlaps 224.0.0.0/4 (multicast)'],
      [['--subnet', '0.0.0.0/24'], 'overlaps 0.0.0.0/8 ("this network")'],
      [['--subnet', '255.255.255.0/24'], 'overlaps 240.0.0.0/4 (reserved, broadcast included)'],
      [['--subnet', 'fe80::/64'], 'overlaps fe80::/10 (link-local)'],
      [['--subnet', 'ff05::/64'], 'overlaps ff00::/8 (multicast)'],
      [['--subnet', '::ffff:0:0/112'], 'overlaps ::ffff:0:0/96 (IPv4-mapped)'],
    ];
    for (const [flags, message] of refusals) {
      const r = await nsnet('network', 'create', ...flags, uniq('dz'));
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
    }
    expect(JSON.parse((await nsnet('network', 'ls', '--json')).stdout).map((n: any) => n.name).sort()).toEqual(['bridge', 'host', 'none']);
  });

  test('a network or sandbox is found by full id, name or an id prefix only one id has, as docker finds it; a prefix several share is an error', async () => {
    const made: string[] = [];
    for (let i = 0; i < 15; i++) {
      made.push(uniq('di'));
      expect((await nsnet('network', 'create', '--internal', '--subnet', `10.83.${100 + i}.0/24`, made[i]!)).code).toBe(0);
    }
    const ids = (await nsnet('network', 'ls', '-q', '--no-trunc')).stdout.trim().split('\n');
    expect(ids.length).toBeGreaterThanOrEqual(17);
    // 17 ids or more over 16 first digits: two share one.
    const shared = [...'0123456789abcdef'].find((d) => ids.filter((i) => i.startsWith(d)).length > 1)!;
    const amb = await nsnet('network', 'inspect', shared);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toMatch(new RegExp(`network ${shared} is ambiguous \\(\\d+ matches found based on ID prefix\\)`));
    const one = ids.find((i) => i.startsWith(shared))!;
    const unique = one.slice(0, 1 + [...Array(64).keys()].find((n) => ids.filter((i) => i.startsWith(one.slice(0, n + 1))).length === 1)!);
    expect((await inspect('network', unique)).id).toBe(one);
    expect((await inspect('network', one)).id).toBe(one);
    expect((await nsnet('network', 'rm', ...made)).code).toBe(0);
  });

  test('ls takes -q, --filter name|id|driver|label|scope|type and --format fields; sandbox ls takes -q and filters too', async () => {
    const a = uniq('fa');
    const b = uniq('fb');
    expect((await nsnet('network', 'create', '--subnet', '10.83.9.0/24', '--label', 'tier=web', a)).code).toBe(0);
    expect((await nsnet('network', 'create', '--subnet', '10.83.10.0/24', '--label', 'tier=db', b)).code).toBe(0);
    const all = JSON.parse((await nsnet('network', 'ls', '--json')).stdout) as any[];
    const idOf = (n: string) => all.find((x) => x.name === n).id as string;
    expect((await nsnet('network', 'ls', '-q')).stdout.trim().split('\n').sort()).toEqual(all.map((x) => x.id.slice(0, 12)).sort());
    expect((await nsnet('network', 'ls', '-q', '--filter', 'label=tier=web')).stdout).toBe(`${idOf(a).slice(0, 12)}\n`);
    expect((await nsnet('network', 'ls', '--format', '{{.Name}}', '--filter', 'label=tier')).stdout.split('\n').filter(Boolean).sort()).toEqual([a, b].sort());
    expect((await nsnet('network', 'ls', '--format', '{{.Name}} {{.Driver}}', '-f', `name=^${a}$`, '-f', `name=^${b}$`)).stdout.split('\n').filter(Boolean).sort())
      .toEqual([`${a} bridge`, `${b} bridge`].sort());
    expect((await nsnet('network', 'ls', '--format', '{{.Name}}', '--filter', 'driver=null')).stdout).toBe('none\n');
    expect((await nsnet('network', 'ls', '--format', '{{.Name}}', '--filter', 'type=builtin')).stdout.split('\n').filter(Boolean).sort()).toEqual(['bridge', 'host', 'none'].filter((n) => all.some((x) => x.name === n)).sort());
    expect((await nsnet('network', 'ls', '--format', '{{.ID}}', '--no-trunc', '--filter', `id=${idOf(a).slice(0, 6)}`)).stdout).toBe(`${idOf(a)}\n`);
    const table = (await nsnet('network', 'ls', '--format', 'table {{.Name}}\\t{{.Subnets}}', '--filter', `name=^${a}$`)).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+SUBNETS$/);
    expect(table[1]).toMatch(new RegExp(`^${a}\\s+10\\.83\\.9\\.0/24$`));
    expect(JSON.parse((await nsnet('network', 'ls', '--format', 'json', '--filter', `name=^${b}$`)).stdout)).toMatchObject({ Name: b, Driver: 'bridge', Labels: 'tier=db' });
    for (const [flags, message] of [
      [['--filter', 'colour=red'], "'colour' is not a filter here"],
      [['--format', '{{.Colour}}'], 'knows no {{.Colour}}'],
      [['--filter', 'name=('], 'is not a regular expression'],
    ] as [string[], string][]) {
      const r = await nsnet('network', 'ls', ...flags);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
    }
    const sb = uniq('fs');
    expect((await nsnet('run', '--keep', '--net', a, '--name', sb, 'true')).code).toBe(0);
    const sid = (await inspect('sandbox', sb)).id as string;
    expect((await nsnet('sandbox', 'ls', '-q')).stdout).toBe(`${sid.slice(0, 12)}\n`);
    expect((await nsnet('sandbox', 'ls', '-q', '--filter', `network=${b}`)).stdout).toBe('');
    expect((await nsnet('sandbox', 'ls', '--format', '{{.Names}} {{.Networks}} {{.Addresses}}', '--filter', `network=${a}`)).stdout).toBe(`${sb} ${a} 10.83.9.2/24\n`);
    expect((await nsnet('sandbox', 'rm', sb)).code).toBe(0);
    expect((await nsnet('network', 'rm', a, b)).code).toBe(0);
  });

  test('prune asks first and takes anything but yes (end of input too) as no; -f removes the networks no sandbox is on, never bridge, host or none', async () => {
    const used = uniq('pu');
    const idle = uniq('pi');
    expect((await nsnet('network', 'create', '--subnet', '10.83.11.0/24', used)).code).toBe(0);
    expect((await nsnet('network', 'create', '--subnet', '10.83.12.0/24', idle)).code).toBe(0);
    const sb = uniq('ps');
    expect((await nsnet('run', '--keep', '--net', used, '--name', sb, 'true')).code).toBe(0);
    const names = async () => JSON.parse((await nsnet('network', 'ls', '--json')).stdout).map((n: any) => n.name).sort() as string[];
    const before = await names();
    for (const input of ['', 'n\n', 'no\n', 'maybe\n']) {
      const r = await cli({ input }, 'network', 'prune');
      expect(r.code, JSON.stringify(input)).toBe(0);
      expect(r.stdout).toBe('WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] ');
      expect(await names()).toEqual(before);
    }
    const yes = await cli({ input: 'y\n' }, 'network', 'prune');
    expect(yes.stdout).toContain(`Deleted Networks:\n${idle}\n`);
    expect(await names()).toEqual(before.filter((n) => n !== idle));
    expect((await nsnet('network', 'create', '--subnet', '10.83.12.0/24', idle)).code).toBe(0);
    const forced = await nsnet('network', 'prune', '-f');
    expect(forced).toEqual({ code: 0, stdout: `Deleted Networks:\n${idle}\n`, stderr: '' });
    expect(await names()).toContain(used);
    expect((await nsnet('sandbox', 'rm', sb)).code).toBe(0);
    expect((await nsnet('network', 'rm', used)).code).toBe(0);
  });

  test('inspect lists the sandboxes on a network with their endpoints, MACs and addresses, as docker network inspect lists containers', async () => {
    const net = uniq('ni');
    expect((await nsnet('network', 'create', '--subnet', '10.83.13.0/24', '--ipv6', net)).code).toBe(0);
    const one = uniq('nj');
    const two = uniq('nk');
    expect((await nsnet('run', '--keep', '--net', net, '--name', one, '--ip', '10.83.13.20', 'true')).code).toBe(0);
    expect((await nsnet('run', '--keep', '--net', net, '--name', two, 'true')).code).toBe(0);
    const info = await inspect('network', net);
    expect(info.endpoints).toBe(2);
    const byName = new Map((info.sandboxes as any[]).map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual([one, two].sort());
    const first = byName.get(one);
    const sb = await inspect('sandbox', one);
    expect(first).toEqual({ id: sb.id, name: one, endpoint: one, endpointId: sb.endpoints[0].id, mac: sb.endpoints[0].mac, addresses: sb.endpoints[0].addresses, aliases: [] });
    expect(first.addresses[0]).toBe('10.83.13.20/24');
    expect(first.addresses[1]).toMatch(/^fd[0-9a-f:]+\/64$/);
    expect((await ipj<any[]>(one, 'link', 'show', 'eth0'))[0].address).toBe(first.mac);
    expect((await nsnet('sandbox', 'rm', one, two)).code).toBe(0);
    expect((await inspect('network', net)).sandboxes).toEqual([]);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('rm of the predefined bridge, host and none networks is refused, as docker refuses it', async () => {
    expect((await nsnet('run', '--net', 'bridge', 'true')).code).toBe(0);
    const r = await nsnet('network', 'rm', 'bridge', 'host', 'none');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(['bridge', 'host', 'none'].map((n) => `nsnet: ${n} is a pre-defined network and cannot be removed\n`).join(''));
    expect(JSON.parse((await nsnet('network', 'ls', '--json')).stdout).map((n: any) => n.name)).toEqual(expect.arrayContaining(['bridge', 'host', 'none']));
    expect((await ipj<any[]>(h(), 'link', 'show', 'nsnet0'))).toHaveLength(1);
  });
});
