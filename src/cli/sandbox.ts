// nsnet run, exec and sandbox ls|inspect|rm: Docker's container commands,
// for the network side of a container.
import { formatPort } from '../ports.js';
import { createSandbox } from '../modes.js';
import type { Command, Group } from './args.js';
import { CNM_FLAGS, inspectCommand, lsCommand, rmCommand, withController } from './common.js';
import { enter, waitExit } from './enter.js';

function randomName(): string {
  return `sb-${Math.random().toString(36).slice(2, 10)}`;
}

export const run: Command = {
  name: 'run',
  summary: 'run a command in a new sandbox; it gets every argument after it, flags included',
  command: true,
  flags: [
    { name: 'net', aliases: ['network'], value: 'MODE', help: 'none, host, bridge (the default), container:<name> or a network name' },
    { name: 'name', value: 'NAME', help: 'the sandbox name (default: a random one)' },
    { name: 'hostname', short: 'h', value: 'HOSTNAME', help: 'the hostname (default: the sandbox name)' },
    { name: 'dns', value: 'IP', repeat: true, help: 'a nameserver for resolv.conf' },
    { name: 'dns-search', value: 'DOMAIN', repeat: true, help: 'a search domain for resolv.conf' },
    { name: 'dns-option', aliases: ['dns-opt'], value: 'OPTION', repeat: true, help: 'an option for resolv.conf' },
    { name: 'add-host', value: 'NAME:IP', repeat: true, help: 'a line for /etc/hosts' },
    { name: 'ip', value: 'IP', help: 'the IPv4 address on the network' },
    { name: 'ip6', value: 'IP', help: 'the IPv6 address on the network' },
    { name: 'publish', short: 'p', value: 'SPEC', repeat: true, help: 'publish a port on the host: [hostIP:][hostPort[-end]:]port[-end][/tcp|udp|sctp]' },
    { name: 'keep', help: 'keep the sandbox after the command exits (remove it with sandbox rm)' },
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const hostname = a.str('hostname');
      const ip = a.str('ip');
      const ip6 = a.str('ip6');
      const ports = a.list('publish');
      const sb = await createSandbox(c, {
        name: a.str('name') ?? randomName(),
        mode: a.str('net') ?? 'bridge',
        ...(hostname ? { hostname } : {}),
        dns: a.list('dns'),
        dnsSearch: a.list('dns-search'),
        dnsOptions: a.list('dns-option'),
        extraHosts: a.list('add-host'),
        ...(ip ? { ip } : {}),
        ...(ip6 ? { ip6 } : {}),
        ...(ports.length ? { ports } : {}),
      });
      try {
        return await waitExit(enter(await sb.info(), a.command));
      } finally {
        if (!a.bool('keep')) await sb.delete({ force: true }).catch((e: Error) => console.error(`nsnet: ${e.message}`));
      }
    }),
};

export const exec: Command = {
  name: 'exec',
  summary: "run a command in a sandbox's namespaces; it gets every argument after it, flags included",
  operands: '<name>',
  command: true,
  flags: CNM_FLAGS,
  async run(a) {
    // The controller closes before the command starts: it may run for long.
    const info = await withController(a, async (c) => (await c.sandbox(a.operands[0]!)).info());
    return waitExit(enter(info, a.command));
  },
};

const ls = lsCommand(
  'sandboxes',
  (c) => c.sandboxes(),
  [['id', 'SANDBOX ID'], ['name', 'NAME'], ['kind', 'NAMESPACE'], ['networks', 'NETWORKS'], ['addresses', 'ADDRESSES'], ['ports', 'PORTS']],
  (i) => ({
    id: i.id.slice(0, 12), name: i.name, kind: i.kind === 'container' ? `container:${i.owner}` : i.kind,
    networks: i.endpoints.map((e) => e.network).join(','), addresses: i.endpoints.flatMap((e) => e.addresses).join(','),
    ports: i.endpoints.flatMap((e) => e.ports.map(formatPort)).join(', '),
  }),
);

const inspect = inspectCommand('sandboxes', (c, n) => c.sandbox(n));

const rm = rmCommand('sandboxes', 'remove the sandboxes that share their namespace too', (c, n) => c.sandbox(n));

export const sandbox: Group = {
  name: 'sandbox',
  summary: 'Manage sandboxes (the network side of containers), as docker container does.',
  commands: [ls, inspect, rm],
};
