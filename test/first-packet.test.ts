// A sandbox answers as soon as its create returns. The kernel takes a link's
// coming up and an IPv6 address's solicited-node group in work queues after
// the requests' answers; a create that returned before them left the host's
// first ARP request or neighbour solicitation unanswered about once in a
// hundred creates, and that connection waited a second for the next one
// (see Batch.settleAddress). The proof is what the host sent: one
// solicitation a connection, over hundreds of creates each followed at once
// by a connection; a lost solicitation is sent again.
import { afterEach, expect, test } from 'vitest';

import { createSandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { ipj, nsExec, uniq } from './helpers.js';

let w: World | undefined;
afterEach(async () => {
  await w?.cleanup();
  w = undefined;
});

/**
 * What the host has sent: over IPv4 every frame out of its one bridge (its
 * transmit count); over IPv6 its neighbour solicitations (a sandbox's own
 * multicast reports and DAD draw the odd other message from it).
 */
async function sent(ns: string, family: 4 | 6): Promise<number> {
  const [br] = await ipj<any[]>(ns, '-s', 'link', 'show', 'type', 'bridge');
  if (family === 6) return Number(/Icmp6OutNeighborSolicits\s+(\d+)/.exec((await nsExec(ns, 'cat', `/proc/net/dev_snmp6/${br.ifname}`)).stdout)![1]);
  return br.stats64.tx.packets;
}

/**
 * The count once the host has stopped sending on its own: a new bridge's
 * first multicast reports and its link-local address's DAD go out within
 * the first second or two after it comes up, which is when its first port
 * comes up.
 */
async function quietSent(ns: string, family: 4 | 6): Promise<number> {
  let last = await sent(ns, family);
  for (let still = 0; still < 6; ) {
    await new Promise((res) => setTimeout(res, 250));
    const now = await sent(ns, family);
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

test.each([
  ['IPv4, a fresh namespace each (its link comes up in the trip)', ['10.231.0.0/22'], false, 4],
  ['IPv6, a pooled namespace each (on an IPv6 network its link waits down, and comes up in the take)', ['10.232.0.0/22', 'fd32::/64'], true, 6],
  ['IPv6, a fresh namespace each', ['10.233.0.0/22', 'fd33::/64'], false, 6],
] as const)('%s: 250 creates, each followed at once by a TCP connection from the host, which solicited each sandbox once', async (_, subnets, pool, family) => {
  w = await world('fp', pool ? { pool: { size: 4, networks: ['*'] } } : {});
  const net = uniq('fpn');
  await w.c.createNetwork(net, { subnets: [...subnets] });
  if (pool) await w.c.pool!.warm();
  await (await createSandbox(w.c, { name: uniq('fpw'), mode: { network: net } })).delete(pool ? { recycle: true } : {});
  const before = await quietSent(w.host.name!, family);
  for (let i = 0; i < 250; i++) {
    const sb = await createSandbox(w.c, { name: uniq('fps'), mode: { network: net } });
    const address = (await sb.info()).endpoints[0]!.addresses.find((a) => a.includes(':') === (family === 6))!.split('/')[0]!;
    // Nothing listens: the answer is a reset, which is enough.
    const outcome = await w.host.connectTcp(9, address).then((s) => (s.destroy(), 'connected'), (e: NodeJS.ErrnoException) => e.code);
    expect(outcome).toBe('ECONNREFUSED');
    await sb.delete(pool ? { recycle: true } : {});
  }
  // One ARP request and one SYN each over IPv4; one solicitation each over IPv6.
  expect((await sent(w.host.name!, family)) - before).toBe(family === 4 ? 2 * 250 : 250);
}, 120_000);
