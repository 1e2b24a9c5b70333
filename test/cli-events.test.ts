// `nsnet events` as a user runs it: it prints changes made by others (here
// `ip`) as they happen, one JSON object per line with --json, and stops
// cleanly on SIGTERM.
import { spawn } from 'node:child_process';

import { expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { ip, ipj, uniq } from './helpers.js';

function start(args: string[]) {
  const p = spawn(process.execPath, ['dist/cli/main.js', 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waits: { pred: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waits]) if (w.pred()) (waits.splice(waits.indexOf(w), 1), w.resolve());
  };
  p.stdout.on('data', (d) => ((out += d), check()));
  p.stderr.on('data', (d) => ((err += d), check()));
  const until = (pred: () => boolean) => new Promise<void>((resolve) => (waits.push({ pred, resolve }), check()));
  const exit = new Promise<number>((resolve) => p.on('exit', (code) => resolve(code ?? -1)));
  return { p, until, exit, out: () => out, err: () => err };
}

test('nsnet events --json prints a JSON line per change made by ip in the namespace, and exits 0 on SIGTERM', async () => {
  const ns = await Netns.create(uniq('ce'));
  const cli = start(['--netns', ns.name!, '--json']);
  await cli.until(() => cli.err().includes('watching'));
  await ip(ns.name, 'link', 'add', 'ceb0', 'type', 'bridge');
  await ip(ns.name, 'addr', 'add', '10.96.0.1/24', 'dev', 'ceb0');
  const lines = () => cli.out().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  await cli.until(() => lines().some((e) => e.kind === 'address' && e.address.cidr === '10.96.0.1/24'));
  const link = lines().find((e) => e.kind === 'link' && e.action === 'new' && e.link.name === 'ceb0');
  const o = (await ipj<any[]>(ns.name, 'link', 'show', 'ceb0'))[0];
  expect(link).toMatchObject({ kind: 'link', action: 'new', link: { ifindex: o.ifindex, mac: o.address, kind: 'bridge' } });
  expect(typeof link.time).toBe('string');
  cli.p.kill('SIGTERM');
  expect(await cli.exit).toBe(0);
  await ns.delete();
});

test('nsnet events prints ip-monitor-like lines, and namespaces coming and going in the run dir', async () => {
  const ns = await Netns.create(uniq('ct'));
  const cli = start(['--netns', ns.name!]);
  await cli.until(() => cli.err().includes('watching'));
  await ip(ns.name, 'link', 'add', 'ctb0', 'type', 'bridge');
  const other = uniq('cu');
  await ip(null, 'netns', 'add', other);
  await cli.until(() => cli.out().includes(`netns new ${other}`) && cli.out().includes('link new'));
  expect(cli.out()).toMatch(/link new \d+: ctb0 \(bridge\) <[A-Z_,]*> mtu \d+/);
  await ip(null, 'netns', 'del', other);
  await cli.until(() => cli.out().includes(`netns del ${other}`));
  cli.p.kill('SIGINT');
  expect(await cli.exit).toBe(0);
  await ns.delete();
});
