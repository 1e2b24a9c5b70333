// The `nsnet-ipam` plugin: addresses for other plugins (the reference
// bridge or macvlan plugin names it in its `ipam` section and execs it),
// kept in nsnet's store on a network of the ipam driver named after the
// configuration. Each attachment is an endpoint there whose name is made
// from (container id, interface), so DEL and GC find it again; a DEL that
// finds none succeeds, and GC frees every reservation the runtime's list
// does not name, which the reference host-local cannot.
import type { Controller } from '../../cnm/controller.js';
import type { Network } from '../../cnm/objects.js';
import { CniError, ERR } from '../errors.js';
import { convertResult, type CniIpConfig, type CniResult } from '../types.js';
import { attachmentName, findNetwork } from './attachments.js';
import { attachConf, ipamSection, subnetIdentity } from './config.js';
import { NSNET_ERR } from './errors.js';
import { reachable, removeAll, validAttachments } from './gc.js';
import { name, read, type CniRequest, type Handler } from './request.js';

/** The ipam section (the rest of stdin is the calling plugin's). */
function section(req: CniRequest) {
  const ipam = read.obj(req.conf, 'ipam');
  if (!ipam) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: the ipam section is missing');
  return { network: name(req.conf), ...ipamSection(ipam, true) };
}

async function ensureNetwork(c: Controller, network: string, subnets: ReturnType<typeof section>['subnets']): Promise<Network> {
  let net = await findNetwork(c, network);
  if (!net) {
    if (!subnets) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: ipam needs subnet or ranges');
    try {
      net = await c.createNetwork(network, { driver: 'ipam', subnets });
    } catch (e) {
      net = await findNetwork(c, network); // another ADD made it meanwhile
      if (!net) throw e;
    }
  }
  const info = await net.info();
  if (info.driver !== 'ipam')
    throw new CniError(ERR.INVALID_CONFIG, `network ${network} exists and is an nsnet ${info.driver} network, not nsnet-ipam's`, { details: 'give the configuration another name' });
  const have = subnetIdentity(info.subnets);
  if (subnets && subnetIdentity(subnets) !== have)
    throw new CniError(ERR.INVALID_CONFIG, `network ${network} exists with subnets ${have}; the configuration says ${subnetIdentity(subnets)}`);
  return net;
}

const reservation = async (net: Network, req: CniRequest) => {
  const n = attachmentName(req.containerId, req.ifname);
  return (await net.endpoints()).find((e) => e.name === n) ?? null;
};

const add: Handler = async (req, open) => {
  const s = section(req);
  const ac = attachConf(req);
  const c = await open();
  const net = await ensureNetwork(c, s.network, s.subnets);
  if (await reservation(net, req)) throw new CniError(NSNET_ERR.CONFLICT, `container ${req.containerId} has addresses on ${s.network} for ${req.ifname} already`);
  const ep = await net.createEndpoint(attachmentName(req.containerId, req.ifname), { ...(ac.ip ? { ip: ac.ip } : {}), ...(ac.ip6 ? { ip6: ac.ip6 } : {}) });
  const info = await ep.info();
  const { subnets } = await net.info();
  const ips: CniIpConfig[] = info.addresses.map((a) => {
    const gw = subnets.find((x) => x.gateway && x.gateway.includes(':') === a.includes(':'))?.gateway;
    return { address: a, ...(gw ? { gateway: gw } : {}) };
  });
  const r: CniResult = { cniVersion: '1.1.0', ips, ...(s.routes.length ? { routes: s.routes } : {}), dns: {} };
  return convertResult(r, req.version);
};

const del: Handler = async (req, open) => {
  const s = section(req);
  const c = await open();
  const net = await findNetwork(c, s.network);
  const ep = net && (await reservation(net, req));
  if (ep) await ep.delete();
};

const check: Handler = async (req, open) => {
  const s = section(req);
  const c = await open();
  const net = await findNetwork(c, s.network);
  if (!net || !(await reservation(net, req))) throw new CniError(ERR.UNKNOWN_CONTAINER, `container ${req.containerId} has no addresses on ${s.network} for ${req.ifname}`);
};

const gc: Handler = async (req, open) => {
  const s = section(req);
  const valid = new Set([...validAttachments(req)].map((k) => attachmentName(...(k.split('\0') as [string, string]))));
  const c = await open();
  const net = await findNetwork(c, s.network);
  if (net) await removeAll((await net.endpoints()).filter((e) => !valid.has(e.name)));
};

const status: Handler = async (req, open) => {
  section(req);
  await reachable(open);
};

export const ipamCommands: Record<'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC', Handler> = { ADD: add, DEL: del, CHECK: check, STATUS: status, GC: gc };
