// The defect that opened issue 15, as a user met it: a read-only command
// with another state dir (`nsnet network ls --state-dir /tmp/other`) deleted
// the default store's bridge, its sandbox's veth and nsnet's whole table.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, test } from 'vitest';

import { cliWithStateDir } from './cli-helpers.js';
import { ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

const { nsnet } = cliWithStateDir();

test('`nsnet network ls --state-dir <another>` leaves the first store\'s bridge, veth and published port as they were', async () => {
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
  } finally {
    await nsnet('sandbox', 'rm', sb);
    await nsnet('network', 'rm', net);
    await rm(other, { recursive: true, force: true });
  }
});
