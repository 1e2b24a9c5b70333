// nsnet run, exec and sandbox ls|inspect|rm: Docker's container commands,
// for the network side of a container.
import type { Controller } from '../cnm/controller.js';
import type { SandboxInfo } from '../cnm/objects.js';
import { NsnetError, ValidationError } from '../errors.js';
import { formatPort, parsePort, parsePorts } from '../ports.js';
import { createSandbox } from '../modes.js';
import { SANDBOX_ENV, sandboxProcesses, stopProcesses } from '../processes.js';
import { pairs, UsageError, type Args, type Command, type Flag, type Group } from './args.js';
import { CNM_FLAGS, inspectCommand, lsCommand, rmCommand, userMessage, withController } from './common.js';
import { enter, spawned, waitExit } from './enter.js';
import { common, type Listing } from './listing.js';

function randomName(): string {
  return `sb-${Math.random().toString(36).slice(2, 10)}`;
}

/** -e KEY=VALUE sets, -e KEY passes this process's value on (or nothing, if it has none), as docker run -e does. */
function environment(items: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const it of items) {
    const i = it.indexOf('=');
    const key = i < 0 ? it : it.slice(0, i);
    if (!key || key.includes('\0')) throw new ValidationError('--env', it, 'must be KEY=VALUE or KEY');
    if (i >= 0) env[key] = it.slice(i + 1);
  }
  return env;
}

/**
 * -P: every --expose port on an ephemeral host port of its own, unless a
 * -p already publishes that container port (docker's rule). --expose alone
 * publishes nothing, as in docker, but its values are checked.
 */
function exposedPorts(a: Args): string[] {
  const net = a.str('net') ?? '';
  if (a.list('expose').length && net.startsWith('container:'))
    throw new ValidationError('--expose', a.list('expose'), `conflicting options: port exposing and the network mode ${net} (it shares that sandbox's)`);
  const exposed = a.list('expose').map((spec) => {
    const r = parsePort(spec, '--expose');
    if (r.hostIp !== null || r.hostPort !== null) throw new ValidationError('--expose', spec, 'takes a port or a range with an optional /protocol, no host part');
    return r;
  });
  if (!a.bool('publish-all')) return [];
  const published = parsePorts(a.list('publish'), '--publish');
  const covered = (proto: string, port: number) => published.some((p) => p.protocol === proto && p.containerPort <= port && port <= p.containerPortEnd);
  return exposed.flatMap((r) =>
    Array.from({ length: r.containerPortEnd - r.containerPort + 1 }, (_, i) => r.containerPort + i)
      .filter((port) => !covered(r.protocol, port))
      .map((port) => `${port}/${r.protocol}`),
  );
}

const ENV: Flag = { name: 'env', short: 'e', value: 'KEY[=VALUE]', repeat: true, help: "set a variable in the command's environment (KEY alone: this one's value)" };

export const run: Command = {
  name: 'run',
  summary: 'run a command in a new sandbox; it gets every argument after it, flags included',
  command: true,
  flags: [
    { name: 'net', aliases: ['network'], value: 'MODE', help: 'none, host, bridge (the default; also default), container:<name> or a network name' },
    { name: 'name', value: 'NAME', help: 'the sandbox name (default: a random one)' },
    { name: 'hostname', short: 'h', value: 'HOSTNAME', help: 'the hostname (default: the sandbox name)' },
    { name: 'dns', value: 'IP', repeat: true, help: 'a nameserver for resolv.conf' },
    { name: 'dns-search', value: 'DOMAIN', repeat: true, help: 'a search domain for resolv.conf' },
    { name: 'dns-option', aliases: ['dns-opt'], value: 'OPTION', repeat: true, help: 'an option for resolv.conf' },
    { name: 'add-host', value: 'NAME:IP', repeat: true, help: 'a line for /etc/hosts' },
    { name: 'ip', value: 'IP', help: 'the IPv4 address on the network' },
    { name: 'ip6', value: 'IP', help: 'the IPv6 address on the network' },
    { name: 'publish', short: 'p', value: 'SPEC', repeat: true, help: 'publish a port on the host: [hostIP:][hostPort[-end]:]port[-end][/tcp|udp|sctp]' },
    { name: 'publish-all', short: 'P', help: 'publish every --expose port on an ephemeral host port' },
    { name: 'force-publish', help: 'publish even where a host process listens on the port (its outside clients then reach the sandbox)' },
    { name: 'expose', value: 'PORT[-END][/PROTO]', repeat: true, help: 'a port -P publishes (alone it publishes nothing, as in docker)' },
    { name: 'mac-address', value: 'MAC', help: "the MAC address of the sandbox's interface" },
    { name: 'network-alias', aliases: ['net-alias'], value: 'NAME', repeat: true, help: "another name for the sandbox on a user-defined network (in its /etc/hosts)" },
    { name: 'sysctl', value: 'KEY=VALUE', repeat: true, help: "a net.* sysctl of the sandbox's namespace" },
    ENV,
    { name: 'detach', short: 'd', help: 'start the command in the background, print the sandbox id, keep the sandbox until sandbox rm (with --rm: until nsnet next runs after the command has exited)' },
    { name: 'rm', help: 'remove the sandbox when the command exits (the default without -d)' },
    { name: 'keep', help: 'keep the sandbox after the command exits (remove it with sandbox rm)' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      if (a.bool('rm') && a.bool('keep')) throw new UsageError('conflicting options: --rm and --keep', 'run');
      const env = environment(a.list('env'));
      const ports = [...a.list('publish'), ...exposedPorts(a)];
      const sysctls = pairs(a.list('sysctl'), '--sysctl');
      // What only the command keeps alive goes with it; if nsnet run is
      // killed (or -d --rm left it), the next reconcile removes it once
      // nothing runs in it.
      const keep = a.bool('keep') || (a.bool('detach') && !a.bool('rm'));
      const given = {
        hostname: a.str('hostname'), ip: a.str('ip'), ip6: a.str('ip6'), mac: a.str('mac-address'),
        ...(ports.length ? { ports } : {}),
        ...(a.bool('force-publish') ? { forcePublish: true } : {}),
        ...(a.list('network-alias').length ? { aliases: a.list('network-alias') } : {}),
        ...(Object.keys(sysctls).length ? { sysctls } : {}),
        ...(keep ? {} : { transient: true }),
      };
      const sb = await createSandbox(c, {
        name: a.str('name') ?? randomName(),
        mode: a.str('net') ?? 'bridge',
        dns: a.list('dns'),
        dnsSearch: a.list('dns-search'),
        dnsOptions: a.list('dns-option'),
        extraHosts: a.list('add-host'),
        ...Object.fromEntries(Object.entries(given).filter(([, x]) => x !== undefined)),
      });
      // What runs carries the sandbox's id, so rm -f finds it wherever it runs (a shared or the host's namespace).
      env[SANDBOX_ENV] = sb.id;
      if (a.bool('detach')) {
        try {
          await spawned(enter(await sb.info(), a.command, env, { detach: true }));
        } catch (e) {
          await sb.delete({ force: true }).catch(() => {});
          throw e;
        }
        console.log(sb.id);
        return 0;
      }
      try {
        return await waitExit(enter(await sb.info(), a.command, env));
      } finally {
        // Gone already if sandbox rm -f stopped the command.
        if (!keep)
          await sb.delete({ force: true }).catch((e: NsnetError) => e.code === 'ERR_NSNET_NOT_FOUND' || console.error(`nsnet: ${userMessage(e)}`));
      }
    }),
};

export const exec: Command = {
  name: 'exec',
  summary: "run a command in a sandbox's namespaces; it gets every argument after it, flags included",
  operands: '<name>',
  command: true,
  flags: [ENV, ...CNM_FLAGS],
  async run(a) {
    const env = environment(a.list('env'));
    // The controller closes before the command starts: it may run for long.
    const info = await withController(a, async (c) => (await c.sandbox(a.operands[0]!)).info());
    return waitExit(enter(info, a.command, { ...env, [SANDBOX_ENV]: info.id }));
  },
};

const base = common<SandboxInfo>('SANDBOX ID');
const sandboxes: Listing<SandboxInfo> = {
  fields: {
    ...base.fields,
    Names: { heading: 'NAMES', value: (i) => i.name },
    Namespace: { heading: 'NAMESPACE', value: (i) => (i.kind === 'container' ? `container:${i.owner}` : i.kind) },
    Networks: { heading: 'NETWORKS', value: (i) => i.endpoints.map((e) => e.network).join(',') },
    Addresses: { heading: 'ADDRESSES', value: (i) => i.endpoints.flatMap((e) => e.addresses).join(',') },
    Ports: { heading: 'PORTS', value: (i) => i.endpoints.flatMap((e) => e.ports.filter((p) => !p.standby).map(formatPort)).join(', ') },
    Hostname: { heading: 'HOSTNAME', value: (i) => i.hostname },
  },
  columns: ['ID', 'Name', 'Namespace', 'Networks', 'Addresses', 'Ports'],
  filters: {
    ...base.filters,
    network: (i, v) => i.endpoints.some((e) => e.network === v || e.networkId.startsWith(v)),
  },
};

const ls = lsCommand('sandboxes', (c) => c.sandboxes(), sandboxes);

const inspect = inspectCommand('sandboxes', (c, n) => c.sandbox(n));

/**
 * Removes a sandbox, as docker rm does a container: refused while something
 * runs in it; with -f what runs is stopped first (SIGTERM, then SIGKILL
 * after --time seconds), and the sandboxes sharing its namespace go too.
 */
async function remove(c: Controller, name: string, a: Args): Promise<void> {
  const sb = await c.sandbox(name);
  const force = a.bool('force');
  const time = a.str('time') ?? '10';
  if (!/^\d+$/.test(time)) throw new ValidationError('--time', time, 'must be a whole number of seconds');
  const joiners = force && sb.kind === 'own' ? (await Promise.all((await c.sandboxes()).map((s) => s.info()))).filter((i) => i.kind === 'container' && i.owner === sb.name) : [];
  const procs = sandboxProcesses({ netnsPath: sb.kind === 'own' ? sb.netnsPath : null, ids: [sb.id, ...joiners.map((j) => j.id)] });
  if (procs.length && !force)
    throw NsnetError.state('ERR_NSNET_IN_USE', 'sandbox.delete', sb.name, `sandbox ${sb.name} has ${procs.length} running process(es) (pid ${procs.join(', ')}): stop them, or remove it with -f`);
  const left = await stopProcesses(procs, Number(time) * 1000);
  if (left.length) throw NsnetError.state('ERR_NSNET_IN_USE', 'sandbox.delete', sb.name, `sandbox ${sb.name}: process(es) ${left.join(', ')} did not stop on SIGKILL`);
  await sb.delete({ force });
}

const rm = rmCommand('sandboxes', 'stop what runs in them (SIGTERM, then SIGKILL) and remove the sandboxes sharing their namespace too', remove, [
  { name: 'time', short: 't', value: 'SECONDS', help: 'how long -f waits after SIGTERM before SIGKILL (default 10)' },
]);

export const sandbox: Group = {
  name: 'sandbox',
  summary: 'Manage sandboxes (the network side of containers), as docker container does.',
  commands: [ls, inspect, rm],
};
