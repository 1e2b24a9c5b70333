// The `nsnet` plugin's command table, shaped as the reference bridge
// plugin's: each command checks its input first, then acts through the
// Controller (never netlink), registering an undo after each step that
// allocates, and answers with the result in the configuration's version.
import type { Controller } from '../../cnm/controller.js';
import type { EndpointInfo, Network, NetworkInfo } from '../../cnm/objects.js';
import { Transaction } from '../../cnm/tx.js';
import type { NsnetError } from '../../errors.js';
import { CniError, ERR } from '../errors.js';
import { convertResult, decodeResult, type CniDns, type CniResult, type CniRoute } from '../types.js';
import { attachmentName, CONTAINER_LABEL, findEndpoint, findNetwork, findSandbox, sandboxName } from './attachments.js';
import { attachConf, networkConf, subnetIdentity, type NetworkConf } from './config.js';
import { NSNET_ERR } from './errors.js';
import { collect, status } from './gc.js';
import { name, read, type CniRequest, type Handler } from './request.js';

/**
 * The network the configuration names: made on first use (and removed
 * again if this ADD fails), else checked against what the configuration
 * gives.
 */
async function ensureNetwork(c: Controller, nc: NetworkConf, tx: Transaction): Promise<Network> {
  const have = await findNetwork(c, nc.name);
  if (have) return checkSame(have, nc);
  let made: Network;
  try {
    made = await c.createNetwork(nc.name, nc.options);
  } catch (e) {
    // Another ADD made it meanwhile: use theirs.
    const raced = await findNetwork(c, nc.name);
    if (raced) return checkSame(raced, nc);
    throw e;
  }
  // Another ADD may have joined it meanwhile: then it stays.
  tx.onUndo('network', () => made.delete().catch((e: NsnetError) => {
    if (e.code !== 'ERR_NSNET_IN_USE') throw e;
  }));
  return made;
}

/** A network that exists must be what the configuration says, where it says anything. */
async function checkSame(net: Network, nc: NetworkConf): Promise<Network> {
  const info = await net.info();
  const st = net.record.driverState as { bridge?: string; mtu?: number | null; masquerade?: boolean; hairpin?: boolean };
  const g = nc.given;
  const differ = (what: string, want: unknown, have: unknown) => {
    throw new CniError(ERR.INVALID_CONFIG, `network ${nc.name} exists with ${what} ${JSON.stringify(have)}; the configuration says ${JSON.stringify(want)}`, {
      details: 'change the configuration, or remove the network (nsnet network rm) to make it anew',
    });
  };
  if (info.driver !== g.driver) differ('driver', g.driver, info.driver);
  const subnets = subnetIdentity(info.subnets);
  if (g.subnets && subnetIdentity(g.subnets) !== subnets) differ('subnets', subnetIdentity(g.subnets), subnets);
  if (g.bridge !== undefined && g.bridge !== st.bridge) differ('bridge', g.bridge, st.bridge);
  if (g.mtu !== undefined && g.mtu !== st.mtu) differ('mtu', g.mtu, st.mtu);
  if (g.masquerade !== undefined && g.masquerade !== st.masquerade) differ('ipMasq', g.masquerade, st.masquerade);
  if (g.hairpin !== undefined && g.hairpin !== !!st.hairpin) differ('hairpinMode', g.hairpin, !!st.hairpin);
  if (g.internal !== undefined && g.internal !== info.internal) differ('isGateway', !g.internal, !info.internal);
  if (g.ipv6 !== undefined && g.ipv6 !== info.ipv6) differ('ipv6', g.ipv6, info.ipv6);
  return net;
}

/**
 * The attachment as a 1.1.0 result: the bridge, the host's end and the
 * sandbox's interface (as the reference bridge plugin lists them; a routed
 * network has no bridge, a macvlan one neither nor a host end), its
 * addresses with their gateways, the default routes it was given, dns.
 */
function result(ep: EndpointInfo, net: NetworkInfo, netns: string, dns: CniDns | undefined): CniResult {
  const interfaces = [
    ...(net.bridge ? [{ name: net.bridge }] : []),
    ...(ep.hostIfname ? [{ name: ep.hostIfname }] : []),
    { name: ep.ifname!, ...(ep.mac ? { mac: ep.mac } : {}), sandbox: netns },
  ];
  const mine = interfaces.length - 1;
  const gw = (addr: string) => ep.gateways.find((g) => g.includes(':') === addr.includes(':'));
  const ips = ep.addresses.map((a) => ({ interface: mine, address: a, ...(gw(a) ? { gateway: gw(a)! } : {}) }));
  const routes: CniRoute[] = ep.gatewayEndpoint ? ep.gateways.map((g) => ({ dst: g.includes(':') ? '::/0' : '0.0.0.0/0', gw: g })) : [];
  return { cniVersion: '1.1.0', interfaces, ips, ...(routes.length ? { routes } : {}), dns: dns ?? {} };
}

/** Ours after what came before us in the chain, its interface indexes moved along. */
function after(prev: CniResult | null, ours: CniResult): CniResult {
  if (!prev) return ours;
  const n = prev.interfaces?.length ?? 0;
  return {
    cniVersion: ours.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(ours.interfaces ?? [])],
    ips: [...(prev.ips ?? []), ...(ours.ips ?? []).map((ip) => ({ ...ip, ...(ip.interface !== undefined ? { interface: ip.interface + n } : {}) }))],
    routes: [...(prev.routes ?? []), ...(ours.routes ?? [])],
    dns: Object.keys(ours.dns).length ? ours.dns : prev.dns,
  };
}

/** prevResult in 1.1.0's shape, or null; one that does not decode is code 6. */
function prevResult(req: CniRequest): CniResult | null {
  const raw = read.obj(req.conf, 'prevResult');
  return raw ? (convertResult(decodeResult(raw, req.version), '1.1.0') as CniResult) : null;
}

const add: Handler = async (req, open) => {
  const nc = networkConf(req.conf, name(req.conf));
  const ac = attachConf(req);
  const prev = prevResult(req);
  const c = await open();
  // Host ports are the runtime's to reserve (Podman's conmon holds each one
  // open for the container's life), so a listener on one is no clash here,
  // as the reference portmap plugin takes it.
  const attach = {
    ifname: req.ifname, ...(ac.ip ? { ip: ac.ip } : {}), ...(ac.ip6 ? { ip6: ac.ip6 } : {}), ...(ac.mac ? { mac: ac.mac } : {}),
    ports: ac.ports, forcePublish: true,
  };
  const sbOptions = (network: string) => ({ netnsPath: req.netns, labels: { [CONTAINER_LABEL]: req.containerId }, networks: [{ network, ...attach }] });
  // Bad input the Controller can tell without the store is refused before the network is made.
  c.checkSandbox(sandboxName(req.containerId), sbOptions(nc.name));
  const tx = new Transaction(`CNI ADD ${req.containerId} ${req.ifname}`);
  return tx.run(async () => {
    const net = await ensureNetwork(c, nc, tx);
    let sb = await findSandbox(c, req.containerId);
    if (!sb) {
      const made = await c.createSandbox(sandboxName(req.containerId), sbOptions(net.id));
      tx.onUndo('sandbox', () => made.delete());
      sb = made;
    } else {
      // The container's second network, or a second interface on one: an
      // endpoint joined to its sandbox, named for (container, interface) as
      // the spec keys an attachment by (network, container, interface).
      if (sb.netnsPath !== req.netns)
        throw new CniError(NSNET_ERR.CONFLICT, `container ${req.containerId} is attached in ${sb.netnsPath}, not ${req.netns}`);
      if (await findEndpoint(sb, net, req.ifname))
        throw new CniError(NSNET_ERR.CONFLICT, `container ${req.containerId} is attached to network ${net.name} as ${req.ifname} already`);
      const { ports, forcePublish, ...iface } = attach;
      await net.checkPorts(ports);
      const ep = await net.createEndpoint(attachmentName(req.containerId, req.ifname), iface);
      tx.onUndo('endpoint', () => ep.delete());
      await ep.join(sb);
      // Published once joined: a runtime asks each network of a container
      // for its ports, and one another network of it publishes already is
      // stood by for (Endpoint.publish), not refused.
      if (ports.length) await ep.publish(ports, { forcePublish });
    }
    const ep = (await findEndpoint(sb, net, req.ifname))!;
    const ours = result(await ep.info(), await net.info(), req.netns, nc.dns);
    return convertResult(after(prev, ours), req.version);
  });
};

/** Idempotent: an unknown container, a network or namespace already gone, a second DEL: all succeed. */
const del: Handler = async (req, open) => {
  const nc = networkConf(req.conf, name(req.conf));
  attachConf(req);
  const c = await open();
  const sb = await findSandbox(c, req.containerId);
  if (!sb) return;
  const net = await findNetwork(c, nc.name);
  const ep = net && (await findEndpoint(sb, net, req.ifname));
  if (ep) await ep.delete();
  if ((await sb.endpoints()).length === 0) await sb.delete();
};

/** Compares the store and the kernel with prevResult, and lists every difference. */
const check: Handler = async (req, open) => {
  const nc = networkConf(req.conf, name(req.conf));
  const prev = prevResult(req);
  if (!prev) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: CHECK needs prevResult');
  const c = await open();
  const sb = await findSandbox(c, req.containerId);
  const net = await findNetwork(c, nc.name);
  const ep = sb && net ? await findEndpoint(sb, net, req.ifname) : null;
  if (!sb || !net || !ep) throw new CniError(ERR.UNKNOWN_CONTAINER, `container ${req.containerId} is not attached to network ${nc.name} as ${req.ifname}`);
  const info = await ep.info();
  const problems: string[] = [];
  const idx = (prev.interfaces ?? []).findIndex((i) => i.name === req.ifname && i.sandbox === req.netns);
  if (idx < 0) problems.push(`prevResult lists no interface ${req.ifname} in ${req.netns}`);
  else {
    const mac = prev.interfaces![idx]!.mac;
    if (mac && mac !== info.mac) problems.push(`prevResult's MAC ${mac} is not the endpoint's ${info.mac}`);
    const want = (prev.ips ?? []).filter((ip) => ip.interface === idx).map((ip) => ip.address);
    for (const a of want) if (!info.addresses.includes(a)) problems.push(`prevResult's address ${a} is not the endpoint's (${info.addresses.join(', ')})`);
  }
  // The port mappings the runtime asks for (runtimeConfig), each among the attachment's; whether the kernel publishes them, ep.check says.
  for (const p of attachConf(req).ports) {
    const proto = p.protocol ?? 'tcp';
    const held = info.ports.some((m) => m.protocol === proto && m.containerPort === p.containerPort
      && (p.hostPort === undefined || m.hostPort === p.hostPort) && (p.hostIp === undefined || m.hostIp === p.hostIp));
    if (!held) problems.push(`runtimeConfig's port mapping ${p.hostIp ?? ''}:${p.hostPort ?? ''}->${p.containerPort}/${proto} is not one of the attachment's`);
  }
  problems.push(...(await ep.check()));
  if (problems.length)
    throw new CniError(NSNET_ERR.CHECK_FAILED, `container ${req.containerId} on network ${nc.name} is not as ADD made it: ${problems.join('; ')}`, {
      details: problems.join('; '),
    });
};

export const nsnetCommands: Record<'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC', Handler> = {
  ADD: add,
  DEL: del,
  CHECK: check,
  STATUS: (req, open) => status(networkConf(req.conf, name(req.conf)).name, open),
  GC: (req, open) => collect(networkConf(req.conf, name(req.conf)).name, req, open),
};
