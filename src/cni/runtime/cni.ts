// nsnet as a CNI runtime: what libcni does for Podman, containerd and CRI-O,
// and cnitool on the command line. A network is a configuration list; ADD
// runs its plugins in order, each given the result of the one before
// (prevResult), and caches the final result; DEL runs them in reverse with
// that cached result, halting at the first error as the spec says (the cache
// stays, so the DEL can be retried); CHECK runs them in order against it;
// STATUS and GC (1.1) ask every plugin. Unlike libcni, a failed ADD is undone
// by a DEL of every plugin before the error is thrown, so nothing is left
// half made (the spec asks the runtime for that DEL).
import { NsnetError, TeardownError } from '../../errors.js';
import { CniError, ERR } from '../errors.js';
import { atLeast, CNI_CURRENT, convertResult, decodeResult, type AnyCniResult } from '../types.js';
import { argsString, checkAttachment, isCniId, pluginStdin, type Attachment, type CheckedAttachment } from './attachment.js';
import { cachedAttachments, DEFAULT_CACHE_DIR, deleteCache, readCache, writeCache, type CacheEntry } from './cache.js';
import { listNetworks, loadNetwork, parseConfList, type NetworkConfigList, type NetworkListing, type PluginConfig } from './config.js';
import { findPlugin, runPlugin, versionInfo, type CniCommand, type VersionInfo } from './exec.js';

export interface CniOptions {
  /** Where network configurations live: NETCONFPATH (cnitool's), else /etc/cni/net.d. */
  confDir?: string;
  /** Where plugins are looked for, in order: CNI_PATH, else Podman's default dirs. */
  path?: string[];
  /** libcni's cache directory (results/ under it): default /var/lib/cni. */
  cacheDir?: string;
  /** Milliseconds each plugin call may take before it is killed (default 60000). */
  timeout?: number;
  /** The network namespace plugins run in (a path): the "host" side of what they make. Default: this process's. */
  hostNetns?: string;
}

/** A (container, interface) pair GC must keep. */
export interface ValidAttachment {
  containerId: string;
  ifName: string;
}

export const DEFAULT_PATH = ['/usr/local/libexec/cni', '/usr/libexec/cni', '/usr/local/lib/cni', '/usr/lib/cni', '/opt/cni/bin'];

const within = (e: unknown, network: string): unknown => (e instanceof CniError ? e.within({ network }) : e);

/**
 * The attachment with what the caller left out taken from ADD's cache entry:
 * the arguments, and the namespace (from the entry, or, where the runtime
 * that wrote it predates that field (libcni before 1.2, Podman 4), from the
 * result's interface of that name).
 */
function withCached(a: Attachment, cached: CacheEntry | null): Attachment {
  const ifName = a.ifName ?? 'eth0';
  const ifaces = (cached?.result?.interfaces ?? []) as { name?: unknown; sandbox?: unknown }[];
  const sandbox = Array.isArray(ifaces) ? ifaces.find((i) => i?.name === ifName && typeof i.sandbox === 'string')?.sandbox as string | undefined : undefined;
  return {
    ...a,
    netns: a.netns ?? cached?.netns ?? sandbox ?? '',
    args: a.args ?? cached?.cniArgs ?? [],
    capabilityArgs: a.capabilityArgs ?? cached?.capabilityArgs ?? {},
  };
}

export class Cni {
  readonly confDir: string;
  readonly path: string[];
  readonly cacheDir: string;
  readonly timeout: number;
  readonly hostNetns: string | undefined;

  constructor(o: CniOptions = {}) {
    this.confDir = o.confDir ?? (process.env.NETCONFPATH || '/etc/cni/net.d');
    this.path = o.path ?? (process.env.CNI_PATH ? process.env.CNI_PATH.split(':').filter(Boolean) : DEFAULT_PATH);
    this.cacheDir = o.cacheDir ?? DEFAULT_CACHE_DIR;
    this.timeout = o.timeout ?? 60_000;
    this.hostNetns = o.hostNetns;
    if (!Array.isArray(this.path)) throw new CniError(ERR.INVALID_CONFIG, 'path must be a list of directories', { command: 'validate', details: String(o.path) });
    const dirs = [['confDir', this.confDir], ['cacheDir', this.cacheDir], ...this.path.map((p) => ['path', p]), ...(o.hostNetns !== undefined ? [['hostNetns', o.hostNetns]] : [])];
    for (const [k, v] of dirs as [string, unknown][])
      if (typeof v !== 'string' || !v.startsWith('/')) throw new CniError(ERR.INVALID_CONFIG, `${k} must be an absolute path`, { command: 'validate', details: String(v) });
    if (!Number.isInteger(this.timeout) || this.timeout <= 0) throw new CniError(ERR.INVALID_CONFIG, 'timeout must be a positive number of milliseconds', { command: 'validate', details: String(o.timeout) });
  }

  /** Every network in the configuration directory, in the order runtimes read them, and the files that did not parse. */
  networks(): Promise<NetworkListing> {
    return listNetworks(this.confDir);
  }

  /** The network of that name, found as libcni finds it. */
  load(name: string): Promise<NetworkConfigList> {
    return loadNetwork(this.confDir, name);
  }

  /** A network from a configuration list's bytes (not from the directory). */
  parse(bytes: Buffer | string): NetworkConfigList {
    return parseConfList(bytes);
  }

  /** A plugin's VERSION answer. */
  async versionInfo(type: string): Promise<VersionInfo> {
    const binary = await findPlugin(type, this.path);
    return versionInfo({ plugin: type, binary, path: this.path, timeout: this.timeout, ...this.host() }, CNI_CURRENT);
  }

  /**
   * Checks a network before use (libcni's ValidateNetworkList): every plugin
   * is found, and each one's VERSION lists the network's version. Every
   * plugin is checked; one error names them all. Returns the capabilities
   * the network's plugins declare.
   */
  async validate(network: string | NetworkConfigList): Promise<{ cniVersion: string; capabilities: string[] }> {
    const list = await this.resolve(network);
    const errors: CniError[] = [];
    const version = list.cniVersion || '0.1.0';
    for (const p of list.plugins) {
      try {
        const binary = await findPlugin(p.type, this.path, list.name);
        const vi = await versionInfo({ plugin: p.type, network: list.name, binary, path: this.path, timeout: this.timeout, ...this.host() }, CNI_CURRENT);
        if (!vi.supportedVersions.includes(version))
          errors.push(new CniError(ERR.INCOMPATIBLE_VERSION, `plugin does not support config version "${version}"`, { plugin: p.type, network: list.name, command: 'validate', details: `it supports ${vi.supportedVersions.join(', ')}` }));
      } catch (e) {
        errors.push(e as CniError);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new CniError(errors[0]!.cniCode, errors.map((e) => e.message).join('; '), { network: list.name, command: 'validate' });
    return { cniVersion: list.cniVersion, capabilities: [...new Set(list.plugins.flatMap((p) => p.capabilities))] };
  }

  /** ADD: the final result (in the version its last plugin answered in), cached for DEL and CHECK. */
  async add(network: string | NetworkConfigList, attachment: Attachment, o: { rollback?: boolean } = {}): Promise<AnyCniResult> {
    const list = await this.resolve(network);
    const a = checkAttachment(attachment, list.name);
    // Every binary is found before the first one runs: a missing plugin changes nothing.
    const bins = await this.findPlugins(list);
    let result: AnyCniResult | undefined;
    try {
      for (const [i, p] of list.plugins.entries()) {
        const out = await this.exec('ADD', list, p, bins[i]!, a, result);
        try {
          result = decodeResult(JSON.parse(out) as unknown, list.cniVersion);
        } catch (e) {
          throw e instanceof CniError
            ? e.within({ plugin: p.type, command: 'ADD', network: list.name })
            : new CniError(ERR.DECODE, `failed to decode the plugin's result: ${(e as Error).message}`, { plugin: p.type, command: 'ADD', network: list.name, details: out.slice(0, 4096) });
        }
      }
      await writeCache(this.cacheDir, {
        containerId: a.containerId, config: list.bytes, ifName: a.ifName, networkName: list.name,
        ...(a.netns ? { netns: a.netns } : {}), cniArgs: a.args, capabilityArgs: a.capabilityArgs, result: result as unknown as Record<string, unknown>,
      });
    } catch (e) {
      if (o.rollback !== false) {
        // Unlike a caller's DEL, the undo goes on past a plugin that fails
        // (the one whose ADD failed often fails its DEL too), so what the
        // plugins before it made is still taken down.
        const undo: Error[] = [];
        for (let i = list.plugins.length - 1; i >= 0; i--) {
          await this.exec('DEL', list, list.plugins[i]!, bins[i]!, a, undefined).catch((u: Error) => undo.push(u));
        }
        await deleteCache(this.cacheDir, list.name, a.containerId, a.ifName).catch((u: Error) => undo.push(u));
        if (undo.length && e instanceof NsnetError) e.rollbackErrors = undo;
      }
      throw e;
    }
    return result!;
  }

  /**
   * DEL: the plugins in reverse, each with the cached result of ADD (0.4.0
   * and later). Arguments, capability arguments and the namespace not given
   * are taken from the cache, as ADD had them. A network no longer in the
   * configuration directory is deleted with the configuration ADD cached.
   * Halts at the first plugin that fails (the spec's rule); on success the
   * cache entry goes.
   */
  async del(network: string | NetworkConfigList, attachment: Attachment): Promise<void> {
    const name = typeof network === 'string' ? network : network.name;
    const cached = await this.cached(name, attachment);
    const list = await this.resolve(network, cached);
    const a = checkAttachment(withCached(attachment, cached), list.name);
    let prev: AnyCniResult | undefined;
    if (atLeast(list.cniVersion, '0.4.0') && cached?.result) {
      try {
        prev = convertResult(decodeResult(cached.result, list.cniVersion), list.cniVersion);
      } catch {
        // A cached result that no longer converts is dropped, as libcni drops it; DEL goes on without.
        await deleteCache(this.cacheDir, list.name, a.containerId, a.ifName);
      }
    }
    const bins = await this.findPlugins(list);
    for (let i = list.plugins.length - 1; i >= 0; i--) await this.exec('DEL', list, list.plugins[i]!, bins[i]!, a, prev);
    await deleteCache(this.cacheDir, list.name, a.containerId, a.ifName);
  }

  /** CHECK (0.4.0 and later, unless the list disables it): every plugin in order, against the cached result. */
  async check(network: string | NetworkConfigList, attachment: Attachment): Promise<void> {
    const list = await this.resolve(network);
    if (!atLeast(list.cniVersion, '0.4.0'))
      throw new CniError(ERR.INCOMPATIBLE_VERSION, `configuration version "${list.cniVersion}" does not support the CHECK command`, { network: list.name, command: 'CHECK' });
    if (list.disableCheck) return;
    const cached = await this.cached(list.name, attachment);
    const a = checkAttachment(withCached(attachment, cached), list.name);
    let prev: AnyCniResult | undefined;
    try {
      prev = cached?.result ? convertResult(decodeResult(cached.result, list.cniVersion), list.cniVersion) : undefined;
    } catch (e) {
      throw within(e, list.name);
    }
    const bins = await this.findPlugins(list);
    for (const [i, p] of list.plugins.entries()) await this.exec('CHECK', list, p, bins[i]!, a, prev);
  }

  /** STATUS (1.1.0): every plugin in order; the first that is not ready throws (code 50 or 51 from a plugin that says so). */
  async status(network: string | NetworkConfigList): Promise<void> {
    const list = await this.resolve(network);
    if (!atLeast(list.cniVersion, '1.1.0')) return;
    const bins = await this.findPlugins(list);
    for (const [i, p] of list.plugins.entries()) await this.exec('STATUS', list, p, bins[i]!, null, undefined);
  }

  /**
   * GC: every cached attachment of the network not in `valid` is deleted (as
   * libcni does for any version), then, for 1.1.0, every plugin is asked to
   * release what no valid attachment holds. Goes on past errors and throws
   * them together.
   */
  async gc(network: string | NetworkConfigList, valid: ValidAttachment[] = []): Promise<void> {
    const list = await this.resolve(network);
    if (list.disableGC) return;
    const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifName}`));
    const errors: Error[] = [];
    for (const e of await cachedAttachments(this.cacheDir)) {
      if (e.networkName !== list.name || keep.has(`${e.containerId}\0${e.ifName}`)) continue;
      try {
        // The namespace and arguments come from the entry itself, as for any DEL.
        await this.del(list, { containerId: e.containerId, ifName: e.ifName });
      } catch (err) {
        errors.push(new Error(`stale attachment ${e.containerId} ${e.ifName}: ${(err as Error).message}`, { cause: err }));
      }
    }
    if (atLeast(list.cniVersion, '1.1.0')) {
      // Both keys: libcni sets the spec's and the one it shipped first.
      const attachments = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifName }));
      for (const p of list.plugins) {
        try {
          const binary = await findPlugin(p.type, this.path, list.name);
          const conf = { ...p, conf: { ...p.conf, 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments } };
          await this.exec('GC', list, conf, binary, null, undefined);
        } catch (err) {
          errors.push(err as Error);
        }
      }
    }
    if (errors.length) throw new TeardownError(`CNI GC of network ${list.name}`, errors);
  }

  /** The cached result of an attachment, in the network's version (libcni's GetNetworkListCachedResult); null if none. */
  async cachedResult(network: string | NetworkConfigList, containerId: string, ifName = 'eth0'): Promise<AnyCniResult | null> {
    const list = await this.resolve(network);
    const e = await readCache(this.cacheDir, list.name, containerId, ifName);
    return e?.result ? convertResult(decodeResult(e.result, list.cniVersion), list.cniVersion) : null;
  }

  /** Every cached attachment (of one container, if given): what GC looks at. */
  cachedAttachments(containerId?: string): Promise<CacheEntry[]> {
    return cachedAttachments(this.cacheDir, containerId);
  }

  private host(): { hostNetns?: string } {
    return this.hostNetns ? { hostNetns: this.hostNetns } : {};
  }

  private cached(network: string, a: Attachment): Promise<CacheEntry | null> {
    if (!a || !isCniId(a.containerId) || !isCniId(network)) return Promise.resolve(null);
    const ifName = a.ifName ?? 'eth0';
    if (typeof ifName !== 'string' || /[/\s]/.test(ifName) || ifName === '.' || ifName === '..') return Promise.resolve(null);
    return readCache(this.cacheDir, network, a.containerId, ifName);
  }

  /** The list itself, the named one from the directory, or (for DEL) the one ADD cached if the directory no longer has it. */
  private async resolve(network: string | NetworkConfigList, cached?: CacheEntry | null): Promise<NetworkConfigList> {
    if (typeof network !== 'string') return network;
    try {
      return await this.load(network);
    } catch (e) {
      if ((e as NsnetError).code === 'ERR_NSNET_NOT_FOUND' && cached?.config.length) return parseConfList(cached.config);
      throw e;
    }
  }

  /** Each plugin's binary, in the list's order; a CniError (code 50) names the first not found. */
  async findPlugins(list: NetworkConfigList): Promise<string[]> {
    const out: string[] = [];
    for (const p of list.plugins) out.push(await findPlugin(p.type, this.path, list.name));
    return out;
  }

  private async exec(command: CniCommand, list: NetworkConfigList, p: PluginConfig, binary: string, a: CheckedAttachment | null, prev: AnyCniResult | undefined): Promise<string> {
    return runPlugin({
      command, plugin: p.type, network: list.name, binary, stdin: pluginStdin(list, p, prev, a ? a.capabilityArgs : null),
      ...(a ? { containerId: a.containerId, netns: a.netns, ifName: a.ifName, args: argsString(a.args) } : {}),
      path: this.path, timeout: this.timeout, ...this.host(),
    });
  }
}
