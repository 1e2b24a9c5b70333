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

const add: Command = {
  name: 'add',
  summary: "attach a namespace to a CNI network (ADD through the network's plugins) and print the result",
  operands: '<network> <netns>',
  flags: [...ATTACH, ...DIRS],
  async run(a) {
    const [network, ns] = a.operands as [string, string];
    const result = await cniOf(a).add(network, attachmentOf(a, netnsPath(ns)));
    console.log(JSON.stringify(result, null, 4));
    return 0;
  },
};

const del: Command = {
  name: 'del',
  aliases: ['delete'],
  summary: 'detach it again (DEL in reverse, with the cached result); arguments not given are the cached ones',
  operands: '<network> [<netns>]',
  flags: [...ATTACH, ...DIRS],
  async run(a) {
    const [network, ns] = a.operands as [string, string | undefined];
    await cniOf(a).del(network, attachmentOf(a, ns === undefined ? undefined : netnsPath(ns)));
    return 0;
  },
};

const check: Command = {
  name: 'check',
  summary: "check the attachment against the cached result (CHECK through the network's plugins)",
  operands: '<network> <netns>',
  flags: [...ATTACH, ...DIRS],
  async run(a) {
    const [network, ns] = a.operands as [string, string];
    await cniOf(a).check(network, attachmentOf(a, netnsPath(ns)));
    return 0;
  },
};

const status: Command = {
  name: 'status',
  summary: "ask every plugin of the network whether it is ready (STATUS, CNI 1.1); prints 'ready'",
  operands: '<network>',
  flags: DIRS,
  async run(a) {
    await cniOf(a).status(a.operands[0]!);
    console.log('ready');
    return 0;
  },
};

const gc: Command = {
  name: 'gc',
  summary: 'delete every cached attachment of the network not listed with --valid, then GC each plugin (CNI 1.1)',
  operands: '<network>',
  flags: [{ name: 'valid', value: 'ID[:IFNAME]', repeat: true, help: 'an attachment to keep (interface default eth0)' }, ...DIRS],
  async run(a) {
    const valid = a.list('valid').map((v) => {
      const i = v.indexOf(':');
      return i < 0 ? { containerId: v, ifName: 'eth0' } : { containerId: v.slice(0, i), ifName: v.slice(i + 1) };
    });
    await cniOf(a).gc(a.operands[0]!, valid);
    return 0;
  },
};

const ls: Command = {
  name: 'ls',
  aliases: ['list'],
  summary: 'list the networks of the configuration directory, in the order runtimes read them',
  flags: [{ name: 'json', help: 'print JSON' }, ...DIRS],
  async run(a) {
    const { networks, invalid } = await cniOf(a).networks();
    const rows = networks.map((n) => ({ name: n.name, cniVersion: n.cniVersion, plugins: n.plugins.map((p) => p.type), file: n.file ?? null }));
    if (a.bool('json')) console.log(JSON.stringify({ networks: rows, invalid: invalid.map((i) => ({ file: i.file, error: i.error.message })) }, null, 2));
    else {
      for (const r of rows) console.log(`${r.name}\t${r.cniVersion}\t${r.plugins.join(',')}\t${r.file ?? ''}`);
      for (const i of invalid) console.error(`nsnet: ${i.error.message}`);
    }
    return 0;
  },
};

const validate: Command = {
  name: 'validate',
  summary: "check that every plugin of the network is found and supports the network's version; print the capabilities",
  operands: '<network>',
  flags: DIRS,
  async run(a) {
    console.log(JSON.stringify(await cniOf(a).validate(a.operands[0]!), null, 2));
    return 0;
  },
};

/** The runtime's commands of `nsnet cni`. */
export const runtimeCommands: Command[] = [add, del, check, status, gc, ls, validate];
