// nsnet cni add|del|check|status|gc|ls|validate: cnitool's job, on nsnet's
// CNI runtime (the `cni` group in cni.ts lists them). Like cnitool, the container id defaults to one derived from
// the namespace's path (the same one cnitool derives, so either tool can DEL
// what the other ADDed), and CNI_IFNAME, CNI_ARGS, CAP_ARGS, NETCONFPATH and
// CNI_PATH are read when their flags are not given.
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

import { parseArgsString, type Attachment } from '../cni/runtime/attachment.js';
import { Cni, type CniOptions } from '../cni/runtime/cni.js';
import { goJson } from '../cni/runtime/gojson.js';
import { CniError, ERR } from '../cni/errors.js';
import { defaultRunDir } from '../netlink/netns.js';
import type { Args, Command, Flag } from './args.js';

const DIRS: Flag[] = [
  { name: 'conf-dir', value: 'DIR', help: 'where network configurations are (default NETCONFPATH, else /etc/cni/net.d)' },
  { name: 'cni-path', value: 'DIRS', help: 'where plugins are, colon-separated (default CNI_PATH, else Podman\'s plugin dirs)' },
  { name: 'cache-dir', value: 'DIR', help: "libcni's cache directory (default /var/lib/cni)" },
  { name: 'timeout', value: 'SECONDS', help: 'how long each plugin may run before it is killed (default 60)' },
];

const ATTACH: Flag[] = [
  { name: 'container-id', value: 'ID', help: "the container id (default: derived from the namespace's path, as cnitool does)" },
  { name: 'ifname', value: 'NAME', help: 'the interface inside the namespace (default CNI_IFNAME, else eth0)' },
  { name: 'args', value: 'K=V;...', help: 'CNI_ARGS for the plugins (default CNI_ARGS)' },
  { name: 'capability-args', value: 'JSON', help: 'capability arguments, e.g. {"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]} (default CAP_ARGS)' },
];

function cniOf(a: Args): Cni {
  const o: CniOptions = {};
  const conf = a.str('conf-dir');
  const path = a.str('cni-path');
  const cache = a.str('cache-dir');
  const timeout = a.str('timeout');
  if (conf) o.confDir = resolve(conf);
  if (path) o.path = path.split(':').filter(Boolean).map((p) => resolve(p));
  if (cache) o.cacheDir = resolve(cache);
  if (timeout !== undefined) {
    const s = Number(timeout);
    if (!(s > 0)) throw new CniError(ERR.INVALID_CONFIG, 'the timeout must be a positive number of seconds', { command: 'validate', details: timeout });
    o.timeout = Math.round(s * 1000);
  }
  return new Cni(o);
}

/** A namespace path as given, or a name under the run dir (as `ip netns` names them). */
function netnsPath(s: string): string {
  return s.includes('/') ? resolve(s) : join(defaultRunDir(), s);
}

/** cnitool's container id: "cnitool-" and the first 10 bytes of the path's SHA-512, in hex. */
export function containerIdFor(netns: string): string {
  return `cnitool-${createHash('sha512').update(netns).digest('hex').slice(0, 20)}`;
}

function attachmentOf(a: Args, netns: string | undefined): Attachment {
  const id = a.str('container-id') ?? (netns ? containerIdFor(netns) : undefined);
  if (!id) throw new CniError(ERR.UNKNOWN_CONTAINER, 'without a namespace, --container-id is needed', { command: 'validate' });
  const args = a.str('args') ?? process.env.CNI_ARGS;
  const caps = a.str('capability-args') ?? process.env.CAP_ARGS;
  let capabilityArgs: Record<string, unknown> | undefined;
  if (caps) {
    try {
      // Keys in Go's map order, as cnitool's map[string]interface{} hands them to libcni (and its cache).
      capabilityArgs = JSON.parse(goJson(JSON.parse(caps))) as Record<string, unknown>;
    } catch (e) {
      throw new CniError(ERR.DECODE, `capability arguments are not JSON: ${(e as Error).message}`, { command: 'validate', details: caps });
    }
  }
  return {
    containerId: id,
    ifName: a.str('ifname') ?? (process.env.CNI_IFNAME || 'eth0'),
    ...(netns !== undefined ? { netns } : {}),
    ...(args !== undefined ? { args: parseArgsString(args) } : {}),
    ...(capabilityArgs ? { capabilityArgs } : {}),
  };
}

/** A command making one call of the runtime: what the call returns is printed (nothing for undefined). */
function cniCommand(c: Omit<Command, 'run'>, call: (cni: Cni, a: Args) => Promise<string | undefined>): Command {
  return {
    ...c,
    async run(a) {
      const out = await call(cniOf(a), a);
      if (out !== undefined) console.log(out);
      return 0;
    },
  };
}

/** The network and namespace operands. */
const operands = (a: Args) => a.operands as [string, string | undefined];

const add = cniCommand(
  { name: 'add', summary: "attach a namespace to a CNI network (ADD through the network's plugins) and print the result", operands: '<network> <netns>', flags: [...ATTACH, ...DIRS] },
  async (cni, a) => {
    const [network, ns] = operands(a);
    return JSON.stringify(await cni.add(network, attachmentOf(a, netnsPath(ns!))), null, 4);
  },
);

const del = cniCommand(
  {
    name: 'del', aliases: ['delete'], summary: 'detach it again (DEL in reverse, with the cached result); arguments not given are the cached ones',
    operands: '<network> [<netns>]', flags: [...ATTACH, ...DIRS],
  },
  async (cni, a) => {
    const [network, ns] = operands(a);
    await cni.del(network, attachmentOf(a, ns === undefined ? undefined : netnsPath(ns)));
    return undefined;
  },
);

const check = cniCommand(
  { name: 'check', summary: "check the attachment against the cached result (CHECK through the network's plugins)", operands: '<network> <netns>', flags: [...ATTACH, ...DIRS] },
  async (cni, a) => {
    const [network, ns] = operands(a);
    await cni.check(network, attachmentOf(a, netnsPath(ns!)));
    return undefined;
  },
);

const status = cniCommand(
  { name: 'status', summary: "ask every plugin of the network whether it is ready (STATUS, CNI 1.1); prints 'ready'", operands: '<network>', flags: DIRS },
  async (cni, a) => {
    await cni.status(a.operands[0]!);
    return 'ready';
  },
);

const gc = cniCommand(
  {
    name: 'gc', summary: 'delete every cached attachment of the network not listed with --valid, then GC each plugin (CNI 1.1)', operands: '<network>',
    flags: [{ name: 'valid', value: 'ID[:IFNAME]', repeat: true, help: 'an attachment to keep (interface default eth0)' }, ...DIRS],
  },
  async (cni, a) => {
    const valid = a.list('valid').map((v) => {
      const i = v.indexOf(':');
      return i < 0 ? { containerId: v, ifName: 'eth0' } : { containerId: v.slice(0, i), ifName: v.slice(i + 1) };
    });
    await cni.gc(a.operands[0]!, valid);
    return undefined;
  },
);

const ls = cniCommand(
  { name: 'ls', aliases: ['list'], summary: 'list the networks of the configuration directory, in the order runtimes read them', flags: [{ name: 'json', help: 'print JSON' }, ...DIRS] },
  async (cni, a) => {
    const { networks, invalid } = await cni.networks();
    const rows = networks.map((n) => ({ name: n.name, cniVersion: n.cniVersion, plugins: n.plugins.map((p) => p.type), file: n.file ?? null }));
    if (a.bool('json')) return JSON.stringify({ networks: rows, invalid: invalid.map((i) => ({ file: i.file, error: i.error.message })) }, null, 2);
    for (const i of invalid) console.error(`nsnet: ${i.error.message}`);
    return rows.length ? rows.map((r) => `${r.name}\t${r.cniVersion}\t${r.plugins.join(',')}\t${r.file ?? ''}`).join('\n') : undefined;
  },
);

const validate = cniCommand(
  { name: 'validate', summary: "check that every plugin of the network is found and supports the network's version; print the capabilities", operands: '<network>', flags: DIRS },
  async (cni, a) => JSON.stringify(await cni.validate(a.operands[0]!), null, 2),
);

/** The runtime's commands of `nsnet cni`. */
export const runtimeCommands: Command[] = [add, del, check, status, gc, ls, validate];
