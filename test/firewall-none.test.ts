// The 'none' firewall backend through the controller: nsnet leaves the
// host's nf_tables alone (nft -j is the oracle), bridge networks still
// carry traffic, and publishing a port is refused before anything changes.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Controller, createSandbox, NsnetError, ValidationError } from '../src/index.js';
import { settled, snapshot, world, type World } from './cnm-helpers.js';
import { uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

let w: World;
beforeEach(async () => {
  w = await world('fz', { firewall: 'none' });
});
afterEach(async () => {
  await w.cleanup();
});

describe("firewall 'none'", () => {
  test('a bridge network and its sandboxes work, and nsnet writes no nf_tables table: nft -j is as before, throughout', async () => {
    const empty = await nftj(w.host.name!);
    const net = await w.c.createNetwork(uniq('zn'), { subnets: ['10.161.0.0/24'] });
    const a = await createSandbox(w.c, { name: uniq('za'), mode: { network: net.name } });
    const b = await createSandbox(w.c, { name: uniq('zb'), mode: { network: net.name } });
    expect(await nftj(w.host.name!)).toEqual(empty);
    // Traffic between two sandboxes of the network: the bridge is the driver's, not the firewall's.
    const ip = (await b.info()).endpoints[0]!.addresses[0]!.split('/')[0]!;
    const srv = await (await b.netns()).listenTcp(7100, '0.0.0.0');
    const said = new Promise<string>((res) => srv.on('connection', (s) => s.once('data', (d: Buffer) => res(d.toString()))));
    const sock = await (await a.netns()).connectTcp(7100, ip);
    sock.end('over the bridge');
    expect(await said).toBe('over the bridge');
    srv.close();
    expect((await w.c.reconcile()).firewall).toEqual({ rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, foreignElements: 0, orphanElements: 0, orphansRemoved: 0, forwardDrops: [] });
    await a.delete();
    await b.delete();
    await net.delete();
    expect(await nftj(w.host.name!)).toEqual(empty);
  });

  test('publishing a port is refused with ERR_NSNET_UNSUPPORTED, on a sandbox or an endpoint, and nothing changes', async () => {
    const net = await w.c.createNetwork(uniq('zp'), { subnets: ['10.162.0.0/24'] });
    const prefix = 'zpx';
    const before = await settled(w, prefix);
    for (const attempt of [
      () => createSandbox(w.c, { name: `${prefix}1`, mode: { network: net.name }, ports: ['8400:80'] }),
      () => net.createEndpoint(uniq('ze'), { ports: ['8401:80/udp'] }),
    ]) {
      const err = (await attempt().then(() => null, (e: unknown) => e)) as NsnetError;
      expect(err).toBeInstanceOf(NsnetError);
      expect(err.code).toBe('ERR_NSNET_UNSUPPORTED');
      expect(err.message).toMatch(/none firewall publishes no ports/);
      expect(await snapshot(w, prefix)).toEqual(before);
    }
    await net.delete();
  });

  test('a firewall kind nsnet does not have is refused before anything is opened', async () => {
    await expect(Controller.open({ stateDir: w.stateDir, host: w.host, firewall: 'iptables' as 'none' })).rejects.toBeInstanceOf(ValidationError);
  });
});
