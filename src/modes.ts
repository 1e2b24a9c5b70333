// Docker's network modes as a thin layer over CNM:
//   none             a namespace of its own with only lo (the null network)
//   host             the host's namespace (the host network)
//   bridge           the default network, on bridge nsnet0 (docker0's place); `default` too
//   container:<name> another sandbox's namespace, hostname and files
//   <network>        a network created with createNetwork
//   cni:<network>    a namespace of its own, given its network by a CNI
//                    configuration's plugins (src/cni/runtime/sandbox.ts)
import { createCniSandbox, portMappings, type CniSandboxOptions } from './cni/runtime/sandbox.js';
import type { Controller, SandboxOptions } from './cnm/controller.js';
import type { Network, Sandbox } from './cnm/objects.js';
import { NsnetError, ValidationError } from './errors.js';
import type { PortOptions } from './ports.js';

export type Mode = 'none' | 'host' | 'bridge' | { container: string } | { network: string } | { cni: string } | `container:${string}` | `cni:${string}` | (string & {});

export interface ModeOptions extends Omit<SandboxOptions, 'namespace' | 'container' | 'networks' | 'join'> {
  name: string;
  /** Default: bridge. */
  mode?: Mode;
  /** Static addresses on the network the mode joins. */
  ip?: string;
  ip6?: string;
  /** Ports to publish on the network the mode joins (Docker's `-p`); on a CNI network, its portMappings. */
  ports?: (string | PortOptions)[];
  /** Publish them even over a host process listening on one (EndpointOptions.forcePublish). */
  forcePublish?: boolean;
  /** The MAC address of its interface on that network (Docker's --mac-address); on a CNI network, the mac capability. */
  mac?: string;
  /** Other names on that network, a user-defined one (Docker's --network-alias); on a CNI network, the aliases capability. */
  aliases?: string[];
  /** For cni:<network>: where its configuration and plugins are, and the attachment's arguments. */
  cni?: Omit<CniSandboxOptions, 'network' | keyof SandboxOptions>;
}

/** The network `bridge` mode joins, made on first use as Docker makes docker0 at start. */
export async function defaultNetwork(c: Controller): Promise<Network> {
  try {
    return await c.network('bridge');
  } catch (e) {
    if ((e as NsnetError).code !== 'ERR_NSNET_NOT_FOUND') throw e;
  }
  try {
    return await c.createNetwork('bridge', { driver: 'bridge' });
  } catch (e) {
    // Another process made it first.
    if ((e as NsnetError).code === 'ERR_NSNET_EXISTS') return c.network('bridge');
    throw e;
  }
}

/** Parses Docker's --net values. */
export function parseMode(m: Mode | undefined): { kind: 'none' | 'host' } | { kind: 'container' | 'network' | 'cni'; name: string } {
  if (m === undefined || m === 'bridge' || m === 'default') return { kind: 'network', name: 'bridge' };
  if (m === 'none' || m === 'host') return { kind: m as 'none' | 'host' };
  if (typeof m === 'string') {
    if (m.startsWith('container:')) {
      const name = m.slice('container:'.length);
      if (!name) throw new ValidationError('mode', m, 'container: needs a sandbox name');
      return { kind: 'container', name };
    }
    if (m.startsWith('cni:')) {
      const name = m.slice('cni:'.length);
      if (!name) throw new ValidationError('mode', m, 'cni: needs a CNI network name');
      return { kind: 'cni', name };
    }
    if (m.length) return { kind: 'network', name: m };
  } else if (m && typeof m === 'object') {
    if ('container' in m && typeof m.container === 'string') return { kind: 'container', name: m.container };
    if ('network' in m && typeof m.network === 'string') return { kind: 'network', name: m.network };
    if ('cni' in m && typeof m.cni === 'string' && m.cni) return { kind: 'cni', name: m.cni };
  }
  throw new ValidationError('mode', m, "must be 'none', 'host', 'bridge', 'container:<name>', 'cni:<network>', { container }, { network } or { cni }");
}

/**
 * Options a sandbox sharing another's namespace cannot have: that one's
 * hostname, files and interfaces are its own. Refused as docker refuses
 * them with `--net container:`, never silently dropped.
 */
const SHARED: [keyof ModeOptions, string][] = [
  ['hostname', 'hostname'],
  ['dns', 'dns'],
  ['dnsSearch', 'dns-search'],
  ['dnsOptions', 'dns-option'],
  ['extraHosts', 'custom host-to-IP mapping'],
  ['ports', 'port publishing'],
  ['mac', 'mac-address'],
];

/** What the mode's network gives: asked of a mode without one, it is refused. */
const ON_NETWORK: [keyof ModeOptions, string][] = [
  ['ip', 'has no address to choose'],
  ['ip6', 'has no address to choose'],
  ['ports', 'has no network to publish ports on'],
  ['mac', 'has no interface of its own to give a MAC address'],
  ['aliases', 'has no network to give aliases on (network-scoped aliases are for user-defined networks)'],
];

function given(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined;
}

/** Creates a sandbox in one of Docker's modes: one store transaction and one kernel trip. */
export async function createSandbox(c: Controller, o: ModeOptions): Promise<Sandbox> {
  if (!o || typeof o !== 'object') throw new ValidationError('options', o, 'must be an object with a name');
  const { name, mode, ip, ip6, ports, forcePublish, mac, aliases, cni, ...rest } = o;
  const m = parseMode(mode);
  if (m.kind === 'container') {
    for (const [k, what] of SHARED)
      if (given(o[k])) throw new ValidationError(k, o[k], `conflicting options: ${what} and the network mode container:${m.name} (it shares that sandbox's)`);
  }
  if (m.kind !== 'network' && m.kind !== 'cni') for (const [k, why] of ON_NETWORK) if (given(o[k])) throw new ValidationError(k, o[k], `a ${m.kind} sandbox ${why}`);
  if (cni !== undefined && m.kind !== 'cni') throw new ValidationError('cni', cni, `a ${m.kind} sandbox takes no CNI options`);
  // Docker's rules: the default network's addresses are all IPAM's, and it has no aliases.
  if (m.kind === 'network' && m.name === 'bridge') {
    if (ip !== undefined || ip6 !== undefined)
      throw new ValidationError('ip', ip ?? ip6, 'user specified IP address is supported on user defined networks only (the default bridge network hands out its own)');
    if (given(aliases)) throw new ValidationError('aliases', aliases, 'network-scoped alias is supported only for sandboxes in user defined networks');
  }
  switch (m.kind) {
    case 'none':
      return c.createSandbox(name, { ...rest, networks: ['none'] });
    case 'host':
      return c.createSandbox(name, { ...rest, namespace: 'host', networks: ['host'] });
    case 'container':
      return c.createSandbox(name, { ...rest, container: m.name });
    case 'cni': {
      // -p, --ip, --mac-address and --network-alias become the capability arguments Podman passes for them.
      const caps: Record<string, unknown> = { ...cni?.capabilityArgs };
      if (ports?.length) caps.portMappings = portMappings(ports);
      const ips = [ip, ip6].filter((x): x is string => x !== undefined);
      if (ips.length) caps.ips = ips;
      if (mac !== undefined) caps.mac = mac;
      if (aliases?.length) caps.aliases = { [m.name]: aliases };
      return (await createCniSandbox(c, name, { ...rest, ...cni, network: m.name, capabilityArgs: caps })).sandbox;
    }
    case 'network': {
      const ep = { ip, ip6, ports, forcePublish, mac, aliases };
      const a = { network: m.name, ...Object.fromEntries(Object.entries(ep).filter(([, x]) => x !== undefined)) };
      if (m.name === 'bridge') {
        c.checkSandbox(name, { ...rest, networks: [a] }); // bad input must not leave a default network behind
        await defaultNetwork(c);
      }
      return c.createSandbox(name, { ...rest, networks: [a] });
    }
  }
}
