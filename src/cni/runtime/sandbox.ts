// A sandbox whose network comes from a CNI configuration (`nsnet run --net
// cni:<network>`): the Controller makes a namespace with lo only (the none
// mode), the network's plugins ADD to it, and before the namespace goes the
// same attachment is DELeted from libcni's cache. The attachment is recorded
// in a label of the sandbox, so any process that deletes the sandbox, or
// reconciles after its namespace vanished, can run that DEL.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Controller } from '../../cnm/controller.js';
import { resolvConf, rewriteHosts } from '../../cnm/files.js';
import { registerSandboxHook, type SandboxHook } from '../../cnm/hooks.js';
import { newId } from '../../cnm/names.js';
import type { Sandbox } from '../../cnm/objects.js';
import type { SandboxSettings } from '../../cnm/sandboxes.js';
import { NsnetError, TeardownError, ValidationError } from '../../errors.js';
import type { Netns } from '../../netlink/netns.js';
import { parsePorts, type PortOptions } from '../../ports.js';
import type { SandboxRecord } from '../../store/store.js';
import { convertResult, type AnyCniResult, type CniResult } from '../types.js';
import { checkAttachment, type Attachment } from './attachment.js';
import { Cni, type CniOptions } from './cni.js';

/** The label holding a sandbox's CNI attachments (a JSON list). */
export const CNI_LABEL = 'nsnet.cni';

interface Recorded {
  network: string;
  containerId: string;
  ifName: string;
  confDir: string;
  cacheDir: string;
  path: string[];
  timeout: number;
}

export interface CniSandboxOptions extends Omit<SandboxSettings, 'namespace' | 'container' | 'networks' | 'netnsPath'>, Omit<CniOptions, 'hostNetns'> {
  /** The CNI network (a configuration list's name). */
  network: string;
  ifName?: string;
  args?: Attachment['args'];
  capabilityArgs?: Record<string, unknown>;
}

/** Plugins run in the Controller's host namespace; nsenter is needed only when that is not this process's. */
function hostNetns(host: Netns): string | undefined {
  return host.path && host.path !== '/proc/self/ns/net' ? host.path : undefined;
}

/** Docker's -p values as the portMappings capability (what Podman passes the portmap plugin). */
export function portMappings(ports: (string | PortOptions)[]): Record<string, unknown>[] {
  return parsePorts(ports, 'ports').flatMap((r) => {
    if (r.hostPort === null) throw new ValidationError('ports', ports, 'a CNI network needs a host port for each published port');
    const n = r.containerPortEnd - r.containerPort;
    if (r.hostPortEnd! - r.hostPort !== n) throw new ValidationError('ports', ports, 'a host port range must be as long as its container port range on a CNI network');
    return Array.from({ length: n + 1 }, (_, i) => ({
      hostPort: r.hostPort! + i, containerPort: r.containerPort + i, protocol: r.protocol, ...(r.hostIp ? { hostIP: r.hostIp } : {}),
    }));
  });
}

/**
 * Creates a sandbox on a CNI network: all or nothing (a failed ADD is
 * undone and the sandbox deleted). Bad input, an unknown network and a
 * missing plugin are refused before anything is made.
 */
export async function createCniSandbox(c: Controller, name: string, o: CniSandboxOptions): Promise<{ sandbox: Sandbox; result: AnyCniResult }> {
  // Its namespace is its own, made for it: the hook below DELs only such
  // sandboxes, so an external one (nsnet's plugin's, in a runtime's
  // namespace) is never taken for one. A namespace nsnet did not make is
  // attached through Cni.add.
  for (const k of ['netnsPath', 'namespace', 'container'] as const)
    if ((o as SandboxSettings)[k] !== undefined)
      throw new ValidationError(k, (o as SandboxSettings)[k], 'a cni: sandbox has a namespace of its own (attach another namespace with Cni.add or nsnet cni add)');
  const { network, ifName = 'eth0', args, capabilityArgs, confDir, path, cacheDir, timeout, labels, ...settings } = o;
  const host = hostNetns(c.ctx.host);
  const cni = new Cni({ ...(confDir ? { confDir } : {}), ...(path ? { path } : {}), ...(cacheDir ? { cacheDir } : {}), ...(timeout ? { timeout } : {}), ...(host ? { hostNetns: host } : {}) });
  const list = await cni.load(network);
  const containerId = newId();
  const attachment: Attachment = { containerId, ifName, ...(args ? { args } : {}), ...(capabilityArgs ? { capabilityArgs } : {}) };
  checkAttachment(attachment, list.name);
  await cni.findPlugins(list);
  c.checkSandbox(name, settings);
  const rec: Recorded = { network: list.name, containerId, ifName, confDir: cni.confDir, cacheDir: cni.cacheDir, path: cni.path, timeout: cni.timeout };
  const sandbox = await c.createSandbox(name, { ...settings, networks: ['none'], labels: { ...labels, [CNI_LABEL]: JSON.stringify([rec]) } });
  try {
    // add() undoes a failed ADD past plugins that fail their DEL too; the
    // sandbox's own delete then runs the (idempotent) DEL once more.
    const result = await cni.add(list, { ...attachment, netns: sandbox.netnsPath });
    const aliases = (capabilityArgs?.aliases as Record<string, unknown> | undefined)?.[list.name];
    writeFiles(sandbox.record, result, !!settings.dns?.length, Array.isArray(aliases) ? aliases.filter((a): a is string => typeof a === 'string') : []);
    return { sandbox, result };
  } catch (e) {
    try {
      await sandbox.delete({ force: true });
    } catch (u) {
      if (e instanceof NsnetError) e.rollbackErrors = [u as Error];
    }
    throw e;
  }
}

/**
 * What the network gave, in the sandbox's files as Podman writes them: its
 * addresses (with the aliases asked for) in hosts, and its DNS in
 * resolv.conf unless the caller chose the servers.
 */
function writeFiles(sb: SandboxRecord, result: AnyCniResult, ownDns: boolean, aliases: string[]): void {
  const r = convertResult(result, '1.0.0') as CniResult;
  const inside = (r.ips ?? []).filter((ip) => ip.interface === undefined || r.interfaces?.[ip.interface]?.sandbox);
  rewriteHosts(sb, [{ addresses: inside.map((ip) => ip.address), aliases }]);
  const dns = r.dns;
  if (ownDns || !dns.nameservers?.length) return;
  writeFileSync(join(sb.filesDir, 'resolv.conf'), resolvConf({ ...sb, dns: dns.nameservers, dnsSearch: dns.search ?? (dns.domain ? [dns.domain] : []), dnsOptions: dns.options ?? [] }));
}

function recorded(sb: SandboxRecord): Recorded[] {
  const v = sb.labels[CNI_LABEL];
  if (!v) return [];
  try {
    const l = JSON.parse(v) as unknown;
    return Array.isArray(l) ? (l as Recorded[]) : [];
  } catch {
    return [];
  }
}

/** DEL of each CNI attachment of a sandbox, from the cache ADD wrote; every one is tried. */
export const cniSandboxHook: SandboxHook = {
  name: 'cni',
  async beforeDelete(sb, host, { netnsGone }) {
    // Only createCniSandbox's sandboxes, all of which have their own namespace.
    if (sb.netnsKind !== 'own') return;
    const errors: Error[] = [];
    for (const r of recorded(sb)) {
      try {
        const h = hostNetns(host);
        const cni = new Cni({ confDir: r.confDir, cacheDir: r.cacheDir, path: r.path, timeout: r.timeout, ...(h ? { hostNetns: h } : {}) });
        await cni.del(r.network, { containerId: r.containerId, ifName: r.ifName, netns: netnsGone ? '' : sb.netnsPath });
      } catch (e) {
        errors.push(e as Error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new TeardownError(`CNI attachments of sandbox ${sb.name}`, errors);
  },
};

// Every process that can delete a sandbox loads this module (the mode layer
// imports it), so each one's Controller takes the DEL step.
registerSandboxHook(cniSandboxHook);
