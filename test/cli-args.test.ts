// The nsnet command line against its definitions: --help prints what the
// definitions declare, an unknown flag or command is named and exits 2,
// repeated flags accumulate, and what follows run's command reaches it
// untouched.
import { describe, expect, test } from 'vitest';

import { flagsOf, parse, type Command, type Group } from '../src/cli/args.js';
import { nsnet as root } from '../src/cli/commands.js';
import { commandHelp, groupHelp, isGroup } from '../src/cli/help.js';
import { cliWithStateDir, walk } from './cli-helpers.js';
import { uniq } from './helpers.js';

const { nsnet } = cliWithStateDir();


describe('nsnet --help', () => {
  test('every command and group prints, for --help, the usage generated from its definitions: each flag with its help line, and each command', async () => {
    const all = walk(root);
    expect(all.length).toBeGreaterThan(20);
    for (const { node, path } of all) {
      const r = await nsnet(...path, '--help');
      expect(r.code, `nsnet ${path.join(' ')} --help: ${r.stderr}`).toBe(0);
      if (isGroup(node) && node.default) {
        // `nsnet link --help` is `nsnet link ls --help`: the group runs its default.
        expect(r.stdout).toBe(commandHelp(node.default, [...path, node.default.name].join(' ')));
      } else if (isGroup(node)) {
        expect(r.stdout).toBe(groupHelp(node, path.join(' ')));
        // Each command below the group, by the path from the group and its summary.
        const lines = r.stdout.split('\n');
        for (const leaf of walk(node).filter((l) => !isGroup(l.node))) {
          expect(lines.some((l) => l.startsWith(`  ${leaf.path.join(' ')} `) && l.endsWith(leaf.node.summary)), leaf.path.join(' ')).toBe(true);
        }
      } else {
        expect(r.stdout).toBe(commandHelp(node, path.join(' ')));
        expect(r.stdout).toContain(`usage: nsnet ${path.join(' ')} [flags]`);
        for (const f of flagsOf(node)) {
          expect(r.stdout).toContain(`--${f.name}`);
          expect(r.stdout).toContain(f.help);
        }
      }
    }
  });

  test('-h is --help on every command except run, where -h is the hostname (as in docker run)', async () => {
    for (const path of [[], ['network'], ['network', 'create'], ['sandbox', 'rm'], ['exec'], ['events'], ['route', 'ls']]) {
      const r = await nsnet(...path, '-h');
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.stdout).toBe((await nsnet(...path, '--help')).stdout);
    }
    const run = await nsnet('run', '-h');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nsnet: flag -h needs a value (HOSTNAME)');
    expect((await nsnet('run', '--help')).stdout).toMatch(/^ {2}-h, --hostname HOSTNAME +the hostname/m);
  });
});

describe('nsnet usage errors', () => {
  test('an unknown flag is named with the command it was given to, exits 2, and creates nothing', async () => {
    const net = uniq('ua');
    const r = await nsnet('network', 'create', '--foo', 'x', net);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`nsnet: unknown flag --foo for 'network create'\nusage: nsnet network create [flags] <name>\nSee 'nsnet network create --help'.\n`);
    expect(JSON.parse((await nsnet('network', 'ls', '--json')).stdout).map((n: any) => n.name)).not.toContain(net);
    // A flag of another command is unknown here, not silently ignored.
    const other = await nsnet('network', 'ls', '--subnet', '10.97.0.0/24');
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("unknown flag --subnet for 'network ls'");
    const short = await nsnet('sandbox', 'ls', '-z');
    expect(short.stderr).toContain("unknown flag -z for 'sandbox ls'");
    const top = await nsnet('--foo');
    expect(top.code).toBe(2);
    expect(top.stderr).toContain("unknown flag --foo for 'nsnet'");
  });

  test('an unknown command, a missing operand, a flag without its value and a value given to a flag that takes none each exit 2 with the reason', async () => {
    const cases: [string[], string][] = [
      [['bogus'], "unknown command 'bogus'"],
      [['network', 'bogus'], "unknown command 'network bogus'"],
      [['network', 'create'], "'network create' needs <name>"],
      [['network', 'create', 'a', 'b'], "'network create' takes <name>; unexpected 'b'"],
      [['network', 'connect', 'a'], "'network connect' needs <network> <sandbox>"],
      [['sandbox', 'rm'], "'sandbox rm' needs <name|id>..."],
      [['exec'], "'exec' needs <name>"],
      [['exec', 'a'], "'exec' needs a command to run"],
      [['run', '--net', 'none'], "'run' needs a command to run"],
      [['run', '--net'], 'flag --net needs a value (MODE)'],
      [['run', '--keep=yes', 'true'], 'flag --keep takes no value'],
      [['link', 'ls', 'eth0'], "'link ls' takes no operands; unexpected 'eth0'"],
    ];
    for (const [argv, message] of cases) {
      const r = await nsnet(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toContain(`nsnet: ${message}\n`);
    }
  });
});

describe('nsnet flags', () => {
  test('a repeated flag accumulates in order, its aliases into the same list; a flag that does not repeat keeps its last value', () => {
    const run = root.commands.find((c) => c.name === 'run') as Command;
    const a = parse(run, ['-p', '80', '--publish', '81', '-p82', '--publish=83', '--dns-opt', 'ndots:2', '--dns-option', 'timeout:1', '--name', 'a', '--name', 'b', 'true'], 'run');
    expect(a.list('publish')).toEqual(['80', '81', '82', '83']);
    expect(a.list('dns-option')).toEqual(['ndots:2', 'timeout:1']);
    expect(a.str('name')).toBe('b');
    expect(a.command).toEqual(['true']);
    expect(() => a.str('nmae')).toThrow(/declares no flag --nmae/);
  });

  test('repeated --label, -o, --subnet and --gateway on network create all reach the network', async () => {
    const net = uniq('ub');
    const c = await nsnet('network', 'create', '--subnet', '10.97.1.0/24', '--gateway', '10.97.1.254', '--subnet', '10.97.2.0/24', '--gateway', '10.97.2.254',
      '--label', 'team=a', '--label', 'tier=web', '-o', 'mtu=1400', '--opt', 'com.docker.network.bridge.enable_icc=false', net);
    expect(c.code, c.stderr).toBe(0);
    const [info] = JSON.parse((await nsnet('network', 'inspect', net)).stdout);
    expect(info.labels).toEqual({ team: 'a', tier: 'web' });
    expect(info.options).toEqual({ mtu: '1400', 'com.docker.network.bridge.enable_icc': 'false' });
    expect(info.subnets.map((s: any) => [s.subnet, s.gateway])).toEqual([['10.97.1.0/24', '10.97.1.254'], ['10.97.2.0/24', '10.97.2.254']]);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });

  test('repeated --dns and --dns-option on run all reach the sandbox resolv.conf, in order', async () => {
    const r = await nsnet('run', '--net', 'none', '--dns', '10.0.0.1', '--dns', '10.0.0.2', '--dns-opt', 'ndots:2', '--dns-option', 'timeout:1', '--', 'cat', '/etc/resolv.conf');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nameserver 10\.0\.0\.1\nnameserver 10\.0\.0\.2\n/);
    expect(r.stdout).toMatch(/options ndots:2 timeout:1/);
  });

  test("flags after run's command, with or without --, reach the command untouched and are not read by nsnet", async () => {
    const show = ['sh', '-c', 'printf "[%s]\\n" "$@"', 'sh'];
    const passed = ['--json', '-p', '80', '--help', '-h', 'x', '--', '--net=y', '--keep'];
    const lines = passed.map((x) => `[${x}]\n`).join('');
    const name = uniq('uc');
    const withDashes = await nsnet('run', '--net', 'none', '--name', name, '--', ...show, ...passed);
    expect(withDashes.code, withDashes.stderr).toBe(0);
    expect(withDashes.stdout).toBe(lines);
    // As docker run: the first operand starts the command, so --keep after it is the command's and the sandbox goes.
    const without = await nsnet('run', '--net', 'none', '--name', name, ...show, ...passed);
    expect(without.code, without.stderr).toBe(0);
    expect(without.stdout).toBe(lines);
    expect(JSON.parse((await nsnet('sandbox', 'ls', '--json')).stdout)).toEqual([]);
    // exec: the same after the sandbox name.
    expect((await nsnet('run', '--keep', '--net', 'none', '--name', name, 'true')).code).toBe(0);
    const ex = await nsnet('exec', name, ...show, ...passed);
    expect(ex.stdout).toBe(lines);
    expect((await nsnet('exec', name, '--', ...show, ...passed)).stdout).toBe(lines);
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
  });
});
