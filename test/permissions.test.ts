// Modes of what nsnet writes, whatever the umask: the store 0600 in a 0700
// state dir (store.test.ts proves the cases), and a sandbox's files, which
// its processes read through bind mounts, 0644 in 0755 directories, never
// writable by others.
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { createSandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { uniq } from './helpers.js';

let w: World;
beforeAll(async () => {
  w = await world('perm');
});
afterAll(async () => {
  await w?.cleanup();
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

test('under umask 000 and umask 077 a sandbox\'s files are 0644 in a 0755 directory, and the store stays 0600', async () => {
  const net = await w.c.createNetwork(uniq('pm'), { subnets: ['10.161.0.0/24'] });
  for (const umask of [0o000, 0o077]) {
    const old = process.umask(umask);
    try {
      const sb = await createSandbox(w.c, { name: uniq('pm'), mode: { network: net.name } });
      const dir = join((await sb.info()).resolvConf, '..');
      expect([umask.toString(8), mode(dir), mode(join(dir, '..'))]).toEqual([umask.toString(8), '755', '755']);
      for (const f of ['resolv.conf', 'hosts', 'hostname']) expect([f, mode(join(dir, f))]).toEqual([f, '644']);
      // A join rewrites hosts: the mode stays.
      const other = await w.c.createNetwork(uniq('pm'), { subnets: [`10.16${umask ? 3 : 2}.0.0/24`] });
      await (await other.createEndpoint(uniq('pe'))).join(sb);
      expect(mode(join(dir, 'hosts'))).toBe('644');
      await sb.delete();
      await other.delete({ force: true });
    } finally {
      process.umask(old);
    }
  }
  expect([mode(w.stateDir), mode(join(w.stateDir, 'nsnet.db'))]).toEqual(['700', '600']);
  await net.delete();
});
