// The defect that opened issue 15, as a user met it: a read-only command
// with another state dir (`nsnet network ls --state-dir /tmp/other`) deleted
// the default store's bridge, its sandbox's veth and nsnet's whole table.
// And `nsnet gc`, which lists another store's objects and removes only
// nobody's, and only when asked.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, test } from 'vitest';

import { cliWithStateDir } from './cli-helpers.js';
import { ip, ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

const { nsnet } = cliWithStateDir();

test('`nsnet network ls --state-dir <another>` leaves the first store\'s bridge, veth and published port as they were; `nsnet gc` there lists them and removes only an untagged one, with --orphans', async () => {
  const net = uniq('clo');
  const sb = uniq('clos');
  expect((await nsnet('network', 'create', '--subnet', '10.174.0.0/24', net)).code).toBe(0);
  const other = await mkdtemp(join(tmpdir(), 'nsnet-other-'));
  try {
    expect((await nsnet('run', '--keep', '--name', sb, '--net', net, '-p', '8305:80', '--', 'true')).code).toBe(0);
    const veth: string = JSON.parse((await nsnet('sandbox', 'inspect', sb)).stdout)[0].endpoints[0].hostIfname;
    const bridge: string = JSON.parse((await nsnet('network', 'inspect', net)).stdout)[0].bridge;
    const seen = async () => ({
      links: (await ipj<any[]>(null, 'link', 'show')).filter((l) => l.ifname === veth || l.ifname === bridge).map((l) => `${l.ifname} ${l.master ?? ''} ${l.operstate}`),
      port: JSON.stringify(ofKind(await nftj(null), 'map')).includes('8305'),
    });
    const before = await seen();
    expect(before.links).toHaveLength(2);
    expect(before.port).toBe(true);
    const ls = await nsnet('network', 'ls', '--state-dir', other);
    expect(ls.code).toBe(0);
    expect(ls.stdout).not.toContain(net);
    expect(await seen()).toEqual(before);
    // gc with another state dir lists the first store's objects as another
    // store's, and an untagged nsnet-named veth as nobody's; --orphans
    // removes only that one.
    await ip(null, 'link', 'add', 'nsv0badc0df', 'type', 'veth', 'peer', 'name', uniq('orph'));
    const g = await nsnet('gc', '--state-dir', other);
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(new RegExp(`another store's interfaces \\(left alone\\): .*${bridge}`));
    expect(g.stdout).toMatch(/interfaces no store claims \(left alone; --orphans removes them\): .*nsv0badc0df/);
    const o = await nsnet('gc', '--orphans', '--json', '--state-dir', other);
    expect(JSON.parse(o.stdout).interfacesRemoved).toEqual(['nsv0badc0df']);
    expect(await seen()).toEqual(before);
  } finally {
    await ip(null, 'link', 'del', 'nsv0badc0df').catch(() => {});
    await nsnet('sandbox', 'rm', sb);
    await nsnet('network', 'rm', net);
    await rm(other, { recursive: true, force: true });
  }
});
