// The execution protocol, watched from the plugin's side: a recording plugin
// logs each call's CNI_* environment and stdin, so these tests see exactly
// what nsnet's runtime hands a plugin on ADD, DEL, CHECK, STATUS and GC, in
// which order, and what it does with the answers (errors, hangs, versions).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Cni, CniError } from '../src/index.js';
import { confDir, FIXTURES, readCacheFile, records, REFERENCE, type ConfDir } from './cni-runtime-helpers.js';
import { uniq } from './helpers.js';

let conf: ConfDir;
let cni: Cni;

beforeAll(async () => {
  conf = await confDir('proto');
  cni = new Cni({ confDir: conf.dir, path: [FIXTURES, REFERENCE], timeout: 5000 });
});

afterAll(() => conf.remove());

/** A list of recorders that log to one file; extra fields go to each plugin by index. */
async function recorderList(version: string | { cniVersions: string[] }, plugins: object[]) {
  const name = uniq('rp');
  const log = join(conf.dir, `${name}.log`);
  const v = typeof version === 'string' ? { cniVersion: version } : version;
  await conf.write(`${name}.conflist`, { ...v, name, plugins: plugins.map((p) => ({ log, ...p })) });
  return { name, log };
}

describe('what a plugin is handed', () => {
  test('ADD runs the chain in order: the spec\'s environment, the list\'s name and version, prevResult from the plugin before, runtimeConfig of the declared capabilities only', async () => {
    const { name, log } = await recorderList('1.0.0', [
      { type: 'recorder', capabilities: { portMappings: true } },
      { type: 'recorder-b', capabilities: { mac: true, ips: false } },
    ]);
    const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], mac: '02:00:00:00:00:07', ips: ['10.99.0.9/24'] };
    const result = (await cni.add(name, { containerId: 'c1', netns: '/run/netns/nowhere', ifName: 'net1', args: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'p']], capabilityArgs: caps })) as any;
    const [a, b] = await records(log);
    expect(a!.env).toEqual({
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/nowhere', CNI_IFNAME: 'net1',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p', CNI_PATH: `${FIXTURES}:${REFERENCE}`,
    });
    expect(a!.stdin).toEqual({ type: 'recorder', name, cniVersion: '1.0.0', log, runtimeConfig: { portMappings: caps.portMappings } });
    // The first result as libcni reads it: fields the version lacks are gone.
    const first = { cniVersion: '1.0.0', interfaces: [{ name: 'recorder0', sandbox: '/run/netns/nowhere' }], ips: [{ address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.99.0.53'] } };
    expect(b!.plugin).toBe('recorder-b');
    expect(b!.stdin.prevResult).toEqual(first);
    expect(b!.stdin.runtimeConfig).toEqual({ mac: caps.mac });
    expect(result).toEqual({ ...first, interfaces: [...first.interfaces, { name: 'recorder-b0', sandbox: '/run/netns/nowhere' }] });
    expect(JSON.parse((await readCacheFile(name, 'c1', 'net1'))!).cniArgs).toEqual([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'p']]);

    // CHECK in order and DEL in reverse, each given the cached final result; DEL takes ADD's arguments from the cache.
    await cni.check(name, { containerId: 'c1', ifName: 'net1' });
    await cni.del(name, { containerId: 'c1', ifName: 'net1' });
    const later = (await records(log)).slice(2);
    expect(later.map((r) => `${r.command} ${r.plugin}`)).toEqual(['CHECK recorder', 'CHECK recorder-b', 'DEL recorder-b', 'DEL recorder']);
    for (const r of later) {
      expect(r.stdin.prevResult).toEqual(result);
      expect(r.env).toMatchObject({ CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/nowhere', CNI_IFNAME: 'net1', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' });
    }
    expect(later[2]!.stdin.runtimeConfig).toEqual({ mac: caps.mac });
    expect(await readCacheFile(name, 'c1', 'net1')).toBeNull();
  });

  test('a 0.3.1 network gets no prevResult on DEL and refuses CHECK; cniVersions picks 1.1.0; a cached result is converted to the version of the list', async () => {
    const old = await recorderList('0.3.1', [{ type: 'recorder' }]);
    await cni.add(old.name, { containerId: 'o', netns: '/x' });
    await expect(cni.check(old.name, { containerId: 'o' })).rejects.toMatchObject({ cniCode: 1, command: 'CHECK' });
    await cni.del(old.name, { containerId: 'o' });
    const [, del] = await records(old.log);
    expect(del!.command).toBe('DEL');
    expect(del!.stdin.prevResult).toBeUndefined();

    const multi = await recorderList({ cniVersions: ['0.4.0', '1.1.0', '9.0.0'] }, [{ type: 'recorder' }]);
    const r = await cni.add(multi.name, { containerId: 'm', netns: '/x' });
    expect(r.cniVersion).toBe('1.1.0');
    expect((await records(multi.log))[0]!.stdin.cniVersion).toBe('1.1.0');
    await cni.del(multi.name, { containerId: 'm' });

    // A 0.4.0 result cached by ADD, read for a list now at 1.0.0: converted (ips lose their version).
    const conv = await recorderList('0.4.0', [{ type: 'recorder' }]);
    await cni.add(conv.name, { containerId: 'v', netns: '/x' });
    const list = { ...(await cni.load(conv.name)), cniVersion: '1.0.0' };
    const cached = (await cni.cachedResult(list, 'v')) as any;
    expect(cached.cniVersion).toBe('1.0.0');
    expect(cached.ips[0].version).toBeUndefined();
    await cni.del(list, { containerId: 'v' });
    expect((await records(conv.log)).at(-1)!.stdin.prevResult.cniVersion).toBe('1.0.0');
  });

  test('DEL halts at the first plugin that fails (the spec\'s rule), naming it and its code; the cache stays for a retry', async () => {
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder' }, { type: 'recorder-b', fail: { DEL: { code: 112, msg: 'busy', details: 'try later' } } }]);
    await cni.add(name, { containerId: 'd', netns: '/x' });
    const e = await cni.del(name, { containerId: 'd' }).catch((x) => x);
    expect(e).toBeInstanceOf(CniError);
    expect([e.cniCode, e.plugin, e.command, e.network, e.msg, e.details]).toEqual([112, 'recorder-b', 'DEL', name, 'busy', 'try later']);
    expect((await records(log)).map((r) => `${r.command} ${r.plugin}`)).toEqual(['ADD recorder', 'ADD recorder-b', 'DEL recorder-b']);
    expect(await readCacheFile(name, 'd')).not.toBeNull();
  });

  test('STATUS (1.1) asks every plugin without attachment variables and reports the first not ready with its code; before 1.1 it asks nobody', async () => {
    const ready = await recorderList('1.1.0', [{ type: 'recorder' }, { type: 'recorder-b' }]);
    await cni.status(ready.name);
    const calls = await records(ready.log);
    expect(calls.map((r) => `${r.command} ${r.plugin}`)).toEqual(['STATUS recorder', 'STATUS recorder-b']);
    expect(calls[0]!.env).toMatchObject({ CNI_COMMAND: 'STATUS', CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '' });
    const down = await recorderList('1.1.0', [{ type: 'recorder', fail: { STATUS: { code: 50, msg: 'no daemon' } } }, { type: 'recorder-b' }]);
    await expect(cni.status(down.name)).rejects.toMatchObject({ cniCode: 50, plugin: 'recorder', msg: 'no daemon' });
    expect((await records(down.log)).length).toBe(1);
    const old = await recorderList('1.0.0', [{ type: 'recorder' }]);
    await cni.status(old.name);
    expect(await records(old.log)).toEqual([]);
  });

  test('GC deletes exactly the cached attachments not listed, then hands every plugin the valid ones (both keys libcni sets)', async () => {
    const { name, log } = await recorderList('1.1.0', [{ type: 'recorder' }]);
    for (const id of ['g1', 'g2', 'g3']) await cni.add(name, { containerId: id, netns: `/run/netns/${id}` });
    await cni.gc(name, [{ containerId: 'g2', ifName: 'eth0' }]);
    const calls = (await records(log)).slice(3);
    expect(calls.filter((c) => c.command === 'DEL').map((c) => [c.env.CNI_CONTAINERID, c.env.CNI_NETNS])).toEqual([['g1', '/run/netns/g1'], ['g3', '/run/netns/g3']]);
    const gc = calls.find((c) => c.command === 'GC')!;
    expect(gc.stdin['cni.dev/valid-attachments']).toEqual([{ containerID: 'g2', ifname: 'eth0' }]);
    expect(gc.stdin['cni.dev/attachments']).toEqual([{ containerID: 'g2', ifname: 'eth0' }]);
    expect([await readCacheFile(name, 'g1'), await readCacheFile(name, 'g3')]).toEqual([null, null]);
    expect(await readCacheFile(name, 'g2')).not.toBeNull();
    await cni.del(name, { containerId: 'g2' });
  });
});

describe('bad networks and misbehaving plugins', () => {
  test('a missing plugin is code 50 naming it, before any plugin runs', async () => {
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder' }, { type: 'no-such-plugin' }]);
    const e = await cni.add(name, { containerId: 'x', netns: '/x' }).catch((x) => x);
    expect([e.constructor, e.cniCode, e.plugin]).toEqual([CniError, 50, 'no-such-plugin']);
    expect(e.message).toMatch(/failed to find plugin "no-such-plugin"/);
    expect(await records(log)).toEqual([]);
    await expect(cni.validate(name)).rejects.toMatchObject({ cniCode: 50, plugin: 'no-such-plugin' });
  });

  test('a version a plugin does not support: validate names it with code 1, ADD gets its own code-1 error and is undone', async () => {
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder' }, { type: 'recorder-old' }]);
    await expect(cni.validate(name)).rejects.toMatchObject({ cniCode: 1, plugin: 'recorder-old' });
    const e = await cni.add(name, { containerId: 'x', netns: '/x' }).catch((x) => x);
    expect([e.cniCode, e.plugin, e.command]).toEqual([1, 'recorder-old', 'ADD']);
    // recorder-old refused before logging, its DEL too; the undo went on to recorder's DEL.
    expect((await records(log)).map((r) => `${r.command} ${r.plugin}`)).toEqual(['ADD recorder', 'DEL recorder']);
    expect(e.rollbackErrors.map((u: CniError) => [u.plugin, u.cniCode])).toEqual([['recorder-old', 1]]);
    expect(await readCacheFile(name, 'x')).toBeNull();
  });

  test('invalid JSON in the directory is code 6 naming the file; a list without plugins is code 7', async () => {
    const dir = await confDir('bad');
    try {
      const file = await dir.write('10-broken.conflist', '{"cniVersion": "1.0.0", "name": "broken", "plugins": [');
      const bad = new Cni({ confDir: dir.dir, path: [FIXTURES] });
      await expect(bad.add('broken', { containerId: 'x', netns: '/x' })).rejects.toMatchObject({ cniCode: 6, details: file });
      const empty = await dir.write('05-empty.conflist', { cniVersion: '1.0.0', name: 'empty', plugins: [] });
      await expect(bad.load('empty')).rejects.toMatchObject({ cniCode: 7, details: empty });
      const listing = await bad.networks();
      expect(listing.invalid.map((i) => i.file)).toEqual([empty, file]);
    } finally {
      await dir.remove();
    }
  });

  test('a plugin that hangs is killed at the timeout with its children (code 11), and the ADD is undone', async () => {
    const quick = new Cni({ confDir: conf.dir, path: [FIXTURES], timeout: 1500 });
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder', hang: ['ADD'] }]);
    const e = await quick.add(name, { containerId: 'h', netns: '/x' }).catch((x) => x);
    expect([e.constructor, e.cniCode, e.plugin, e.command]).toEqual([CniError, 11, 'recorder', 'ADD']);
    const [hung, del] = await records(log);
    expect(del!.command).toBe('DEL');
    // Its child went too: gone, or a zombie waiting for whoever inherited it.
    const state = () => readFile(`/proc/${hung!.childPid}/stat`, 'utf8').then((t) => t.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3), () => 'gone');
    expect(['gone', 'Z']).toContain(await state());
  });

  test("a plugin's error reaches the caller with its code, message and details, and what ran before it is deleted", async () => {
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder' }, { type: 'recorder-b', fail: { ADD: { code: 107, msg: 'no room', details: 'pool empty' } } }]);
    const e = await cni.add(name, { containerId: 'f', netns: '/x' }).catch((x) => x);
    expect([e.cniCode, e.plugin, e.msg, e.details]).toEqual([107, 'recorder-b', 'no room', 'pool empty']);
    expect(e.message).toBe(`network ${name}: plugin recorder-b (ADD): no room (CNI code 107): pool empty`);
    expect((await records(log)).map((r) => `${r.command} ${r.plugin}`)).toEqual(['ADD recorder', 'ADD recorder-b', 'DEL recorder-b', 'DEL recorder']);
  });

  test('bad attachments are refused before any plugin runs, with the spec\'s codes', async () => {
    const { name, log } = await recorderList('1.0.0', [{ type: 'recorder' }]);
    await expect(cni.add(name, { containerId: '', netns: '/x' })).rejects.toMatchObject({ cniCode: 3 });
    await expect(cni.add(name, { containerId: 'a/b', netns: '/x' })).rejects.toMatchObject({ cniCode: 4 });
    await expect(cni.add(name, { containerId: 'ok', ifName: 'much-too-long-name', netns: '/x' })).rejects.toMatchObject({ cniCode: 4 });
    expect(await records(log)).toEqual([]);
  });
});

describe('finding networks as libcni does', () => {
  test('.conflist files first in byte order of their names, then .conf and .json; a .conf is a one-plugin list', async () => {
    const dir = await confDir('order');
    try {
      await dir.write('20-b.conflist', { cniVersion: '1.0.0', name: 'dup', plugins: [{ type: 'recorder-b' }] });
      const first = await dir.write('10-a.conflist', { cniVersion: '1.0.0', name: 'dup', plugins: [{ type: 'recorder' }] });
      await dir.write('05-c.conf', { cniVersion: '1.0.0', name: 'dup', type: 'recorder-old' });
      await dir.write('30-d.json', { cniVersion: '0.4.0', name: 'single', type: 'recorder' });
      const c = new Cni({ confDir: dir.dir, path: [FIXTURES] });
      const dup = await c.load('dup');
      expect([dup.file, dup.plugins[0]!.type]).toEqual([first, 'recorder']);
      const single = await c.load('single');
      expect([single.cniVersion, single.plugins.map((p) => p.type)]).toEqual(['0.4.0', ['recorder']]);
      expect((await c.networks()).networks.map((n) => n.file!.split('/').pop())).toEqual(['05-c.conf', '10-a.conflist', '20-b.conflist', '30-d.json']);
      await expect(c.load('nothing')).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    } finally {
      await dir.remove();
    }
  });
});
