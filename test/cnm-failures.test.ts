// All or nothing: a failure at any step of a create or a join (in the store,
// in the kernel part-way through a batch, in the files) leaves the kernel,
// the store and the files exactly as they were; bad input is refused with a
// typed error before anything changes.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { createSandbox, Batch, NsnetError, TeardownError } from '../src/index.js';
import { eventually, settled, snapshot, world, type World } from './cnm-helpers.js';
import { ipj, uniq } from './helpers.js';

let w: World;
let fault: ((step: string, batch?: unknown) => void) | null = null;
beforeEach(async () => {
  fault = null;
  w = await world('f', { faults: (step, batch) => fault?.(step, batch) });
});
afterEach(async () => {
  await w.cleanup();
});

/**
 * Puts a request the kernel will refuse (ENODEV) at position k of the
 * batch: into the rtnetlink group there, or, where k falls on a group of
 * sysctl writes or an nf_tables transaction, as a group of its own before it.
 */
function failAt(b: unknown, k: number): boolean {
  type G = { target: unknown; ops: unknown[]; nft?: true; sysctl?: true };
  const groups = (b as { groups: G[] }).groups;
  const fault = { op: { op: 'link.del', dev: 'nsfault0' }, request: 'RTM_DELLINK', object: "link 'nsfault0'" };
  let i = 0;
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    const special = g.nft || g.sysctl;
    if (special ? k < i + g.ops.length : k <= i + g.ops.length) {
      if (special) groups.splice(gi, 0, { target: g.target, ops: [fault] });
      else g.ops.splice(k - i, 0, fault);
      return true;
    }
    i += g.ops.length;
  }
  return false;
}

/** Makes the batch's nf_tables transaction one the kernel refuses: its first element added again with create (EEXIST). */
function refuseNft(b: unknown): void {
  const g = (b as { groups: { nft?: true; ops: { op: object }[] }[] }).groups.find((x) => x.nft)!;
  g.ops.push({ ...g.ops[0]!, op: { ...g.ops[0]!.op, verb: 'create' } });
}

const opCount = (b: unknown) => (b as { groups: { ops: unknown[] }[] }).groups.reduce((n, g) => n + g.ops.length, 0);

async function expectUnchanged(before: Awaited<ReturnType<typeof snapshot>>, prefix: string) {
  // Released namespaces take their veths with them in the kernel's own time.
  await eventually(async () => expect(await snapshot(w, prefix)).toEqual(before));
}

describe('failure injection', () => {
  test('sandbox create with a network and a published port: a failure at every step, kernel ones included, leaves kernel (firewall too), store and files as they were', async () => {
    const net = await w.c.createNetwork(uniq('fi'), { subnets: ['10.71.0.0/24', 'fd71::/64'] });
    await createSandbox(w.c, { name: uniq('fk'), mode: { network: net.name } }); // something to keep
    const prefix = `fx${process.pid % 1000}`;
    const steps = ['ipam.allocate', 'store.endpoint', 'store.sandbox', 'kernel.sandbox', 'firewall', 'files'];
    const ports = ['8300:80', '8301:81/udp'];
    let kernelOps = 0;
    fault = (step, b) => {
      if (step.startsWith('kernel.join:')) kernelOps = opCount(b);
    };
    const probe = await createSandbox(w.c, { name: `${prefix}probe`, mode: { network: net.name }, ports });
    await probe.delete();
    // veth, its address generation off, it up in hairpin mode, the peer taking no router advertisements (a sysctl),
    // peer up, two addresses, two default routes, a wait for the link and its IPv6 address to answer, one for the bridge port
    expect(kernelOps).toBe(11);
    const before = await settled(w, prefix);
    const firewall = w.c.ctx.firewall as unknown as { present: boolean };
    // Twice: with nsnet's table known to be there, the ports' elements ride in
    // the sandbox's kernel trip as its last nf_tables transaction ('nft' makes
    // the kernel refuse that transaction); with it unknown, they go beside
    // the trip and the table is checked first.
    for (const ready of [true, false]) {
      const plans: [string, number | null][] = [
        ...steps.map((s) => [s, null] as [string, null]),
        ...(ready ? [['kernel.firewall', null] as [string, null], ['nft', null] as [string, null]] : []),
        ...Array.from({ length: kernelOps + 1 }, (_, k) => ['kernel.batch', k] as [string, number]),
      ];
      for (const [step, k] of plans) {
        const what = `${ready ? 'folded' : 'beside'}: ${k === null ? step : `${step}@${k}`}`;
        firewall.present = ready;
        fault = (s, b) => {
          if (k === null && s === step) throw new Error(`injected at ${step}`);
          if (k !== null && s.startsWith('kernel.join:')) failAt(b, k);
          if (step === 'nft' && s === 'kernel.firewall') refuseNft(b);
        };
        const name = `${prefix}${ready ? 'r' : 'u'}${k ?? plans.findIndex(([p]) => p === step)}`;
        const err = await createSandbox(w.c, { name, mode: { network: net.name }, ports }).then(
          () => null,
          (e: NsnetError) => e,
        );
        fault = null;
        // Whatever failed, the caller gets an NsnetError naming the step.
        expect(err, what).toBeInstanceOf(NsnetError);
        expect(err!.step, what).toEqual(expect.any(String));
        if (k !== null) expect(err, what).toMatchObject({ code: 'ENODEV', op: 'RTM_DELLINK' });
        else if (step === 'nft') expect(err, what).toMatchObject({ code: 'EEXIST', op: 'NFT_MSG_NEWSETELEM' });
        else expect(err!.message, what).toContain(`injected at ${step}`);
        await expectUnchanged(before, prefix);
      }
    }
  }, 60_000);

  test('join into an existing sandbox: a failure at every step leaves the kernel (both sides), store and files as they were', async () => {
    const n1 = await w.c.createNetwork(uniq('fj'), { subnets: ['10.72.0.0/24'] });
    const n2 = await w.c.createNetwork(uniq('fj'), { subnets: ['10.73.0.0/24'] });
    const prefix = `fy${process.pid % 1000}`;
    const sb = await w.c.createSandbox(`${prefix}sb`, { networks: [n1.name] });
    const ep = await n2.createEndpoint(uniq('fe'));
    // IPv6 link-local state is the kernel's (DAD runs on its own clock), not nsnet's.
    const inside = async () => {
      const ns = await sb.netns();
      const addrs = (await ns.addresses.list()).filter((a) => a.scope !== 'link');
      const routes = (await ns.routes.list({ table: 'all' })).filter((r) => !r.dst.startsWith('fe80:'));
      return JSON.stringify({ links: (await ns.links.list()).map((l) => l.name), addrs, routes });
    };
    const before = await settled(w, prefix);
    const sbBefore = await inside();
    let kernelOps = 0;
    const plans: [string, number | null][] = [['store.join', null], ['kernel.open', null], ['kernel.join', null], ['files', null], ...Array.from({ length: 7 }, (_, k) => ['kernel.batch', k] as [string, number])];
    for (const [step, k] of plans) {
      fault = (s, b) => {
        if (s.startsWith('kernel.join:')) kernelOps = opCount(b);
        if (k === null && s === step) throw new Error(`injected at ${step}`);
        if (k !== null && s.startsWith('kernel.join:')) failAt(b, k);
      };
      await expect(ep.join(sb), `${step}@${k}`).rejects.toThrow();
      fault = null;
      await expectUnchanged(before, prefix);
      expect(await inside()).toBe(sbBefore);
    }
    // veth, its address generation off, it up, the peer's IPv6 off (a sysctl) and address generation off, peer up,
    // address (no default route: n1 gives it), a wait for the link to answer, one for the bridge port
    expect(kernelOps).toBe(9);
    // And after all that, the join works.
    await ep.join(sb);
    expect((await sb.info()).endpoints.map((e) => e.ifname)).toEqual(['eth0', 'eth1']);
  }, 60_000);
});

describe('failure injection, routed and macvlan', () => {
  // Every step of a create, and a refused request at every position of its
  // kernel trip (the host's sysctl write included), leaves nothing: the
  // host's routes, neighbours and veths, and a macvlan shim's routes too.
  const everyStep = async (network: string, opts: { ports?: string[] }, prefix: string, expectOps: number) => {
    let kernelOps = 0;
    fault = (step, b) => {
      if (step.startsWith('kernel.join:')) kernelOps = opCount(b);
    };
    await (await createSandbox(w.c, { name: `${prefix}probe`, mode: { network }, ...opts })).delete();
    expect(kernelOps).toBe(expectOps);
    const neighbours = async () => JSON.stringify(await ipj<any[]>(w.host.name, 'neigh', 'show', 'nud', 'permanent'));
    const before = await settled(w, prefix);
    const neighBefore = await neighbours();
    const plans: [string, number | null][] = [
      ...['store.sandbox', 'kernel.sandbox', 'files'].map((s) => [s, null] as [string, null]),
      ...Array.from({ length: kernelOps + 1 }, (_, k) => ['kernel.batch', k] as [string, number]),
    ];
    for (const [step, k] of plans) {
      fault = (s, b) => {
        if (k === null && s === step) throw new Error(`injected at ${step}`);
        if (k !== null && s.startsWith('kernel.join:')) failAt(b, k);
      };
      const err = await createSandbox(w.c, { name: `${prefix}${k ?? step.length}`, mode: { network }, ...opts }).then(() => null, (e: unknown) => e);
      fault = null;
      expect(err, `${step}@${k}`).toBeInstanceOf(NsnetError);
      await expectUnchanged(before, prefix);
      expect(await neighbours(), `${step}@${k}`).toBe(neighBefore);
    }
  };

  test('routed: a failure at every step of a create with a published port leaves kernel (firewall too), store and files as they were', async () => {
    const net = await w.c.createNetwork(uniq('fr'), { driver: 'routed', subnets: ['10.78.0.0/24'] });
    await createSandbox(w.c, { name: uniq('fk'), mode: { network: net.name } }); // something to keep
    // veth, IPv6 off on its host end (a sysctl), alias and route_localnet, up, host route, host neighbour;
    // inside: IPv6 off (a sysctl), address generation off, up, address, default route, gateway neighbour;
    // a wait for the link to answer, one for the host end
    await everyStep(net.name, { ports: ['8310:80'] }, `fr${process.pid % 1000}`, 14);
  }, 60_000);

  test('macvlan with a host shim: a failure at every step of a create leaves kernel (the shim\'s routes too), store and files as they were', async () => {
    await w.host.batch().addVeth({ name: 'lanf0', up: true, peer: { name: 'lanf1' } }).setUp('lanf1').commit();
    const net = await w.c.createNetwork(uniq('fm'), {
      driver: 'macvlan', subnets: [{ subnet: '192.168.79.0/24', ipRange: '192.168.79.128/25' }], options: { parent: 'lanf0', 'nsnet.host_shim': '192.168.79.250' },
    });
    await createSandbox(w.c, { name: uniq('fk'), mode: { network: net.name } }); // something to keep
    // macvlan; inside: IPv6 off (a sysctl), address generation off, up, address, default route, a wait for
    // the link to answer; the shim's route to it
    await everyStep(net.name, {}, `fm${process.pid % 1000}`, 8);
  }, 60_000);
});

describe('bad input: a typed error and nothing changed', () => {
  test('each bad request is refused before the kernel or the store change', async () => {
    const net = await w.c.createNetwork(uniq('bi'), { subnets: [{ subnet: '10.74.0.0/30', gateway: '10.74.0.1' }] });
    const a = await createSandbox(w.c, { name: uniq('ba'), mode: { network: net.name } }); // takes the /30's one free address
    const prefix = 'bx';
    const before = await settled(w, prefix);
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['duplicate network name', () => w.c.createNetwork(net.name, { subnets: ['10.75.0.0/24'] }), 'ERR_NSNET_EXISTS', /already exists/],
      ['overlapping subnet', () => w.c.createNetwork(uniq('bo'), { subnets: ['10.74.0.0/16'] }), 'ERR_NSNET_OVERLAP', /overlaps network/],
      ['gateway outside the subnet', () => w.c.createNetwork(uniq('bg'), { subnets: [{ subnet: '10.76.0.0/24', gateway: '10.77.0.1' }] }), 'ERR_NSNET_INVALID', /outside the subnet/],
      ['subnet with host bits', () => w.c.createNetwork(uniq('bh'), { subnets: ['10.76.0.5/24'] }), 'ERR_NSNET_INVALID', /host bits/],
      ['unknown driver', () => w.c.createNetwork(uniq('bd'), { driver: 'ipvlan9' }), 'ERR_NSNET_INVALID', /not a known driver/],
      ['unknown bridge option', () => w.c.createNetwork(uniq('bu'), { options: { 'no.such': '1' } }), 'ERR_NSNET_INVALID', /not a bridge option/],
      ['static IP outside the subnet', () => createSandbox(w.c, { name: `${prefix}1`, mode: { network: net.name }, ip: '10.99.0.2' }), 'ERR_NSNET_INVALID', /outside the subnet/],
      ['static IP taken', () => createSandbox(w.c, { name: `${prefix}2`, mode: { network: net.name }, ip: '10.74.0.2' }), 'ERR_NSNET_IN_USE', /in use/],
      ['exhausted pool', () => createSandbox(w.c, { name: `${prefix}3`, mode: { network: net.name } }), 'ERR_NSNET_EXHAUSTED', /no free address/],
      ['unknown container', () => createSandbox(w.c, { name: `${prefix}4`, mode: 'container:nosuch' }), 'ERR_NSNET_NOT_FOUND', /nosuch/],
      ['unknown network', () => createSandbox(w.c, { name: `${prefix}5`, mode: { network: 'nosuch' } }), 'ERR_NSNET_NOT_FOUND', /no network nosuch/],
      ['sandbox name too long', () => createSandbox(w.c, { name: 'x'.repeat(64), mode: 'none' }), 'ERR_NSNET_INVALID', /at most 63/],
      ["sandbox name with '/'", () => createSandbox(w.c, { name: 'a/b', mode: 'none' }), 'ERR_NSNET_INVALID', /no '\/'/],
      ['duplicate sandbox name', () => createSandbox(w.c, { name: a.name, mode: 'none' }), 'ERR_NSNET_EXISTS', /already exists/],
      ['bad dns server', () => createSandbox(w.c, { name: `${prefix}6`, dns: ['not-an-ip'] }), 'ERR_NSNET_INVALID', /not an IP/],
      ['bad hostname', () => createSandbox(w.c, { name: `${prefix}7`, hostname: '-bad-' }), 'ERR_NSNET_INVALID', /labels/],
      ['network with endpoints', () => net.delete(), 'ERR_NSNET_IN_USE', /has 1 endpoint/],
      ['predefined network', async () => (await w.c.network('host')).delete(), 'ERR_NSNET_IN_USE', /predefined/],
    ];
    for (const [what, fn, code, msg] of cases) {
      const err = (await fn().then(
        () => null,
        (e: unknown) => e,
      )) as NsnetError | null;
      expect(err, what).toBeInstanceOf(NsnetError);
      expect(err!.code, what).toBe(code);
      expect(err!.message, what).toMatch(msg);
      expect(await snapshot(w, prefix), what).toEqual(before);
    }
    // Forced, the network goes with its endpoints.
    await net.delete({ force: true });
    await expect(w.c.network(net.name)).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
  });

  test("an option named after an Object.prototype member ('toString', 'constructor') is no bridge option; as a label it is only a label", async () => {
    const prefix = 'bp';
    const before = await settled(w, prefix);
    for (const key of ['toString', 'constructor', 'hasOwnProperty']) {
      const err = (await w.c.createNetwork(uniq('bp'), { subnets: ['10.82.0.0/24'], options: { [key]: 'x' } }).catch((e: unknown) => e)) as NsnetError;
      expect(err, key).toBeInstanceOf(NsnetError);
      expect(err.code, key).toBe('ERR_NSNET_INVALID');
      expect(err.message, key).toMatch(/not a bridge option/);
      expect(await snapshot(w, prefix), key).toEqual(before);
    }
    const net = await w.c.createNetwork(uniq('bp'), { subnets: ['10.82.0.0/24'], labels: { toString: 'x' } });
    expect((await net.info()).labels).toEqual({ toString: 'x' });
    await net.delete();
  });

  test("a bridge's 1024th port fails with an error that names the kernel's port limit, and nothing is left behind", async () => {
    const net = await w.c.createNetwork(uniq('bf'), { subnets: ['10.80.0.0/16'] });
    const bridge = (await net.info()).bridge!;
    // BR_MAX_PORTS is 1024 and port number 0 is reserved: 1023 ports fit.
    for (let i = 0; i < 1023; i += 128) {
      const b = new Batch(w.host);
      for (let j = i; j < Math.min(i + 128, 1023); j++) b.addVeth({ name: `pf${j}`, master: bridge, peer: { name: `pg${j}` } });
      await b.commit();
    }
    const prefix = 'bz';
    const before = await settled(w, prefix);
    const err = (await createSandbox(w.c, { name: `${prefix}full`, mode: { network: net.name } }).catch((e) => e)) as NsnetError;
    expect(err.code).toBe('EXFULL');
    expect(err.message).toMatch(/at most 1023 ports/);
    await expectUnchanged(before, prefix);
  }, 60_000);

  test('teardown goes on past a failed step and reports it; a namespace that could not be released keeps its record for a retry', async () => {
    const net = await w.c.createNetwork(uniq('td'), { subnets: ['10.81.0.0/24'] });
    const prefix = 'tdz';
    const empty = await settled(w, prefix);
    const sb = await createSandbox(w.c, { name: uniq('tds'), mode: { network: net.name } });
    fault = (s) => {
      if (s === 'teardown:files') throw new Error('injected: files');
    };
    // A files failure: everything else still happens, and the error lists the step.
    const err = (await sb.delete().catch((e) => e)) as TeardownError;
    expect(err).toBeInstanceOf(TeardownError);
    expect(err.code).toBe('ERR_NSNET_TEARDOWN');
    expect(err.message).toMatch(/1 teardown step\(s\) failed: files: injected: files/);
    expect(err.errors.map((e) => e.message)).toEqual(['files: injected: files']);
    expect((await ipj<any[]>(null, 'netns', 'list')).map((n) => n.name)).not.toContain(sb.name);
    expect(await w.c.sandboxes()).toEqual([]);
    expect(await w.c.store.view((t) => t.allocations(`${net.id}/10.81.0.0/24`))).toEqual([]);
    // A namespace that cannot be released: the record stays, and a retry finishes.
    fault = null;
    const sb2 = await createSandbox(w.c, { name: uniq('tdt'), mode: { network: net.name } });
    fault = (s) => {
      if (s === 'teardown:kernel.netns') throw new Error('injected: release');
    };
    await expect(sb2.delete()).rejects.toMatchObject({ code: 'ERR_NSNET_TEARDOWN', message: expect.stringMatching(/kernel\.netns: injected: release/) });
    expect((await w.c.sandboxes()).map((s) => s.name)).toEqual([sb2.name]);
    expect((await ipj<any[]>(null, 'netns', 'list')).map((n) => n.name)).toContain(sb2.name);
    fault = null;
    await sb2.delete();
    expect(await w.c.sandboxes()).toEqual([]);
    // Only the first sandbox's files are left (that step failed); reconcile takes them.
    await eventually(async () => expect(await snapshot(w, prefix)).toEqual({ ...empty, files: expect.any(Array), store: expect.objectContaining({ sandboxes: [] }) }));
    expect((await w.c.reconcile()).filesRemoved).toBe(2); // its directory and its /etc/netns link
    // All as before, but for the pool's search position (it moved on, as it should).
    const noCursor = (x: typeof empty) => ({ ...x, store: { ...x.store, cursors: [] } });
    await eventually(async () => expect(noCursor(await snapshot(w, prefix))).toEqual(noCursor(empty)));
  });
});
