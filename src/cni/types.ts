// What the CNI spec defines for both sides of the exec boundary: its
// versions, the result as each version shapes it, and the well-known error
// codes. A result is read the way libcni reads it (each version's fields,
// addresses in Go's canonical form, fields it does not know dropped), so a
// result nsnet passes on or caches is the one libcni would.
import { fromBig, toBig } from '../ipaddr.js';
import { CniError, ERR } from './errors.js';

/** Every spec version, oldest first. */
export const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];
/** The newest version nsnet implements, as runtime and as plugin. */
export const CNI_CURRENT: CniVersion = '1.1.0';

/** Orders `x.y.z` versions; throws on anything else. */
export function compareVersions(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

function versionParts(v: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new CniError(ERR.INVALID_CONFIG, `invalid version "${v}": must be major.minor.patch`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** v >= min, with libcni's reading of an empty version as 0.1.0. */
export function atLeast(v: string, min: string): boolean {
  return compareVersions(v || '0.1.0', min) >= 0;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  /** 1.1.0 */
  mtu?: number;
  /** 1.1.0 */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  /** 1.1.0 */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** An address of a 0.3.0 to 1.1.0 result; 0.3.x and 0.4.0 carry `version` ('4' | '6'), 1.x does not. */
export interface CniIpConfig {
  version?: '4' | '6';
  /** Index into `interfaces`. */
  interface?: number;
  /** address/prefix */
  address: string;
  gateway?: string;
}

/** The result of 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns: CniDns;
}

/** The result of 0.1.0 and 0.2.0: one address per family. */
export interface CniLegacyIp {
  ip: string;
  gateway?: string;
  routes?: CniRoute[];
}
export interface CniLegacyResult {
  cniVersion: string;
  ip4?: CniLegacyIp;
  ip6?: CniLegacyIp;
  dns: CniDns;
}

export type AnyCniResult = CniResult | CniLegacyResult;

/** The JSON a plugin prints with a non-zero exit. */
export interface CniErrorJson {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

const is = (v: unknown, t: 'string' | 'object' | 'number') => (t === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === t);

function bad(what: string, v: unknown): never {
  throw new CniError(ERR.DECODE, `failed to decode result: ${what} ${JSON.stringify(v)}`);
}

/** An address as Go's net.IP prints it: IPv4 dotted (IPv4-mapped too), IPv6 per RFC 5952. */
function goIp(s: unknown, what: string): string {
  if (typeof s !== 'string') bad(what, s);
  const b = toBig(s);
  if (!b) bad(what, s);
  if (b.family === 6 && b.n >> 32n === 0xffffn) return fromBig(4, b.n & 0xffffffffn);
  return fromBig(b.family, b.n);
}

/** address/prefix as libcni's IPNet keeps it: the address itself, not the network. */
function goCidr(s: unknown, what: string): string {
  if (typeof s !== 'string' || !s.includes('/')) bad(what, s);
  const i = s.lastIndexOf('/');
  const ip = goIp(s.slice(0, i), what);
  const len = s.slice(i + 1);
  const max = s.slice(0, i).includes(':') ? 128 : 32;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) bad(what, s);
  // An IPv4-mapped address keeps its IPv6 mask, as Go prints it.
  return `${ip}/${Number(len)}`;
}

function optInt(o: Record<string, unknown>, k: string, out: Record<string, unknown>, keepZero: boolean): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  if (!Number.isInteger(v)) bad(k, v);
  if (v !== 0 || keepZero) out[k] = v;
}

function optStr(o: Record<string, unknown>, k: string, out: Record<string, unknown>): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string') bad(k, v);
  if (v) out[k] = v;
}

function list<T>(v: unknown, what: string, each: (x: Record<string, unknown>) => T): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) bad(what, v);
  const out = v.map((x) => (is(x, 'object') ? each(x as Record<string, unknown>) : bad(what, x)));
  return out.length ? out : undefined;
}

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) bad(what, v);
  return v.length ? (v as string[]) : undefined;
}

function dns(v: unknown): CniDns {
  if (v === undefined || v === null) return {};
  if (!is(v, 'object')) bad('dns', v);
  const o = v as Record<string, unknown>;
  const out: CniDns = {};
  const ns = strings(o.nameservers, 'dns.nameservers');
  if (ns) out.nameservers = ns;
  optStr(o, 'domain', out as Record<string, unknown>);
  const search = strings(o.search, 'dns.search');
  if (search) out.search = search;
  const options = strings(o.options, 'dns.options');
  if (options) out.options = options;
  return out;
}

function route(o: Record<string, unknown>, v11: boolean): CniRoute {
  const r: CniRoute = { dst: goCidr(o.dst, 'routes[].dst') };
  if (o.gw !== undefined && o.gw !== null && o.gw !== '') r.gw = goIp(o.gw, 'routes[].gw');
  if (v11) {
    const out = r as unknown as Record<string, unknown>;
    for (const k of ['mtu', 'advmss', 'priority']) optInt(o, k, out, false);
    for (const k of ['table', 'scope']) optInt(o, k, out, true);
  }
  return r;
}

function iface(o: Record<string, unknown>, v11: boolean): CniInterface {
  if (o.name !== undefined && typeof o.name !== 'string') bad('interfaces[].name', o.name);
  const i: CniInterface = { name: (o.name as string | undefined) ?? '' };
  const out = i as unknown as Record<string, unknown>;
  optStr(o, 'mac', out);
  optStr(o, 'sandbox', out);
  if (v11) {
    optInt(o, 'mtu', out, false);
    optStr(o, 'socketPath', out);
    optStr(o, 'pciID', out);
  }
  return i;
}

function ipConfig(o: Record<string, unknown>, withVersion: boolean): CniIpConfig {
  const c: CniIpConfig = { address: goCidr(o.address, 'ips[].address') };
  if (withVersion) {
    if (o.version !== undefined && typeof o.version !== 'string') bad('ips[].version', o.version);
    c.version = o.version as '4' | '6';
  }
  optInt(o, 'interface', c as unknown as Record<string, unknown>, true);
  if (o.gateway !== undefined && o.gateway !== null && o.gateway !== '') c.gateway = goIp(o.gateway, 'ips[].gateway');
  // Go's field order: version, interface, address, gateway.
  return withVersion ? { version: c.version!, ...(c.interface !== undefined ? { interface: c.interface } : {}), address: c.address, ...(c.gateway ? { gateway: c.gateway } : {}) } : c;
}

function legacyIp(v: unknown, what: string): CniLegacyIp | undefined {
  if (v === undefined || v === null) return undefined;
  if (!is(v, 'object')) bad(what, v);
  const o = v as Record<string, unknown>;
  const ip: CniLegacyIp = { ip: goCidr(o.ip, `${what}.ip`) };
  if (o.gateway !== undefined && o.gateway !== null && o.gateway !== '') ip.gateway = goIp(o.gateway, `${what}.gateway`);
  const routes = list(o.routes, `${what}.routes`, (r) => route(r, false));
  if (routes) ip.routes = routes;
  return ip;
}

/**
 * Reads a result as libcni does: in its own `cniVersion` (or `fallback`, the
 * configuration's, when the plugin left it out), keeping that version's
 * fields only. Throws a CniError (code 6) on anything libcni would not decode,
 * and code 1 for a version it does not know.
 */
export function decodeResult(raw: unknown, fallback = ''): AnyCniResult {
  if (!is(raw, 'object')) bad('result', raw);
  const o = raw as Record<string, unknown>;
  if (o.cniVersion !== undefined && typeof o.cniVersion !== 'string') bad('cniVersion', o.cniVersion);
  const version = (o.cniVersion as string | undefined) || fallback;
  if (!(CNI_VERSIONS as readonly string[]).includes(version)) throw new CniError(ERR.INCOMPATIBLE_VERSION, `unsupported CNI result version "${version}"`);
  if (compareVersions(version, '0.3.0') < 0) {
    const r: CniLegacyResult = { cniVersion: version, dns: {} };
    const ip4 = legacyIp(o.ip4, 'ip4');
    const ip6 = legacyIp(o.ip6, 'ip6');
    if (ip4) r.ip4 = ip4;
    if (ip6) r.ip6 = ip6;
    r.dns = dns(o.dns);
    return r;
  }
  const v1 = compareVersions(version, '1.0.0') >= 0;
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const r: CniResult = { cniVersion: version, dns: {} };
  const interfaces = list(o.interfaces, 'interfaces', (x) => iface(x, v11));
  const ips = list(o.ips, 'ips', (x) => ipConfig(x, !v1));
  const routes = list(o.routes, 'routes', (x) => route(x, v11));
  if (interfaces) r.interfaces = interfaces;
  if (ips) r.ips = ips;
  if (routes) r.routes = routes;
  r.dns = dns(o.dns);
  return r;
}

const familyOf = (cidr: string) => (cidr.slice(0, cidr.lastIndexOf('/')).includes(':') ? '6' : '4');
const legacy = (r: AnyCniResult): r is CniLegacyResult => compareVersions(r.cniVersion || '0.1.0', '0.3.0') < 0;

/** Any result as 0.3.0-1.1.0 shapes it, in version `to`. */
function toModern(r: AnyCniResult, to: string): CniResult {
  const out: CniResult = { cniVersion: to, dns: { ...r.dns } };
  const withVersion = compareVersions(to, '1.0.0') < 0;
  const v11 = compareVersions(to, '1.1.0') >= 0;
  if (!legacy(r)) {
    const m = r;
    if (m.interfaces) out.interfaces = m.interfaces.map((i) => iface(i as unknown as Record<string, unknown>, v11));
    if (m.ips) out.ips = m.ips.map(({ version: _v, ...c }) => (withVersion ? ipConfig({ ...c, version: familyOf(c.address) }, true) : c));
    if (m.routes) out.routes = m.routes.map((x) => route(x as unknown as Record<string, unknown>, v11));
    return out;
  }
  const l = r;
  const ips: CniIpConfig[] = [];
  const routes: CniRoute[] = [];
  for (const [fam, ip] of [['4', l.ip4], ['6', l.ip6]] as const) {
    if (!ip) continue;
    ips.push(withVersion ? { version: fam, address: ip.ip, ...(ip.gateway ? { gateway: ip.gateway } : {}) } : { address: ip.ip, ...(ip.gateway ? { gateway: ip.gateway } : {}) });
    routes.push(...(ip.routes ?? []).map((x) => ({ ...x })));
  }
  if (ips.length) out.ips = ips;
  if (routes.length) out.routes = routes;
  return out;
}

/** 0.3.0+ down to 0.1.0/0.2.0: the first address of each family, each route under its family's (libcni's rule). */
function toLegacy(r: AnyCniResult, to: string): CniLegacyResult {
  if (legacy(r)) return { ...r, cniVersion: to };
  const m = r;
  const out: CniLegacyResult = { cniVersion: to, dns: { ...m.dns } };
  for (const c of m.ips ?? []) {
    const key = familyOf(c.address) === '4' ? 'ip4' : 'ip6';
    if (!out[key]) out[key] = { ip: c.address, ...(c.gateway ? { gateway: c.gateway } : {}) };
    if (out.ip4 && out.ip6) break;
  }
  for (const rt of m.routes ?? []) {
    const key = familyOf(rt.dst) === '4' ? 'ip4' : 'ip6';
    const ip = out[key];
    if (!ip) throw new CniError(ERR.INCOMPATIBLE_VERSION, `cannot convert the result to ${to}: a route to ${rt.dst} but no IPv${key.slice(2)} address`);
    (ip.routes ??= []).push({ dst: rt.dst, ...(rt.gw ? { gw: rt.gw } : {}) });
  }
  return out;
}

/** The result in another version, where libcni converts (every pair of known versions). */
export function convertResult(r: AnyCniResult, to: string): AnyCniResult {
  if (!(CNI_VERSIONS as readonly string[]).includes(to)) throw new CniError(ERR.INCOMPATIBLE_VERSION, `cannot convert a result to unknown version "${to}"`);
  return compareVersions(to, '0.3.0') < 0 ? toLegacy(r, to) : toModern(r, to);
}
