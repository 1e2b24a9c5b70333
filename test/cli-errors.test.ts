// Errors that say what to do: without root or the capabilities nsnet needs,
// every command stops with one line before any kernel call; a missing
// operand shows the usage line; `nsnet network` alone, an unknown command
// and --version / -v behave as docker's; messages name what the user gave,
// never a create step's internal name or a generated sandbox name.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, test } from 'vitest';

import { arity, type Group } from '../src/cli/args.js';
import { nsnet as root } from '../src/cli/commands.js';
import { groupHelp, isGroup } from '../src/cli/help.js';
import { missingCapabilities } from '../src/cli/privileges.js';
import { openEngine } from '../src/store/engine.js';
import { cliWithStateDir, walk } from './cli-helpers.js';
import { ipj, nobodyView, uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

const run = promisify(execFile);
const { cli, nsnet, host } = cliWithStateDir({ ownHost: true });
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Every command, with operands enough to get past parsing. */
function everyCommand(): { name: string; argv: string[] }[] {
  return walk(root)
    .filter(({ node }) => !isGroup(node))
    .map(({ node, path }) => {
      const c = node as Exclude<typeof node, Group>;
      return { name: path.join(' '), argv: [...path, ...Array.from({ length: arity(c.operands).min }, () => 'x'), ...(c.command ? ['true'] : [])] };
    });
}

describe('nsnet without privileges', () => {
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--'];
  const noNetAdmin = ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--'];

  test('every command run as a user without root stops with one line that says it needs root and what to do, before creating its state dir', async () => {
    const state = join(await mkdtemp(join(tmpdir(), 'nsnet-noroot-')), 'state');
    const view = await nobodyView();
    try {
      const commands = everyCommand();
      expect(commands.length).toBeGreaterThan(20);
      for (const { name, argv } of commands) {
        const r = await cli({ prefix: asNobody, env: { ...view.env, NSNET_STATE_DIR: state }, node: view.node, cwd: view.root }, ...argv);
        if (name === 'version') {
          expect(r.code, r.stderr).toBe(0);
          continue;
        }
        expect(r.code, `nsnet ${argv.join(' ')}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toBe(`nsnet: '${name}' needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), and this process is user 65534 without CAP_NET_ADMIN and CAP_SYS_ADMIN: run it with sudo\n`);
        expect(r.stdout).toBe('');
      }
      expect(existsSync(state)).toBe(false);
    } finally {
      await view.undo();
      await rm(join(state, '..'), { recursive: true, force: true });
    }
  });

  test('root without CAP_NET_ADMIN is told which capability it lacks, and no netlink socket is opened, no namespace entered', async () => {
    const r = await cli({ prefix: noNetAdmin }, 'network', 'ls');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("nsnet: 'network ls' needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), and this process is root without CAP_NET_ADMIN: run it with sudo\n");
    // The kernel is never asked: strace sees no netlink socket and no setns.
    const trace = join(await mkdtemp(join(tmpdir(), 'nsnet-strace-')), 'trace');
    try {
      // Under scripts/sanitize.sh, LeakSanitizer cannot check a traced process (it stops the world with ptrace itself).
      const env = { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:detect_leaks=0` };
      await run('strace', ['-f', '-qq', '-e', 'trace=socket,setns,unshare', '-o', trace, ...noNetAdmin, process.execPath, 'dist/cli/main.js', 'network', 'ls'], { env }).catch(() => {});
      const calls = readFileSync(trace, 'utf8');
      expect(calls).not.toMatch(/AF_NETLINK|setns\(|unshare\(/);
    } finally {
      await rm(join(trace, '..'), { recursive: true, force: true });
    }
  });

  test('the capability check reads CapEff: both bits set passes, either missing is named', () => {
    expect(missingCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n')).toEqual([]);
    expect(missingCapabilities('CapEff:\t0000000000000000\n')).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(missingCapabilities('CapEff:\t0000000000201000\n')).toEqual([]);
    expect(missingCapabilities('CapEff:\t0000000000200000\n')).toEqual(['CAP_NET_ADMIN']);
    expect(missingCapabilities('CapEff:\t0000000000001000\n')).toEqual(['CAP_SYS_ADMIN']);
    expect(missingCapabilities('no such line')).toEqual([]);
  });
});

describe("nsnet's answers to incomplete or unknown command lines", () => {
  test('a command missing its operands exits 2 with its usage line, as docker does, and changes nothing', async () => {
    const cases: [string[], string][] = [
      [['network', 'rm'], 'usage: nsnet network rm [flags] <name|id>...'],
      [['sandbox', 'rm'], 'usage: nsnet sandbox rm [flags] <name|id>...'],
      [['network', 'inspect'], 'usage: nsnet network inspect [flags] <name|id>...'],
      [['network', 'disconnect', 'a'], 'usage: nsnet network disconnect [flags] <network> <sandbox>'],
      [['exec'], 'usage: nsnet exec [flags] <name> [--] <cmd> [args...]'],
      [['run'], 'usage: nsnet run [flags] [--] <cmd> [args...]'],
    ];
    for (const [argv, usage] of cases) {
      const r = await nsnet(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[1]).toBe(usage);
      expect(r.stderr).toContain(`See 'nsnet ${argv.filter((w) => w !== 'a').join(' ')} --help'.`);
    }
  });

  test('a group named alone (nsnet, nsnet network, nsnet sandbox) prints its commands and exits 0, as docker network does', async () => {
    for (const path of [[], ['network'], ['sandbox'], ['netns']]) {
      const r = await nsnet(...path);
      expect(r.code, path.join(' ')).toBe(0);
      const g = walk(root).find((n) => n.path.join(' ') === path.join(' '))!.node as Group;
      expect(r.stdout).toBe(groupHelp(g, path.join(' ')));
    }
    expect((await nsnet('network')).stdout).toContain('  prune ');
  });

  test('an unknown command is named with the group it was given to, with the usage of that group, and exits 2', async () => {
    expect(await nsnet('bogus')).toEqual({ code: 2, stdout: '', stderr: "nsnet: unknown command 'bogus'\nusage: nsnet <command> [flags]\nSee 'nsnet --help'.\n" });
    expect(await nsnet('network', 'bogus', '--foo')).toEqual({
      code: 2, stdout: '', stderr: "nsnet: unknown command 'network bogus'\nusage: nsnet network <command> [flags]\nSee 'nsnet network --help'.\n",
    });
  });

  test("--version and -v print one line, as docker --version does; 'version' adds what nsnet runs on", async () => {
    for (const flag of ['--version', '-v']) expect(await nsnet(flag)).toEqual({ code: 0, stdout: `nsnet version ${pkg.version}\n`, stderr: '' });
    const v = await nsnet('version');
    expect(v.stdout).toContain(`nsnet: ${pkg.version}\nnode: ${process.version}\n`);
  });
});

describe('nsnet error messages', () => {
  test('errors name what the user gave, in one line, with no create step (store.sandbox) and no generated sandbox name', async () => {
    const net = uniq('ea');
    const name = uniq('eb');
    expect((await nsnet('network', 'create', '--subnet', '10.96.7.0/24', net)).code).toBe(0);
    expect((await nsnet('run', '--keep', '--net', 'none', '--name', name, 'true')).code).toBe(0);
    const cases: [string[], string][] = [
      [['run', '--net', uniq('nx'), 'true'], `no network `],
      [['run', '--net', 'none', '--name', name, 'true'], `sandbox ${name} already exists`],
      [['network', 'create', net], `network ${net} already exists`],
      [['network', 'create', '--subnet', '10.96.7.0/25', uniq('ec')], `subnet 10.96.7.0/25 overlaps network ${net}`],
      [['run', '--net', net, '--ip', '10.96.8.1', 'true'], 'invalid ip "10.96.8.1": is outside the subnet 10.96.7.0/24'],
    ];
    for (const [argv, message] of cases) {
      const r = await nsnet(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr.startsWith(`nsnet: ${message}`), r.stderr).toBe(true);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr).not.toMatch(/store\.|kernel\.|sb-[0-9a-z]{8}/);
    }
    expect((await nsnet('sandbox', 'rm', name)).code).toBe(0);
    expect((await nsnet('network', 'rm', net)).code).toBe(0);
  });
});

describe('nsnet with a state dir it cannot use', () => {
  /** What the kernel holds in the host namespace and the run dir: what a failed command must not change. */
  const kernel = async () => {
    const h = host()!.name;
    const links = (await ipj<any[]>(h, 'link', 'show')).map((l) => `${l.ifname} ${l.master ?? ''} ${l.flags.join(',')}`);
    const addrs = (await ipj<any[]>(h, 'addr', 'show')).flatMap((l) => (l.addr_info ?? []).map((a: any) => `${l.ifname} ${a.local}`));
    const netns = (await ipj<any[]>(null, 'netns', 'list')).map((n) => n.name).sort();
    return JSON.stringify({ links, addrs, netns, nft: await nftj(h) });
  };

  test('a state dir that is a file, not a store, read-only or unreadable, or a store row that does not parse: one line naming the file and what to do, and nothing changes in the kernel', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nsnet-badstate-'));
    const live = join(root, 'live');
    try {
      // A store with a network and a sandbox in the kernel, whose rows are then damaged.
      const net = uniq('ez');
      expect((await cli({ env: { NSNET_STATE_DIR: live } }, 'network', 'create', '--subnet', '10.85.1.0/24', net)).code).toBe(0);
      const sb = uniq('ey');
      expect((await cli({ env: { NSNET_STATE_DIR: live } }, 'run', '--keep', '--net', net, '--name', sb, 'true')).code).toBe(0);
      writeFileSync(join(root, 'file'), 'x');
      mkdirSync(join(root, 'garbage'));
      writeFileSync(join(root, 'garbage', 'nsnet.db'), Buffer.alloc(8192, 0x5a));
      mkdirSync(join(root, 'ro'));
      await run('mount', ['-t', 'tmpfs', '-o', 'ro', 'nsnet-ro', join(root, 'ro')]);
      mkdirSync(join(root, 'locked'), { mode: 0o000 });
      chmodSync(join(root, 'locked'), 0o000);
      const before = await kernel();
      const noDac = ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search', '--'];
      const cases: [string, string[], string][] = [
        [join(root, 'file'), [], `${join(root, 'file')} is not a directory: give --state-dir (NSNET_STATE_DIR) a directory`],
        [join(root, 'garbage'), [], 'file is not a database: it is not an nsnet store, or it is damaged; move it away to start afresh (nsnet then forgets its networks and sandboxes)'],
        [join(root, 'ro'), [], `${join(root, 'ro')} is read-only, and nsnet writes its state there; give --state-dir a writable directory`],
        [join(root, 'locked', 'x'), noDac, 'permission denied (EACCES): nsnet reads and writes its state dir as root; run it with sudo, or give --state-dir a directory it may write'],
      ];
      for (const [dir, prefix, why] of cases) {
        for (const argv of [['network', 'ls'], ['run', '--net', 'none', 'true']]) {
          const r = await cli({ prefix, env: { NSNET_STATE_DIR: dir } }, ...argv);
          expect(r.code, `${dir}: ${r.stderr}`).toBe(1);
          expect(r.stderr).toBe(`nsnet: state store ${join(dir, 'nsnet.db')}: ${why}\n`);
        }
      }
      // The engine the store itself opens on this Node (better-sqlite3 is built for one ABI only).
      const damage = (sql: string) => {
        const db = openEngine(join(live, 'nsnet.db'));
        db.prepare(sql).run();
        db.close();
      };
      damage(`UPDATE sandboxes SET data = '{"id":' WHERE name = '${sb}'`);
      for (const argv of [['network', 'ls'], ['sandbox', 'rm', sb], ['network', 'rm', '-f', net]]) {
        const r = await cli({ env: { NSNET_STATE_DIR: live } }, ...argv);
        expect(r.code, argv.join(' ')).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^nsnet: state store ${join(live, 'nsnet.db')}: a row of sandboxes is not valid JSON \\(.*\\): the store is damaged; move it away to start afresh \\(nsnet then forgets its networks and sandboxes\\)\n$`));
      }
      damage(`UPDATE sandboxes SET data = '{"name":"x"}' WHERE name = '${sb}'`);
      const shape = await cli({ env: { NSNET_STATE_DIR: live } }, 'network', 'ls');
      expect(shape.stderr).toBe(`nsnet: state store ${join(live, 'nsnet.db')}: a row of sandboxes is not a record nsnet wrote (no id and name): the store is damaged; move it away to start afresh (nsnet then forgets its networks and sandboxes)\n`);
      expect(await kernel()).toBe(before);
      // Mended, the store works again, and its sandbox and network go.
      damage(`DELETE FROM sandboxes WHERE name = '${sb}'`);
      expect((await cli({ env: { NSNET_STATE_DIR: live } }, 'network', 'rm', '-f', net)).code).toBe(0);
      await run('ip', ['netns', 'delete', sb]).catch(() => {});
    } finally {
      await run('umount', [join(root, 'ro')]).catch(() => {});
      chmodSync(join(root, 'locked'), 0o700);
      await rm(root, { recursive: true, force: true });
    }
  });
});
