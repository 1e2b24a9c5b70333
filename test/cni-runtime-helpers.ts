// Shared by the CNI runtime tests: a configuration directory of the test's
// own, the reference plugins (Debian's containernetworking-plugins) and the
// recording test plugin, and the oracles for what plugins leave behind
// (iptables-save, host-local's files, libcni's cache).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll } from 'vitest';

import { Cni, Netns } from '../src/index.js';
import { nsExec, testHost, uniq } from './helpers.js';

/** Debian's reference plugins. */
export const REFERENCE = '/usr/lib/cni';
/** The recording plugin (recorder, recorder-b, recorder-old). */
export const FIXTURES = fileURLToPath(new URL('./fixtures/cni', import.meta.url));
export const CACHE = '/var/lib/cni';

export interface ConfDir {
  dir: string;
  /** Writes a file into it (an object is written as JSON); returns its path. */
  write(file: string, content: unknown): Promise<string>;
  remove(): Promise<void>;
}

export async function confDir(tag: string): Promise<ConfDir> {
  const dir = await mkdtemp(join(tmpdir(), `nsnet-cni-${tag}-`));
  return {
    dir,
    async write(file, content) {
      const p = join(dir, file);
      await writeFile(p, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
      return p;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface CniHost {
  /** The namespace playing the host: plugins run in it. */
  host: Netns;
  conf: ConfDir;
  /** A runtime on conf's directory whose plugins run in host. */
  cni: Cni;
}

/** A host namespace, a configuration directory and a runtime for the test file, made before its tests and removed after. */
export function cniHost(tag: string, path: string[] = [REFERENCE]): CniHost {
  const t = {} as CniHost;
  beforeAll(async () => {
    t.host = await testHost(tag);
    t.conf = await confDir(tag);
    t.cni = new Cni({ confDir: t.conf.dir, path, hostNetns: t.host.path! });
  });
  afterAll(async () => {
    await t.host?.delete();
    await t.conf?.remove();
  });
  return t;
}

/** Runs fn with a new namespace playing a container, deleted after fn whatever happened. */
export async function inContainer<T>(fn: (ctr: Netns) => Promise<T>): Promise<T> {
  const ctr = await Netns.create(uniq('cc'));
  try {
    return await fn(ctr);
  } finally {
    await ctr.delete();
  }
}

/** A bridge + host-local network, optionally with more plugins chained after it. */
export function bridgeList(name: string, bridge: string, subnet: string, version = '1.0.0', chained: object[] = []): object {
  return {
    cniVersion: version,
    name,
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } },
      ...chained,
    ],
  };
}

/** The addresses host-local holds for a network (its files named after them). */
export async function hostLocalLeases(network: string): Promise<string[]> {
  try {
    return (await readdir(join(CACHE, 'networks', network))).filter((f) => isIP(f) !== 0);
  } catch {
    return [];
  }
}

export function cacheFile(network: string, containerId: string, ifName = 'eth0'): string {
  return join(CACHE, 'results', `${network}-${containerId}-${ifName}`);
}

export async function readCacheFile(network: string, containerId: string, ifName = 'eth0'): Promise<string | null> {
  return readFile(cacheFile(network, containerId, ifName), 'utf8').catch(() => null);
}

/** The nat table as iptables-save prints it in a namespace. */
export async function iptablesNat(ns: string): Promise<string> {
  return (await nsExec(ns, 'iptables-save', '-t', 'nat')).stdout;
}

/** The recorder's log: one entry per call. */
export async function records(log: string): Promise<{ plugin: string; command: string; env: Record<string, string>; stdin: any; childPid?: number }[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
