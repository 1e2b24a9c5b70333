// nsnet daemon: the long-running process that serves the CNI shim and the
// sandboxes' names (and later Docker's plugin API) from one Controller.
import { runDaemon } from '../daemon/daemon.js';
import { DEFAULT_CNI_SOCKET, frontDoors } from '../daemon/doors.js';
import { defaultDnsSocket } from '../dns/protocol.js';
import { ValidationError } from '../errors.js';
import type { Command } from './args.js';
import { CNM_FLAGS } from './common.js';

export const daemon: Command = {
  name: 'daemon',
  summary: "serve nsnet to CNI runtimes (through the nsnet plugin) and names to the sandboxes until SIGTERM",
  flags: [
    { name: 'cni-socket', value: 'PATH', help: `where the CNI plugin's calls arrive (default ${DEFAULT_CNI_SOCKET})` },
    { name: 'dns-socket', value: 'PATH', help: `where other nsnet processes tell it of their sandboxes (default NSNET_DNS_SOCKET, else ${defaultDnsSocket()})` },
    { name: 'no-dns', help: 'serve no names: sandboxes get the host\'s resolvers' },
    { name: 'firewall', value: 'KIND', help: 'nftables (default) or none' },
    ...CNM_FLAGS,
  ],
  async run(a) {
    const firewall = a.str('firewall');
    if (firewall !== undefined && firewall !== 'nftables' && firewall !== 'none') throw new ValidationError('--firewall', firewall, 'must be nftables or none');
    return runDaemon({
      doors: frontDoors({
        ...(a.str('cni-socket') ? { cniSocket: a.str('cni-socket')! } : {}),
        ...(a.bool('no-dns') ? { dnsSocket: null } : a.str('dns-socket') ? { dnsSocket: a.str('dns-socket')! } : {}),
      }),
      ...(a.str('state-dir') ? { stateDir: a.str('state-dir')! } : {}),
      ...(a.str('run-dir') ? { runDir: a.str('run-dir')! } : {}),
      ...(firewall ? { firewall } : {}),
    });
  },
};
