// libcni's cache, proven against libcni itself: Podman 4.3 (CNI backend,
// libcni 1.1) attaches a container, nsnet reads the cache file Podman wrote
// byte for byte and deletes the attachment from it; nsnet attaches the same
// container again, and Podman's own teardown reads the cache nsnet wrote (a
// recording plugin at the end of the chain sees it as prevResult) and takes
// everything down.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { decodeCache, encodeCache } from '../src/cni/runtime/cache.js';
import { decodeResult } from '../src/cni/types.js';
import { bridgeList, cacheFile, cniHost, FIXTURES, hostLocalLeases, iptablesNat, readCacheFile, records, REFERENCE } from './cni-runtime-helpers.js';
import { ipj, uniq } from './helpers.js';
import { podman, type Podman } from './podman-helpers.js';

const t = cniHost('pm', [REFERENCE, FIXTURES]);
let pm: Podman;

beforeAll(async () => {
  pm = await podman({ hostNetns: t.host.path!, confDir: t.conf.dir, pluginDirs: [REFERENCE, FIXTURES] });
}, 120_000);

afterAll(() => pm?.cleanup());

test('an attachment Podman made is deleted by nsnet from the cache Podman wrote (whose bytes nsnet writes alike), and one nsnet made is deleted by Podman from the cache nsnet wrote', async () => {
  const net = uniq('pn');
  const log = join(t.conf.dir, `${net}.log`);
  await t.conf.write(`${net}.conflist`, bridgeList(net, uniq('pb'), '10.129.0.0/24', '1.0.0', [
    { type: 'portmap', capabilities: { portMappings: true } },
    { type: 'recorder', log, mac: '02:00:00:00:00:01' }, // Podman refuses an interface without a MAC
  ]));
  const started = await pm.run('run', '-d', '--name', uniq('pc'), '--network', net, '-p', '18091:80', pm.image, 'sleep', '1000');
  expect(started.code, started.stderr).toBe(0);
  const id = started.stdout.trim();
  const podmanBytes = await readFile(cacheFile(net, id));
  const [inspect] = JSON.parse((await pm.run('inspect', id)).stdout);
  const netns: string = inspect.NetworkSettings.SandboxKey;
  expect(inspect.NetworkSettings.Networks[net].IPAddress).toBe('10.129.0.2');

  // Podman's file, decoded and encoded again by nsnet: the same bytes.
  const entry = decodeCache(podmanBytes, { network: net, containerId: id, ifName: 'eth0' })!;
  expect(encodeCache({ ...entry, result: decodeResult(entry.result) as unknown as Record<string, unknown> })).toBe(podmanBytes.toString());
  expect(entry.netns).toBeUndefined(); // libcni 1.1 had no such field; nsnet finds the namespace in the result

  // nsnet deletes Podman's attachment from Podman's cache: veth, lease, port rules, cache.
  const podmanResult = await t.cni.cachedResult(net, id);
  await t.cni.del(net, { containerId: id });
  const nsnetDel = (await records(log)).at(-1)!;
  expect([nsnetDel.command, nsnetDel.env.CNI_NETNS, nsnetDel.env.CNI_ARGS]).toEqual(['DEL', netns, `IgnoreUnknown=1;K8S_POD_NAME=${inspect.Name}`]);
  expect(nsnetDel.stdin.prevResult).toEqual(podmanResult);
  expect((await ipj<any[]>(netns.split('/').pop()!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
  expect(await hostLocalLeases(net)).toEqual([]);
  expect(await iptablesNat(t.host.name!)).not.toContain(id);
  expect(await readCacheFile(net, id)).toBeNull();

  // nsnet attaches the same container again, with Podman's arguments.
  const again = (await t.cni.add(net, { containerId: id, netns, args: entry.cniArgs!, capabilityArgs: entry.capabilityArgs! })) as any;
  const eth0Mac = again.interfaces.find((i: any) => i.name === 'eth0').mac;
  expect(await readCacheFile(net, id)).not.toBeNull();

  // Podman's teardown: libcni reads nsnet's cache and hands it to the plugins as prevResult.
  const removed = await pm.run('rm', '--force', '--time', '0', id);
  expect(removed.code, removed.stderr).toBe(0);
  const podmanDel = (await records(log)).at(-1)!;
  expect(podmanDel.command).toBe('DEL');
  expect(podmanDel.stdin.prevResult.interfaces.find((i: any) => i.name === 'eth0').mac).toBe(eth0Mac);
  expect(podmanDel.stdin.prevResult).toEqual(again);
  expect(await hostLocalLeases(net)).toEqual([]);
  expect(await iptablesNat(t.host.name!)).not.toContain(id);
  expect(await readCacheFile(net, id)).toBeNull();
}, 120_000);
