// The nsnet plugin's configuration: the fields of the reference bridge
// plugin that nsnet's bridge driver has (bridge, subnet, gateway, isGateway,
// ipMasq, mtu, hairpinMode), of the reference macvlan plugin (master, mode),
// nsnet's own (driver, subnets, ipv6, options), and what the runtime adds
// per call (runtimeConfig's portMappings, ips and mac, and CNI_ARGS' IP and
// MAC). The network's defaults are Docker's, as for any nsnet network: the
// bridge driver, the gateway on the bridge, a default route, masquerade.
import type { NetworkOptions, SubnetOptions } from '../../cnm/networks.js';
import type { PortOptions } from '../../ports.js';
import { CniError, ERR } from '../errors.js';
import { fromBig, ipFamily, toBig } from '../../ipaddr.js';
import { Prefix } from '../../ipam/prefix.js';
import type { CniDns, CniRoute } from '../types.js';
import { read, onlyKnown, wrongType, type Conf, type CniRequest } from './request.js';

/** Fields the spec defines for every plugin configuration. */
export const WELL_KNOWN = ['cniVersion', 'cniVersions', 'name', 'type', 'args', 'capabilities', 'runtimeConfig', 'prevResult', 'dns', 'ipam',
  'cni.dev/valid-attachments', 'cni.dev/attachments'] as const;
const OWN = ['driver', 'bridge', 'subnet', 'subnets', 'gateway', 'isGateway', 'ipMasq', 'mtu', 'hairpinMode', 'master', 'mode', 'ipv6', 'options'] as const;
/** The drivers a configuration may name, and the fields that are only some drivers'. */
const DRIVERS = ['bridge', 'routed', 'macvlan'] as const;
const ONLY: Record<string, readonly (typeof DRIVERS)[number][]> = {
  bridge: ['bridge'], hairpinMode: ['bridge'], ipMasq: ['bridge', 'routed'], master: ['macvlan'], mode: ['macvlan'],
};
/** The capabilities nsnet's plugin serves from runtimeConfig. */
const CAPABILITIES = ['portMappings', 'ips', 'mac'] as const;

/** What the configuration says about the network, as createNetwork takes it. */
export interface NetworkConf {
  name: string;
  options: NetworkOptions;
  /** Only what the configuration gave: compared with a network that exists already. */
  given: { driver: string; subnets?: SubnetOptions[]; bridge?: string; mtu?: number; masquerade?: boolean; internal?: boolean; ipv6?: boolean; hairpin?: boolean };
  dns: CniDns | undefined;
}

/** What the runtime asks of this one attachment. */
export interface AttachConf {
  ip?: string;
  ip6?: string;
  mac?: string;
  ports: PortOptions[];
}

const isPrefix = (s: string) => {
  const [a, len, more] = s.split('/');
  const fam = ipFamily(a ?? '');
  return more === undefined && fam !== 0 && /^\d{1,3}$/.test(len ?? '') && Number(len) <= (fam === 4 ? 32 : 128);
};

function dnsOf(conf: Conf): CniDns | undefined {
  const d = read.obj(conf, 'dns');
  if (!d) return undefined;
  onlyKnown(d, ['nameservers', 'domain', 'search', 'options'], 'dns.');
  const out: CniDns = {};
  const ns = read.strs(d, 'nameservers', 'dns.');
  const domain = read.str(d, 'domain', 'dns.');
  const search = read.strs(d, 'search', 'dns.');
  const options = read.strs(d, 'options', 'dns.');
  if (ns) out.nameservers = ns;
  if (domain) out.domain = domain;
  if (search) out.search = search;
  if (options) out.options = options;
  return out;
}

/** A subnet list from `subnet` + `gateway`, `subnets`, or an ipam section laid out as host-local's. */
function subnetsOf(conf: Conf): SubnetOptions[] | undefined {
  const subnet = read.str(conf, 'subnet');
  const gateway = read.str(conf, 'gateway');
  const list = read.list(conf, 'subnets');
  const ipam = read.obj(conf, 'ipam');
  const ways = [subnet !== undefined || gateway !== undefined, list !== undefined, ipam !== undefined].filter(Boolean).length;
  if (ways > 1) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: give subnet (with gateway), subnets, or an ipam section, not several');
  if (gateway !== undefined && subnet === undefined) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: gateway needs subnet');
  if (subnet !== undefined) return [{ subnet, ...(gateway ? { gateway } : {}) }];
  if (list) {
    return list.map((s, i) => {
      if (typeof s === 'string') return { subnet: s };
      if (!s || typeof s !== 'object' || Array.isArray(s)) throw wrongType(`subnets[${i}]`, s, 'a subnet or { subnet, gateway }');
      onlyKnown(s as Conf, ['subnet', 'gateway'], `subnets[${i}].`);
      const sub = read.str(s as Conf, 'subnet', `subnets[${i}].`);
      if (sub === undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: subnets[${i}].subnet is missing`);
      const gw = read.str(s as Conf, 'gateway', `subnets[${i}].`);
      return { subnet: sub, ...(gw ? { gateway: gw } : {}) };
    });
  }
  return ipam ? ipamSection(ipam, false).subnets : undefined;
}

/**
 * An ipam section laid out as host-local's (subnet and gateway, or ranges
 * of subnets, either optionally bounded by rangeStart and rangeEnd, and
 * routes), for nsnet-ipam and for nsnet's own plugin.
 * nsnet's plugin allocates addresses itself and routes a sandbox out
 * through the gateway, so there only its own type or host-local's and only
 * default routes are taken (anyRoutes false); nsnet-ipam hands its routes
 * to the plugin that called it, as host-local does.
 */
export function ipamSection(ipam: Conf, anyRoutes: boolean, where = 'ipam.'): { subnets?: SubnetOptions[]; routes: CniRoute[] } {
  const type = read.str(ipam, 'type', where);
  if (type !== 'nsnet-ipam' && (anyRoutes || type !== 'host-local'))
    throw new CniError(ERR.UNSUPPORTED_FIELD, `unsupported field ${where}type: ${JSON.stringify(ipam.type)}`, { details: 'nsnet allocates addresses itself: leave ipam out, or give type nsnet-ipam or host-local with subnets' });
  onlyKnown(ipam, ['type', 'subnet', 'gateway', 'rangeStart', 'rangeEnd', 'ranges', 'routes', ...(anyRoutes ? [] : ['dataDir'])], where);
  const routes = (read.list(ipam, 'routes', where) ?? []).map((r, i) => {
    const at = `${where}routes[${i}].`;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw wrongType(at.slice(0, -1), r, 'an object');
    onlyKnown(r as Conf, ['dst', 'gw'], at);
    const dst = read.str(r as Conf, 'dst', at);
    const gw = read.str(r as Conf, 'gw', at);
    if (!dst || !isPrefix(dst)) throw wrongType(`${at}dst`, dst, 'a prefix (CIDR)');
    if (gw !== undefined && !ipFamily(gw)) throw wrongType(`${at}gw`, gw, 'an IP address');
    if (!anyRoutes && dst !== '0.0.0.0/0' && dst !== '::/0')
      throw new CniError(ERR.UNSUPPORTED_FIELD, `unsupported field ${where}routes: ${JSON.stringify(r)}`, { details: "nsnet routes a sandbox out through its network's gateway; it adds no other routes" });
    return { dst, ...(gw ? { gw } : {}) };
  });
  const subnet = read.str(ipam, 'subnet', where);
  const gateway = read.str(ipam, 'gateway', where);
  const ranges = read.list(ipam, 'ranges', where);
  if (subnet !== undefined && ranges !== undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${where}subnet and ${where}ranges exclude each other`);
  if (gateway !== undefined && subnet === undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${where}gateway needs ${where}subnet`);
  const start = read.str(ipam, 'rangeStart', where);
  const end = read.str(ipam, 'rangeEnd', where);
  if ((start !== undefined || end !== undefined) && subnet === undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${where}rangeStart and rangeEnd need ${where}subnet`);
  if (subnet !== undefined) {
    const bounds = start !== undefined || end !== undefined ? hostRange(subnet, start, end, where) : {};
    return { subnets: [{ subnet, ...(gateway ? { gateway } : {}), ...bounds }], routes };
  }
  if (!ranges) return { routes };
  const subnets = ranges.flatMap((set, i) => {
    if (!Array.isArray(set)) throw wrongType(`${where}ranges[${i}]`, set, 'a list of ranges');
    return set.map((r: unknown, j) => {
      const at = `${where}ranges[${i}][${j}].`;
      if (!r || typeof r !== 'object' || Array.isArray(r)) throw wrongType(at.slice(0, -1), r, 'an object');
      onlyKnown(r as Conf, ['subnet', 'gateway', 'rangeStart', 'rangeEnd'], at);
      const sub = read.str(r as Conf, 'subnet', at);
      if (sub === undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${at}subnet is missing`);
      const gw = read.str(r as Conf, 'gateway', at);
      const [from, to] = [read.str(r as Conf, 'rangeStart', at), read.str(r as Conf, 'rangeEnd', at)];
      return { subnet: sub, ...(gw ? { gateway: gw } : {}), ...(from !== undefined || to !== undefined ? hostRange(sub, from, to, at) : {}) };
    });
  });
  return { subnets, routes };
}

/**
 * rangeStart and rangeEnd as nsnet keeps them: both given (the one left out
 * is host-local's default, the subnet's first or last host), canonical.
 * Whether they lie in the subnet and in order, the network's checks say.
 */
function hostRange(subnet: string, start: string | undefined, end: string | undefined, at: string): { rangeStart: string; rangeEnd: string } {
  const p = subnetPrefix(subnet, `${at}subnet`);
  const addr = (v: string | undefined, k: string, dflt: bigint) => {
    if (v === undefined) return fromBig(p.family, dflt);
    const a = toBig(v);
    if (!a) throw wrongType(`${at}${k}`, v, 'an IP address');
    return fromBig(a.family, a.n);
  };
  const v4 = p.family === 4 && p.len <= 30;
  return { rangeStart: addr(start, 'rangeStart', p.base + 1n), rangeEnd: addr(end, 'rangeEnd', v4 ? p.last - 1n : p.last) };
}

/** A subnet's prefix; one that is not one is code 7. */
function subnetPrefix(subnet: string, field: string): Prefix {
  try {
    return Prefix.parse(subnet, field);
  } catch (e) {
    throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${(e as Error).message}`, { cause: e });
  }
}

/** A network's subnets with their ranges, as one comparable description: a network's identity. */
export function subnetIdentity(subnets: Pick<SubnetOptions, 'subnet' | 'rangeStart' | 'rangeEnd'>[]): string {
  return subnets.map((s) => (s.rangeStart ? `${s.subnet} ${s.rangeStart}-${s.rangeEnd}` : s.subnet)).sort().join(', ');
}

/** The nsnet plugin's configuration, checked: nothing has changed yet. */
export function networkConf(conf: Conf, name: string): NetworkConf {
  onlyKnown(conf, [...WELL_KNOWN, ...OWN]);
  const type = read.str(conf, 'type');
  if (type !== undefined && type !== 'nsnet') throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: type ${JSON.stringify(type)} is not nsnet`);
  const caps = read.obj(conf, 'capabilities');
  if (caps) {
    onlyKnown(caps, CAPABILITIES, 'capabilities.');
    for (const k of Object.keys(caps)) read.bool(caps, k, 'capabilities.');
  }
  read.obj(conf, 'args');
  const driver = read.str(conf, 'driver') ?? 'bridge';
  if (!(DRIVERS as readonly string[]).includes(driver)) throw wrongType('driver', driver, DRIVERS.join(', '));
  for (const [field, drivers] of Object.entries(ONLY))
    if (conf[field] !== undefined && !(drivers as readonly string[]).includes(driver))
      throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${field} applies to driver ${drivers.join(' or ')}, not ${driver}`);
  const subnets = subnetsOf(conf);
  const bridge = read.str(conf, 'bridge');
  const mtu = read.int(conf, 'mtu');
  const masquerade = read.bool(conf, 'ipMasq');
  const isGateway = read.bool(conf, 'isGateway');
  const hairpin = read.bool(conf, 'hairpinMode');
  const ipv6 = read.bool(conf, 'ipv6');
  const extra = read.obj(conf, 'options') ?? {};
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra)) {
    if (typeof v !== 'string') throw wrongType(`options.${k}`, v, 'a string');
    options[k] = v;
  }
  const set = (k: string, v: string | number | boolean | undefined) => {
    if (v === undefined) return;
    if (options[k] !== undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: options.${k} repeats a field given above`);
    options[k] = String(v);
  };
  set('bridge', bridge);
  set('mtu', mtu);
  set('masquerade', masquerade);
  set('hairpin', hairpin);
  set('parent', read.str(conf, 'master'));
  set('macvlan_mode', read.str(conf, 'mode'));
  const internal = isGateway === undefined ? undefined : !isGateway;
  const given: NetworkConf['given'] = { driver };
  if (subnets) given.subnets = subnets;
  if (bridge !== undefined) given.bridge = bridge;
  if (mtu !== undefined) given.mtu = mtu;
  if (masquerade !== undefined) given.masquerade = masquerade;
  if (internal !== undefined) given.internal = internal;
  if (ipv6 !== undefined) given.ipv6 = ipv6;
  if (hairpin !== undefined) given.hairpin = hairpin;
  return {
    name,
    options: { driver, ...(subnets ? { subnets } : {}), ...(ipv6 ? { ipv6 } : {}), ...(internal ? { internal } : {}), options },
    given,
    dns: dnsOf(conf),
  };
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

function portsOf(rc: Conf): PortOptions[] {
  return (read.list(rc, 'portMappings', 'runtimeConfig.') ?? []).map((p, i) => {
    const at = `runtimeConfig.portMappings[${i}].`;
    if (!p || typeof p !== 'object' || Array.isArray(p)) throw wrongType(at.slice(0, -1), p, 'an object');
    const o = p as Conf;
    onlyKnown(o, ['hostPort', 'containerPort', 'protocol', 'hostIP'], at);
    const containerPort = read.int(o, 'containerPort', at);
    if (containerPort === undefined) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: ${at}containerPort is missing`);
    const hostPort = read.int(o, 'hostPort', at);
    const protocol = (read.str(o, 'protocol', at) ?? 'tcp').toLowerCase();
    if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw wrongType(`${at}protocol`, o.protocol, 'tcp, udp or sctp');
    const hostIp = read.str(o, 'hostIP', at);
    return {
      containerPort, ...(hostPort ? { hostPort } : {}), protocol: protocol as PortOptions['protocol'], ...(hostIp ? { hostIp } : {}),
    };
  });
}

/**
 * What the runtime asks for this attachment: runtimeConfig (the capabilities
 * portMappings, ips, mac) and CNI_ARGS (IP, MAC; other keys only with
 * IgnoreUnknown, as the reference plugins take them).
 */
export function attachConf(req: CniRequest): AttachConf {
  const rc = read.obj(req.conf, 'runtimeConfig') ?? {};
  const ips = [...(read.strs(rc, 'ips', 'runtimeConfig.') ?? [])];
  let mac = read.str(rc, 'mac', 'runtimeConfig.');
  const ignore = /^(1|true)$/i.test(req.args.get('IgnoreUnknown') ?? '');
  for (const [k, val] of req.args) {
    if (k === 'IP') ips.push(...val.split(',').filter(Boolean));
    else if (k === 'MAC') mac = val;
    else if (k !== 'IgnoreUnknown' && !ignore)
      throw new CniError(ERR.INVALID_ENVIRONMENT, `CNI_ARGS has ${k}, which nsnet does not take`, { details: 'known: IP, MAC, IgnoreUnknown (IgnoreUnknown=1 lets others through)' });
  }
  const out: AttachConf = { ports: portsOf(rc) };
  for (const a of ips) {
    const addr = a.split('/')[0]!;
    const key = addr.includes(':') ? 'ip6' : 'ip';
    // The same address twice is one (podman network reload passes a static one in both ways).
    const [had, now] = [out[key] === undefined ? null : toBig(out[key]!), toBig(addr)];
    if (had && now && had.n === now.n) continue;
    if (out[key]) throw new CniError(ERR.INVALID_CONFIG, `invalid network configuration: more than one IPv${key === 'ip' ? 4 : 6} address asked for (${out[key]}, ${addr})`, { details: 'an nsnet endpoint has one address per family' });
    out[key] = addr;
  }
  if (mac !== undefined) out.mac = mac;
  return out;
}
