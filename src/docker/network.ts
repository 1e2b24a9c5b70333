// libnetwork's remote NetworkDriver, on nsnet's bridge driver. Each call
// becomes Controller calls (ids.ts says how Docker's ids map onto nsnet's
// objects): CreateNetwork makes a bridge network with the pools and
// gateways Docker's IPAM gave; CreateEndpoint an endpoint with the
// addresses Docker chose (and nsnet's MAC when Docker gave none, the one
// field answered back); Join a handoff sandbox for the container's
// namespace, whose interface nsnet makes in the host's namespace for
// Docker to move in, rename and address; ProgramExternalConnectivity
// publishes the container's ports, which Docker leaves to a remote driver.
import type { Controller } from '../cnm/controller.js';
import type { SubnetOptions } from '../cnm/networks.js';
import type { Network } from '../cnm/objects.js';
import type { NsnetError } from '../errors.js';
import { endpoint, endpointName, findNetwork, findSandbox, network, NETWORK_LABEL, networkName, POOL_LABEL, SANDBOX_LABEL, sandboxName } from './ids.js';
import { portBindings, portSpecs } from './portmap.js';
import { NSNET_SPACE } from './ipam.js';
import { badRequest, dockerId, read, type Body, type Method } from './protocol.js';

const GENERIC = 'com.docker.network.generic';
const IPV6 = 'com.docker.network.enable_ipv6';
const INTERNAL = 'com.docker.network.internal';

/** An address without its prefix length (Docker writes gateways and aux addresses as CIDR). */
const bare = (a: string) => a.split('/')[0]!;

/** One family's IPAM data as nsnet subnets: at most one (an endpoint has one address per subnet). */
function subnets(body: Body, key: 'IPv4Data' | 'IPv6Data'): { subnet: SubnetOptions; space: string }[] {
  const data = read.list(body, key);
  if (data.length > 1) throw badRequest(`${key}: nsnet's networks take one subnet of each family, not ${data.length}`);
  return data.map((d) => ({
    subnet: {
      subnet: read.str(d, 'Pool'),
      gateway: read.str(d, 'Gateway', false) ? bare(read.str(d, 'Gateway')) : null,
      excluded: Object.values(read.strings(d, 'AuxAddresses')).map(bare),
    },
    space: read.str(d, 'AddressSpace', false),
  }));
}

/** The pools of nsnet's IPAM driver that hold these subnets (by subnet: Docker does not pass the PoolIDs on). */
async function poolsOf(c: Controller, given: { subnet: SubnetOptions; space: string }[]): Promise<string[]> {
  const mine = given.filter((g) => g.space === NSNET_SPACE);
  if (!mine.length) return [];
  const pools = (await c.networks()).filter((n) => n.record.driver === 'ipam' && n.record.labels[POOL_LABEL] !== undefined);
  return mine.map((g) => {
    const p = pools.find((n) => n.record.subnets.some((s) => s.subnet === g.subnet.subnet));
    if (!p) throw badRequest(`nsnet's IPAM has no pool ${g.subnet.subnet}`);
    return p.id;
  });
}

const createNetwork: Method = async (c, body) => {
  const id = dockerId(body, 'NetworkID');
  const options = read.obj(body, 'Options');
  const generic = read.strings(options, GENERIC);
  const given = [...subnets(body, 'IPv4Data'), ...subnets(body, 'IPv6Data')];
  const internal = read.bool(options, INTERNAL);
  read.bool(options, IPV6); // the IPv6 pool Docker's IPAM gave says it
  if (await findNetwork(c, id)) return {}; // made by an earlier try of this call
  await c.createNetwork(networkName(id), {
    driver: 'bridge',
    subnets: given.map((g) => g.subnet),
    ipv6: given.some((g) => g.subnet.subnet.includes(':')),
    internal,
    options: generic,
    labels: { [NETWORK_LABEL]: id },
    pools: await poolsOf(c, given),
  });
  return {};
};

const deleteNetwork: Method = async (c, body) => {
  const net = await network(c, dockerId(body, 'NetworkID'));
  // Docker removes a network's endpoints first: any left are ones it no longer knows.
  await net.delete({ force: true });
  return {};
};

const createEndpoint: Method = async (c, body) => {
  const net = await network(c, dockerId(body, 'NetworkID'));
  const id = dockerId(body, 'EndpointID');
  const iface = read.obj(body, 'Interface');
  read.obj(body, 'Options');
  const [ip, ip6, mac] = [read.str(iface, 'Address', false), read.str(iface, 'AddressIPv6', false), read.str(iface, 'MacAddress', false)];
  const ep = await net.createEndpoint(endpointName(id), { ...(ip ? { ip: bare(ip) } : {}), ...(ip6 ? { ip6: bare(ip6) } : {}), ...(mac ? { mac } : {}) });
  // Only what Docker left empty is answered: libnetwork refuses a field it gave being changed.
  const info = await ep.info();
  const answer: Body = {};
  if (!mac && info.mac) answer.MacAddress = info.mac;
  if (!ip) {
    const a = info.addresses.find((x) => !x.includes(':'));
    if (a) answer.Address = a;
  }
  if (!ip6) {
    const a = info.addresses.find((x) => x.includes(':'));
    if (a) answer.AddressIPv6 = a;
  }
  return Object.keys(answer).length ? { Interface: answer } : {};
};

const deleteEndpoint: Method = async (c, body) => {
  const { ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  const sb = ep.record.sandboxId;
  await ep.delete();
  if (sb) await dropEmptySandbox(c, sb);
  return {};
};

const endpointOperInfo: Method = async (c, body) => {
  const { net, ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  const info = await ep.info();
  const bridge = (await net.info()).bridge;
  return {
    Value: {
      'com.docker.network.endpoint.macaddress': info.mac,
      'com.docker.network.portmap': portBindings(info.ports),
      'nsnet.endpoint': info.id,
      'nsnet.bridge': bridge,
      'nsnet.host_interface': info.hostIfname,
    },
  };
};

/** The handoff sandbox of a container's namespace, made (with ep joined) if it is not there yet. */
async function joinSandbox(c: Controller, key: string, ep: Awaited<ReturnType<typeof endpoint>>['ep']): Promise<void> {
  for (let tries = 0; ; tries++) {
    const sb = await findSandbox(c, key);
    if (sb) return ep.join(sb);
    try {
      await c.createSandbox(sandboxName(key), { netnsPath: key, handoff: true, labels: { [SANDBOX_LABEL]: key }, join: [ep] });
      return;
    } catch (e) {
      // Another endpoint of that container made it meanwhile: join theirs.
      if ((e as NsnetError).code !== 'ERR_NSNET_EXISTS' || tries > 0) throw e;
    }
  }
}

/** What a join answers: the interface Docker moves in, under the network's interface prefix, and the gateways. */
function joinAnswer(net: Network, ifname: string): Body {
  const rec = net.record;
  const gw = (v6: boolean) => (rec.internal ? undefined : rec.subnets.find((s) => s.subnet.includes(':') === v6)?.gateway ?? undefined);
  return {
    InterfaceName: { SrcName: ifname, DstPrefix: (rec.driverState.ifPrefix as string | undefined) ?? 'eth' },
    ...(gw(false) ? { Gateway: gw(false) } : {}),
    ...(gw(true) ? { GatewayIPv6: gw(true) } : {}),
    StaticRoutes: [],
  };
}

const join: Method = async (c, body) => {
  const { net, ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  const key = read.str(body, 'SandboxKey');
  if (!key.startsWith('/') || key.includes('\0')) throw badRequest(`SandboxKey ${JSON.stringify(key)} is not an absolute path`);
  read.obj(body, 'Options');
  await joinSandbox(c, key, ep);
  return joinAnswer(net, (await ep.info()).ifname!);
};

/** Removes a sandbox no endpoint is joined to any more: Docker's container left its last nsnet network. */
async function dropEmptySandbox(c: Controller, id: string): Promise<void> {
  const sb = await c.sandbox(id).catch(() => null);
  if (sb && sb.record.labels[SANDBOX_LABEL] !== undefined && (await sb.endpoints()).length === 0) await sb.delete();
}

const leave: Method = async (c, body) => {
  const { ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  const sb = ep.record.sandboxId;
  // Not joined (any more): what Docker asks for is so already.
  if (!sb) return {};
  await ep.leave();
  await dropEmptySandbox(c, sb);
  return {};
};

const programExternalConnectivity: Method = async (c, body) => {
  const { ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  const ports = portSpecs(read.obj(body, 'Options'));
  if (ports.length || ep.record.ports?.length) await ep.publish(ports);
  return {};
};

const revokeExternalConnectivity: Method = async (c, body) => {
  const { ep } = await endpoint(c, dockerId(body, 'NetworkID'), dockerId(body, 'EndpointID'));
  if (ep.record.ports?.length) await ep.publish([]);
  return {};
};

/** Node discovery is for global scope; a local driver has nothing to do. */
const discover: Method = async () => ({});

export const networkDriver: Record<string, Method> = {
  GetCapabilities: async () => ({ Scope: 'local', ConnectivityScope: 'local' }),
  CreateNetwork: createNetwork,
  DeleteNetwork: deleteNetwork,
  CreateEndpoint: createEndpoint,
  EndpointOperInfo: endpointOperInfo,
  DeleteEndpoint: deleteEndpoint,
  Join: join,
  Leave: leave,
  ProgramExternalConnectivity: programExternalConnectivity,
  RevokeExternalConnectivity: revokeExternalConnectivity,
  DiscoverNew: discover,
  DiscoverDelete: discover,
};
