// The suite runs in its own network namespace and leaves the host's alone.
import { readFile } from 'node:fs/promises';

import { expect, test } from 'vitest';

import { Netns } from '../src/index.js';

test('the tests run in a private namespace, not the host\'s', async () => {
  const hostPath = process.env.NSNET_HOST_NETNS!;
  expect(hostPath).toBeTruthy();
  const real = await Netns.openPath(hostPath);
  const mine = await Netns.host();
  expect(mine.id).not.toBe(real.id);
  real.close();
});

test("the host's links are what they were before the run started (read through a handle, never changed)", async () => {
  const before = JSON.parse(await readFile(process.env.NSNET_HOST_SNAPSHOT!, 'utf8')) as { links: { ifname: string; ifindex: number; mtu: number; address: string }[] };
  const real = await Netns.openPath(process.env.NSNET_HOST_NETNS!);
  const now = await real.links.list();
  real.close();
  expect(now.map((l) => ({ ifindex: l.ifindex, name: l.name, mtu: l.mtu, mac: l.mac }))).toEqual(
    before.links.map((l) => ({ ifindex: l.ifindex, name: l.ifname, mtu: l.mtu, mac: l.address ?? null })),
  );
});
