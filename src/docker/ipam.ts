// libnetwork's remote IpamDriver, in nsnet's store. A pool is a network of
// nsnet's ipam driver (addresses only, no kernel objects), so nsnet's own
// networks and later pools keep clear of it, and an automatic one is
// picked as nsnet picks subnets: clear of every network of the store and
// of the host's routes, Docker's own networks' among them. Each address
// Docker asks for is an endpoint of the pool holding it: the gateway (the
// pool's own gateway when Docker names none), a given address (an aux
// address, `docker run --ip`), or the next free one.
import { randomBytes } from 'node:crypto';

import type { Controller } from '../cnm/controller.js';
import type { Network } from '../cnm/objects.js';
import { toBig } from '../ipaddr.js';
import { pool, POOL_LABEL } from './ids.js';
import { badRequest, PluginError, read, type Method } from './protocol.js';

/** nsnet's address space: local scope only (it keeps no pools that span hosts). */
export const NSNET_SPACE = 'nsnet';
const GLOBAL_SPACE = 'nsnet-global';
const TYPE = 'RequestAddressType';
const GATEWAY = 'com.docker.network.gateway';

/** Its one subnet (a pool is one RequestPool). */
const subnetOf = (p: Network) => p.record.subnets[0]!;
const prefixLen = (p: Network) => subnetOf(p).subnet.split('/')[1]!;
const same = (a: string, b: string) => toBig(a)?.n === toBig(b)?.n;

const requestPool: Method = async (c, body) => {
  const space = read.str(body, 'AddressSpace');
  if (space === GLOBAL_SPACE) throw new PluginError(500, "nsnet's IPAM keeps local pools only: global scope (swarm) needs a pool shared across hosts");
  if (space !== NSNET_SPACE) throw badRequest(`AddressSpace ${JSON.stringify(space)} is not nsnet's (${NSNET_SPACE})`);
  const subnet = read.str(body, 'Pool', false);
  const range = read.str(body, 'SubPool', false);
  const v6 = read.bool(body, 'V6');
  const opts = Object.keys(read.strings(body, 'Options'));
  if (opts.length) throw badRequest(`nsnet's IPAM takes no options (${opts.join(', ')})`);
  if (range && !subnet) throw badRequest('SubPool needs Pool');
  const name = `docker-pool-${randomBytes(6).toString('hex')}`;
  const labels = { [POOL_LABEL]: space };
  // A given pool has no gateway of its own: Docker asks for one (RequestAddress) next.
  const net = subnet
    ? await c.createNetwork(name, { driver: 'ipam', labels, subnets: [{ subnet, gateway: null, ...(range ? { ipRange: range } : {}) }], ...(subnet.includes(':') ? { ipv4: false } : {}) })
    : await c.createNetwork(name, { driver: 'ipam', labels, ...(v6 ? { ipv6: true, ipv4: false } : {}) });
  return { PoolID: net.id, Pool: subnetOf(net).subnet, Data: {} };
};

const releasePool: Method = async (c, body) => {
  const p = await pool(c, read.str(body, 'PoolID'));
  // Docker releases each address it asked for first; any left are ones it no longer knows.
  await p.delete({ force: true });
  return {};
};

const requestAddress: Method = async (c, body) => {
  const p = await pool(c, read.str(body, 'PoolID'));
  const want = read.str(body, 'Address', false);
  const opts = read.strings(body, 'Options');
  if (want && !toBig(want)) throw badRequest(`Address ${JSON.stringify(want)} is not an IP address`);
  const gw = subnetOf(p).gateway;
  // An automatic pool's gateway is its own (first) address, which nothing else is handed.
  if (opts[TYPE] === GATEWAY && gw && (!want || same(want, gw))) return { Address: `${gw}/${prefixLen(p)}`, Data: {} };
  const family = subnetOf(p).subnet.includes(':') ? 'ip6' : 'ip';
  const ep = await p.createEndpoint(`a-${randomBytes(6).toString('hex')}`, want ? { [family]: want } : {});
  return { Address: ep.record.addresses[0]!, Data: {} };
};

const releaseAddress: Method = async (c, body) => {
  const p = await pool(c, read.str(body, 'PoolID'));
  const addr = read.str(body, 'Address');
  if (!toBig(addr)) throw badRequest(`Address ${JSON.stringify(addr)} is not an IP address`);
  const gw = subnetOf(p).gateway;
  if (gw && same(addr, gw)) return {};
  const held = (await p.endpoints()).find((e) => e.record.addresses.some((a) => same(a.split('/')[0]!, addr)));
  if (!held) throw new PluginError(500, `address ${addr} is not allocated in pool ${p.id}`);
  await held.delete();
  return {};
};

export const ipamDriver: Record<string, Method> = {
  GetCapabilities: async () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
  GetDefaultAddressSpaces: async () => ({ LocalDefaultAddressSpace: NSNET_SPACE, GlobalDefaultAddressSpace: GLOBAL_SPACE }),
  RequestPool: requestPool,
  ReleasePool: releasePool,
  RequestAddress: requestAddress,
  ReleaseAddress: releaseAddress,
};
