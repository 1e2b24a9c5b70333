// The nf_tables layer on the real kernel: what nsnet commits is what
// `nft -j list ruleset` (the independent oracle) reports; a transaction is
// all or nothing; a concurrent change is detected by generation. Each test
// runs in its own namespace, so their rulesets never meet.
import { afterEach, describe, expect, test } from 'vitest';

import { Batch, Netns, Nftables, NsnetError, REG, ValidationError, type NftOp, type SetSpec } from '../src/index.js';
import { native } from '../src/native.js';
import { eventually } from './cnm-helpers.js';
import { ipj, uniq } from './helpers.js';
import { chainText, nft, nftj, ofKind } from './nft-helpers.js';

const opened: Netns[] = [];
afterEach(async () => {
  for (const ns of opened.splice(0)) await ns.delete();
});

async function fresh(): Promise<{ ns: Netns; name: string; nft: Nftables }> {
  const ns = await Netns.create(uniq('nf'));
  opened.push(ns);
  return { ns, name: ns.name!, nft: new Nftables(ns) };
}

const T = { family: 'inet', table: 't' } as const;
const table: NftOp = { verb: 'add', table: { family: 'inet', name: 't' } };
const ifnames: SetSpec = { ...T, name: 'ifs', key: 'ifname' };
const ports: SetSpec = { ...T, name: 'ports', key: ['inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] };
const nets: SetSpec = { ...T, name: 'nets', key: 'ipv4_addr', interval: true };
const vmap: SetSpec = { ...T, name: 'vm', key: 'ifname', data: 'verdict' };

describe('nf_tables transactions, checked against nft -j', () => {
  test('an element added with a comment carries it, as nft shows it, in a plain set, a map and an interval set; elements() reads it back', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([
      table,
      { verb: 'add', set: ifnames },
      { verb: 'add', set: ports },
      { verb: 'add', set: nets },
      { verb: 'add', elements: { set: ifnames, elements: [{ key: 'br0', comment: 'nsnet 0123456789abcdef' }, { key: 'br1' }] } },
      { verb: 'add', elements: { set: ports, elements: [{ key: ['tcp', 80], data: ['10.0.0.2', 8080], comment: 'nsnet 0123456789abcdef' }] } },
      { verb: 'add', elements: { set: nets, elements: [{ key: '10.88.0.0/16', comment: 'nsnet 0123456789abcdef' }] } },
    ]);
    const sets = Object.fromEntries([...ofKind(await nftj(name), 'set'), ...ofKind(await nftj(name), 'map')].map((x) => [x.name, x.elem]));
    expect(sets.ifs).toEqual(expect.arrayContaining([{ elem: { val: 'br0', comment: 'nsnet 0123456789abcdef' } }, 'br1']));
    expect(JSON.stringify(sets.ports)).toContain('"comment":"nsnet 0123456789abcdef"');
    expect(JSON.stringify(sets.nets)).toContain('"comment":"nsnet 0123456789abcdef"');
    expect((await n.elements(ifnames)).map((e) => [e.key, e.comment ?? null]).sort()).toEqual([['br0', 'nsnet 0123456789abcdef'], ['br1', null]]);
    expect((await n.elements(ports))[0]!.comment).toBe('nsnet 0123456789abcdef');
  });

  test('one commit creates a table, a base chain with hook/priority/policy, a set, maps, elements and a rule, exactly as nft lists them', async () => {
    const { name, nft: n } = await fresh();
    const res = await n.commit([
      table,
      { verb: 'add', chain: { ...T, name: 'fw', hook: 'forward', type: 'filter', priority: 10, policy: 'drop' } },
      { verb: 'add', chain: { ...T, name: 'sub' } },
      { verb: 'add', set: ifnames },
      { verb: 'add', set: ports },
      { verb: 'add', set: nets },
      { verb: 'add', set: vmap },
      { verb: 'add', elements: { set: ifnames, elements: [{ key: 'br0' }, { key: 'br1' }] } },
      { verb: 'add', elements: { set: ports, elements: [{ key: ['tcp', 8080], data: ['10.0.0.2', 80] }] } },
      { verb: 'add', elements: { set: nets, elements: [{ key: '10.88.0.0/16' }, { key: '10.90.0.1', keyEnd: '10.90.0.9' }] } },
      { verb: 'add', elements: { set: vmap, elements: [{ key: 'br0', verdict: { jump: 'sub' } }, { key: 'br1', verdict: 'drop' }] } },
      {
        verb: 'add',
        rule: {
          ...T,
          chain: 'fw',
          comment: 'bridged',
          exprs: [{ expr: 'meta', key: 'iifname', dreg: REG.r1 }, { expr: 'lookup', set: 'ifs', sreg: REG.r1 }, { expr: 'counter' }, { expr: 'immediate', verdict: 'accept' }],
        },
      },
      { verb: 'add', rule: { ...T, chain: 'fw', exprs: [{ expr: 'meta', key: 'oifname', dreg: REG.r1 }, { expr: 'lookup', set: 'vm', sreg: REG.r1, dreg: REG.verdict }] } },
    ]);
    const objs = await nftj(name);
    expect(ofKind(objs, 'table')).toMatchObject([{ family: 'inet', name: 't' }]);
    const chains = ofKind(objs, 'chain');
    expect(chains.find((c) => c.name === 'fw')).toMatchObject({ type: 'filter', hook: 'forward', prio: 10, policy: 'drop' });
    expect(chains.find((c) => c.name === 'sub')).not.toHaveProperty('hook');
    const sets = [...ofKind(objs, 'set'), ...ofKind(objs, 'map')];
    expect(sets.find((s) => s.name === 'ifs')).toMatchObject({ type: 'ifname', elem: ['br0', 'br1'] });
    expect(sets.find((s) => s.name === 'ports')).toMatchObject({
      type: ['inet_proto', 'inet_service'],
      map: 'ipv4_addr . inet_service', // nft 1.0.6 prints a concatenated data type as one string
      elem: [[{ concat: ['tcp', 8080] }, { concat: ['10.0.0.2', 80] }]],
    });
    expect(sets.find((s) => s.name === 'nets')).toMatchObject({
      type: 'ipv4_addr',
      flags: ['interval'],
      elem: [{ prefix: { addr: '10.88.0.0', len: 16 } }, { range: ['10.90.0.1', '10.90.0.9'] }],
    });
    expect(sets.find((s) => s.name === 'vm')).toMatchObject({ map: 'verdict', elem: [['br0', { jump: { target: 'sub' } }], ['br1', { drop: null }]] });
    expect(await chainText(name, 'inet', 't', 'fw')).toEqual([
      'iifname @ifs counter packets 0 bytes 0 accept comment "bridged"',
      'oifname @vm',
    ]);
    // The kernel's answer carries the new generation and every created object's handle.
    expect(res.generation).toBe(await n.generation());
    const rules = ofKind(objs, 'rule');
    expect(res.handles.slice(-2)).toEqual(rules.map((r) => r.handle));
  });

  test("the codec's own dumps list the same tables, chains, sets, elements and rules as nft", async () => {
    const { name, nft: n } = await fresh();
    await n.commit([
      table,
      { verb: 'add', chain: { ...T, name: 'post', hook: 'postrouting', type: 'nat', priority: 100 } },
      { verb: 'add', set: ports },
      { verb: 'add', elements: { set: ports, elements: [{ key: ['udp', 53], data: ['10.0.0.3', 5353] }] } },
      { verb: 'add', rule: { ...T, chain: 'post', comment: 'm', exprs: [{ expr: 'masq' }] } },
    ]);
    const objs = await nftj(name);
    expect((await n.tables()).map((t) => `${t.family} ${t.name}`)).toEqual(ofKind(objs, 'table').map((t) => `${t.family} ${t.name}`));
    expect(await n.chains('inet', 't')).toMatchObject([{ name: 'post', hook: 'postrouting', type: 'nat', priority: 100, policy: 'accept' }]);
    expect((await n.sets('inet', 't')).map((s) => s.name)).toEqual(['ports']);
    expect(await n.elements(ports)).toEqual([{ key: ['udp', 53], data: ['10.0.0.3', 5353], intervalEnd: false }]);
    const rules = await n.rules('inet', 't');
    expect(rules).toMatchObject([{ chain: 'post', comment: 'm', exprs: ['masq'], handle: ofKind(objs, 'rule')[0].handle }]);
  });

  test('a transaction whose last message fails changes nothing, and the error carries errno and the extended ACK', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([table, { verb: 'add', set: ifnames }, { verb: 'add', elements: { set: ifnames, elements: [{ key: 'keep' }] } }]);
    const before = await nftj(name);
    const gen = await n.generation();
    const err = await n
      .commit([
        { verb: 'add', chain: { ...T, name: 'new', hook: 'input', priority: 0 } },
        { verb: 'add', elements: { set: ifnames, elements: [{ key: 'added' }] } },
        { verb: 'delete', elements: { set: ifnames, elements: [{ key: 'keep' }] } },
        { verb: 'delete', chain: { ...T, name: 'missing' } },
      ])
      .catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, op: 'NFT_MSG_DELCHAIN', object: 'chain inet t missing', index: 3 });
    // nf_tables points at the attribute (NLMSGERR_ATTR_OFFS); we name it.
    expect(err.extack).toBe('at NFTA_CHAIN_NAME');
    expect(await nftj(name)).toEqual(before);
    expect(await n.generation()).toBe(gen);
  });

  test('a transaction of 10,000 rules, more answers than the socket held, is applied and says so; one as big that fails at its end applies nothing and says why', async () => {
    const { name, nft: n } = await fresh();
    const rules = (chain: string): NftOp[] => Array.from({ length: 10000 }, (_, i) => ({ verb: 'add', rule: { ...T, chain, comment: `r${i}`, exprs: [{ expr: 'counter' }] } }));
    await n.commit([table, { verb: 'add', chain: { ...T, name: 'big' } }, ...rules('big')]);
    const lines = await chainText(name, 'inet', 't', 'big');
    expect(lines).toHaveLength(10000);
    expect(lines[9999]).toBe('counter packets 0 bytes 0 comment "r9999"');
    const gen = await n.generation();
    const err = await n.commit([{ verb: 'add', chain: { ...T, name: 'big2' } }, ...rules('big2'), { verb: 'delete', chain: { ...T, name: 'missing' } }]).catch((e) => e);
    expect(err).toMatchObject({ code: 'ENOENT', op: 'NFT_MSG_DELCHAIN', index: 10001 });
    expect(await n.generation()).toBe(gen);
    expect(await nft(name, 'list', 'chains')).not.toContain('big2');
  });

  test("the kernel's own extended-ACK text comes through, with the attribute it points at named", async () => {
    const { ns } = await fresh();
    // Past the validation in src/ on purpose: a table name longer than NFT_NAME_MAXLEN.
    const r = await native.nftTransact(ns.handle, [{ obj: 'table', verb: 'add', family: 1, table: 'x'.repeat(300) }], null);
    expect(r.replies[0]).toMatchObject({ errno: 34, message: 'Attribute failed policy validation (at NFTA_TABLE_NAME)', offset: 20 });
  });

  test('a change made by someone else between reading the generation and committing is detected (ERESTART) and nothing is applied', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([table, { verb: 'add', set: ifnames }]);
    const gen = await n.generation();
    await nft(name, 'add', 'table', 'ip', 'someone_else');
    const err = await n
      .commit([{ verb: 'add', elements: { set: ifnames, elements: [{ key: 'br0' }] } }], { generation: gen })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'ERESTART', errno: 85, op: 'NFNL_MSG_BATCH_BEGIN' });
    expect(err.message).toContain(`generation ${gen}`);
    expect(ofKind(await nftj(name), 'set')[0].elem).toBeUndefined();
    // Read again, commit again: now it goes through, and moves the generation by one.
    const now = await n.generation();
    expect(now).toBe(gen + 1);
    const res = await n.commit([{ verb: 'add', elements: { set: ifnames, elements: [{ key: 'br0' }] } }], { generation: now });
    expect(res.generation).toBe(now + 1);
    expect(ofKind(await nftj(name), 'set')[0].elem).toEqual(['br0']);
  });

  test('element changes leave chains and rules alone: every rule keeps its handle', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([
      table,
      { verb: 'add', chain: { ...T, name: 'c' } },
      { verb: 'add', set: nets },
      { verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'payload', base: 'network', offset: 12, len: 4, dreg: REG.r1 }, { expr: 'lookup', set: 'nets', sreg: REG.r1 }, { expr: 'immediate', verdict: 'accept' }] } },
    ]);
    const rulesBefore = ofKind(await nftj(name), 'rule');
    await n.commit([{ verb: 'add', elements: { set: nets, elements: [{ key: '10.1.0.0/24' }, { key: '10.2.0.0/24' }] } }]);
    await n.commit([{ verb: 'delete', elements: { set: nets, elements: [{ key: '10.1.0.0/24' }] } }]);
    const after = await nftj(name);
    expect(ofKind(after, 'rule')).toEqual(rulesBefore);
    expect(ofKind(after, 'set')[0].elem).toEqual([{ prefix: { addr: '10.2.0.0', len: 24 } }]);
  });

  test('a rule is found by its comment and deleted by its handle; the others stay', async () => {
    const { name, nft: n } = await fresh();
    const accept = { expr: 'immediate', verdict: 'accept' } as const;
    const res = await n.commit([
      table,
      { verb: 'add', chain: { ...T, name: 'c' } },
      { verb: 'add', rule: { ...T, chain: 'c', comment: 'one', exprs: [{ expr: 'counter' }, accept] } },
      { verb: 'add', rule: { ...T, chain: 'c', comment: 'two', exprs: [accept] } },
    ]);
    const two = (await n.rules('inet', 't')).find((r) => r.comment === 'two')!;
    expect(two.handle).toBe(res.handles[3]);
    await n.commit([{ verb: 'delete', rule: { ...T, chain: 'c', exprs: [], handle: two.handle } }]);
    expect(await chainText(name, 'inet', 't', 'c')).toEqual(['counter packets 0 bytes 0 accept comment "one"']);
  });

  test('destroy ignores what is missing where delete fails; create fails where add is idempotent', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([table, { verb: 'add', set: ifnames }]);
    await n.commit([{ verb: 'destroy', elements: { set: ifnames, elements: [{ key: 'none' }] } }, { verb: 'destroy', chain: { ...T, name: 'none' } }]);
    await expect(n.commit([{ verb: 'delete', elements: { set: ifnames, elements: [{ key: 'none' }] } }])).rejects.toMatchObject({ code: 'ENOENT' });
    await n.commit([table, { verb: 'add', set: ifnames }]);
    await expect(n.commit([{ verb: 'create', table: { family: 'inet', name: 't' } }])).rejects.toMatchObject({ code: 'EEXIST', op: 'NFT_MSG_NEWTABLE' });
    await n.commit([{ verb: 'destroy', table: { family: 'inet', name: 't' } }]);
    expect(await nftj(name)).toEqual([]);
  });

  test('a concatenated interval map matches ranges field by field, as nft lists them', async () => {
    const { name, nft: n } = await fresh();
    const m: SetSpec = { ...T, name: 'm', key: ['ipv4_addr', 'inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'], interval: true };
    await n.commit([
      table,
      { verb: 'add', set: m },
      { verb: 'add', elements: { set: m, elements: [{ key: ['0.0.0.0/0', 'tcp', 80], data: ['10.0.0.2', 8080] }, { key: ['192.0.2.1', 'udp', 53], data: ['10.0.0.3', 53] }] } },
    ]);
    const out = await nft(name, 'list', 'map', 'inet', 't', 'm');
    expect(out).toContain('flags interval');
    expect(out).toContain('0.0.0.0/0 . tcp . 80 : 10.0.0.2 . 8080');
    expect(out).toContain('192.0.2.1 . udp . 53 : 10.0.0.3 . 53');
    // The kernel's own view: key and inclusive key end per element.
    expect(await n.elements(m)).toContainEqual({ key: ['0.0.0.0', 'tcp', 80], keyEnd: ['255.255.255.255', 'tcp', 80], data: ['10.0.0.2', 8080], intervalEnd: false });
  });

  test('five thousand elements go in one transaction, and nft lists them all', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([table, { verb: 'add', set: ports }]);
    const elements = Array.from({ length: 5000 }, (_, i) => ({ key: ['tcp', 1000 + i], data: [`10.0.${i >> 8}.${i & 255}`, 80] }));
    const res = await n.commit([{ verb: 'add', elements: { set: ports, elements } }]);
    // A long element list opening a batch is not echoed back, so the generation is unknown here.
    expect(res.generation).toBeNull();
    const listed = [...ofKind(await nftj(name), 'map')][0].elem;
    expect(listed).toHaveLength(5000);
    expect(listed).toContainEqual([{ concat: ['tcp', 5999] }, { concat: ['10.0.19.135', 80] }]);
  });

  test('bad input is refused with ValidationError before the kernel is touched', async () => {
    const { name, nft: n } = await fresh();
    await n.commit([table, { verb: 'add', set: ports }]);
    const gen = await n.generation();
    const bad: [NftOp[], string][] = [
      [[{ verb: 'add', elements: { set: ports, elements: [{ key: ['tcp', 70000], data: ['10.0.0.2', 80] }] } }], 'ops[0].elements.elements[0].key[1]'],
      [[{ verb: 'add', elements: { set: ports, elements: [{ key: ['tcp', 80] }] } }], 'ops[0].elements.elements[0].data'],
      [[{ verb: 'add', elements: { set: ports, elements: [{ key: 'tcp', data: ['10.0.0.2', 80] }] } }], 'ops[0].elements.elements[0].key'],
      [[{ verb: 'add', chain: { ...T, name: 'c', hook: 'sideways' as never } }], 'ops[0].chain.hook'],
      [[{ verb: 'add', chain: { ...T, name: 'c', policy: 'drop' } }], 'ops[0].chain.hook'],
      [[{ verb: 'add', set: { ...T, name: 's', key: 'ipv5_addr' as never } }], 'ops[0].set.key'],
      [[{ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'meta', key: 'iifname', dreg: 7 }] } }], 'ops[0].rule.exprs[0].dreg'],
      [[{ verb: 'add', rule: { ...T, chain: 'c', exprs: [{ expr: 'immediate', verdict: { jump: '' } }] } }], 'ops[0].rule.exprs[0].verdict.jump'],
      [[{ verb: 'add', table: { family: 'inet6' as never, name: 'x' } }], 'ops[0].table.family'],
      [[{ verb: 'delete', rule: { ...T, chain: 'c', exprs: [] } }], 'ops[0].rule.handle'],
    ];
    for (const [ops, field] of bad) {
      const err = await n.commit(ops).catch((e) => e);
      expect(err, field).toBeInstanceOf(ValidationError);
      expect(err.field).toBe(field);
    }
    expect(await n.generation()).toBe(gen);
    expect(ofKind(await nftj(name), 'chain')).toEqual([]);
  });
});

describe('an nf_tables transaction inside a batch of rtnetlink requests (one trip to the addon)', () => {
  const element = (port: number): NftOp => ({ verb: 'add', elements: { set: ports, elements: [{ key: ['tcp', port], data: ['10.9.0.2', 80] }] } });
  const portsListed = async (name: string) => JSON.stringify(ofKind(await nftj(name), 'map').find((m) => m.name === 'ports')?.elem ?? []);

  async function host() {
    const h = await fresh();
    await h.nft.commit([table, { verb: 'add', set: ports }]);
    return h;
  }

  /** A namespace made with a veth from h into it, its address, then `last` added to the batch. */
  const create = (h: { ns: Netns }, last: (b: Batch) => Batch) => {
    const name = uniq('nfc');
    const made = Netns.create(name, {
      then: (inner) =>
        last(new Batch(h.ns).addVeth({ name: 'nfv0', up: true, peer: { name: 'eth0', netns: inner } }).in(inner).setUp('eth0').addAddress('eth0', '10.9.0.2/24').in(h.ns)),
    });
    return { name, made };
  };

  test('sent after the namespace, veth and address: the element is in the map and the veth exists', async () => {
    const h = await host();
    const { made } = create(h, (b) => b.nftables([element(8080)]));
    const inner = await made;
    opened.push(inner);
    expect(await portsListed(h.name)).toContain('8080');
    expect((await ipj(h.name, 'link', 'show', 'nfv0')).length).toBe(1);
  });

  test('a refused transaction undoes the whole create: the namespace is released (its veth goes with it) and the map is unchanged', async () => {
    const h = await host();
    const before = await nftj(h.name);
    const missing: SetSpec = { ...ports, name: 'nope' };
    const { name, made } = create(h, (b) => b.nftables([element(8081), { verb: 'add', elements: { set: missing, elements: [{ key: ['tcp', 1], data: ['10.9.0.2', 1] }] } }]));
    const err = await made.then(() => null, (e: NsnetError) => e);
    expect(err).toMatchObject({ code: 'ENOENT', op: 'NFT_MSG_NEWSETELEM' });
    expect(err!.message).toContain('nope');
    expect(await Netns.list()).not.toContain(name);
    expect(await nftj(h.name)).toEqual(before); // neither element: one transaction
    await eventually(async () => expect(await ipj(h.name, 'link')).not.toContainEqual(expect.objectContaining({ ifname: 'nfv0' })));
  });

  test('a failed rtnetlink request before it means the transaction is never sent', async () => {
    const h = await host();
    const before = await nftj(h.name);
    const { made } = create(h, (b) => b.setUp('no-such-dev').nftables([element(8082)]));
    expect(await made.then(() => null, (e: NsnetError) => e)).toMatchObject({ code: 'ENODEV', op: 'RTM_NEWLINK' });
    expect(await nftj(h.name)).toEqual(before);
  });

  test('inside a create it must come last: releasing the namespace could not undo it', async () => {
    const h = await host();
    const name = uniq('nfc');
    const made = Netns.create(name, { then: (inner) => new Batch(h.ns).nftables([element(8084)]).in(inner).setUp('lo') });
    await expect(made).rejects.toBeInstanceOf(ValidationError);
    expect(await Netns.list()).not.toContain(name);
    expect(await portsListed(h.name)).not.toContain('8084');
  });

  test('Batch.commit on existing namespaces carries it too, and what follows it goes in a group of its own', async () => {
    const h = await host();
    await h.ns.batch().setUp('lo').nftables([element(8083)]).addAddress('lo', '192.0.2.9/32').commit();
    expect(await portsListed(h.name)).toContain('8083');
    expect(JSON.stringify(await ipj(h.name, 'addr', 'show', 'lo'))).toContain('192.0.2.9');
  });
});
