// cni:<network> sandboxes through the library (createSandbox's mode): made
// all or nothing, recorded so the Controller's hook can DEL them, and
// refused before anything changes when the input or the network is bad.
import { readdir } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { CniError, createSandbox, ValidationError } from '../src/index.js';
import { bridgeList, confDir, FIXTURES, hostLocalLeases, iptablesNat, readCacheFile, REFERENCE, type ConfDir } from './cni-helpers.js';
import { world, type World } from './cnm-helpers.js';
import { ipj, uniq } from './helpers.js';

let w: World;
let conf: ConfDir;
const cni = () => ({ confDir: conf.dir, path: [REFERENCE, FIXTURES] });

beforeAll(async () => {
  w = await world('cs');
  conf = await confDir('sb');
});

afterAll(async () => {
  await w.cleanup();
  await conf.remove();
});

const runDirEntries = async () => (await readdir(w.c.runDir)).sort();

describe('createSandbox with mode cni:<network>', () => {
  test('the sandbox gets the network from its plugins (ports as portMappings), and delete runs the DEL before the namespace goes', async () => {
    const net = uniq('sn');
    await conf.write(`${net}.conflist`, bridgeList(net, uniq('sb'), '10.128.0.0/24', '1.0.0', [{ type: 'portmap', capabilities: { portMappings: true } }]));
    const sb = await createSandbox(w.c, { name: uniq('s'), mode: `cni:${net}`, ports: ['18088:80/udp'], cni: cni() });
    const [rec] = JSON.parse((await sb.info()).labels['nsnet.cni']!);
    const [eth0] = await ipj<any[]>(sb.name, 'addr', 'show', 'eth0');
    expect(eth0.addr_info.map((a: any) => a.local)).toContain('10.128.0.2');
    const cached = JSON.parse((await readCacheFile(net, rec.containerId))!);
    // Podman's field order for a port mapping.
    expect(JSON.stringify(cached.capabilityArgs)).toBe('{"portMappings":[{"hostPort":18088,"containerPort":80,"protocol":"udp"}]}');
    expect(await iptablesNat(w.host.name!)).toContain(rec.containerId);
    await sb.delete();
    expect(await hostLocalLeases(net)).toEqual([]);
    expect(await readCacheFile(net, rec.containerId)).toBeNull();
    expect(await iptablesNat(w.host.name!)).not.toContain(rec.containerId);
    expect(await runDirEntries()).not.toContain(sb.name);
  });

  test('an unknown network, a port without a host port and a missing plugin are refused before anything is made', async () => {
    const before = await runDirEntries();
    const name = uniq('s');
    await expect(createSandbox(w.c, { name, mode: 'cni:no-such-net', cni: cni() })).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    const net = uniq('sn');
    await conf.write(`${net}.conflist`, bridgeList(net, uniq('sb'), '10.128.1.0/24', '1.0.0', [{ type: 'portmap', capabilities: { portMappings: true } }]));
    await expect(createSandbox(w.c, { name, mode: `cni:${net}`, ports: ['80'], cni: cni() })).rejects.toBeInstanceOf(ValidationError);
    const gone = uniq('sn');
    await conf.write(`${gone}.conflist`, { cniVersion: '1.0.0', name: gone, plugins: [{ type: 'bridge', bridge: uniq('sb') }, { type: 'not-installed' }] });
    await expect(createSandbox(w.c, { name, mode: `cni:${gone}`, cni: cni() })).rejects.toMatchObject({ cniCode: 50, plugin: 'not-installed' });
    await expect(createSandbox(w.c, { name, mode: 'none', cni: cni() })).rejects.toBeInstanceOf(ValidationError);
    expect(await w.c.sandboxes()).toEqual([]);
    expect(await runDirEntries()).toEqual(before);
  });

  test('a failed ADD deletes the sandbox again: the DEL runs, the namespace goes, the lease is back', async () => {
    const net = uniq('sn');
    await conf.write(`${net}.conflist`, bridgeList(net, uniq('sb'), '10.128.2.0/24', '1.0.0', [{ type: 'recorder', fail: { ADD: { code: 130, msg: 'no' } } }]));
    const before = await runDirEntries();
    const name = uniq('s');
    const e = await createSandbox(w.c, { name, mode: `cni:${net}`, cni: cni() }).catch((x) => x);
    expect([e.constructor, e.cniCode, e.plugin]).toEqual([CniError, 130, 'recorder']);
    expect(e.rollbackErrors).toBeUndefined();
    expect(await w.c.sandboxes()).toEqual([]);
    expect(await runDirEntries()).toEqual(before);
    expect(await hostLocalLeases(net)).toEqual([]);
  });
});
