// nsnet host ls: the hosts of the global store and their liveness (a host
// is listed while its lease lives; a dead one is gone within its TTL).
import type { HostInfo } from '../cnm/controller.js';
import type { Command, Group } from './args.js';
import { CNM_FLAGS, JSON_OUT, withController } from './common.js';
import { list, type Listing } from './listing.js';

const hosts: Listing<HostInfo> = {
  fields: {
    ID: { heading: 'HOST ID', value: (h) => h.id },
    Name: { heading: 'NAME', value: (h) => `${h.name}${h.self ? ' *' : ''}` },
    Address: { heading: 'ADDRESS', value: (h) => h.address },
    VtepMac: { heading: 'VTEP MAC', value: (h) => h.vtepMac },
    Endpoints: { heading: 'ENDPOINTS', value: (h) => String(h.endpoints) },
    TTL: { heading: 'LEASE TTL', value: (h) => (h.ttl === null ? '?' : `${h.ttl}s`) },
    Started: { heading: 'STARTED', value: (h) => h.started },
  },
  columns: ['ID', 'Name', 'Address', 'VtepMac', 'Endpoints', 'TTL'],
  filters: {
    name: (h, v) => h.name.includes(v),
    id: (h, v) => h.id.startsWith(v),
  },
};

const ls: Command = {
  name: 'ls',
  aliases: ['list'],
  summary: 'list the hosts of the global store (this one marked *) and the seconds left on their leases',
  flags: [
    { name: 'quiet', short: 'q', help: 'print only the IDs' },
    { name: 'filter', short: 'f', value: 'KEY=VALUE', repeat: true, help: 'keep only those that match (name, id)' },
    { name: 'format', value: 'FORMAT', help: `print each through a format (fields: ${Object.keys(hosts.fields).join(', ')})` },
    JSON_OUT,
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      if (!c.ctx.global) throw new Error('no global store: give --global-store, set NSNET_GLOBAL_STORE, or run nsnet daemon --global-store on this host');
      list(hosts, await c.hosts(), { json: a.bool('json'), quiet: a.bool('quiet'), filters: a.list('filter'), format: a.str('format'), full: true });
      return 0;
    }),
};

export const host: Group = {
  name: 'host',
  summary: 'The hosts of the global store (multi-host networks).',
  commands: [ls],
};
