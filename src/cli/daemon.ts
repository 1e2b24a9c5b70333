// nsnet daemon: the long-running process that serves the CNI shim, the
// sandboxes' names and Docker's plugin API from one Controller.
import { runDaemon } from '../daemon/daemon.js';
import { DEFAULT_CNI_SOCKET, frontDoors } from '../daemon/doors.js';
import { DEFAULT_DOCKER_SOCKET } from '../docker/door.js';
import { defaultDnsSocket } from '../dns/protocol.js';
import { ValidationError } from '../errors.js';
import type { Command } from './args.js';
import { CNM_FLAGS } from './common.js';

export const daemon: Command = {
  name: 'daemon',
  summary: 'serve nsnet to CNI runtimes (through the nsnet plugin), names to the sandboxes, and Docker (as its nsnet plugin) until SIGTERM',
  flags: [
    { name: 'cni-socket', value: 'PATH', help: `where the CNI plugin's calls arrive (default ${DEFAULT_CNI_SOCKET})` },
    { name: 'dns-socket', value: 'PATH', help: `where other nsnet processes tell it of their sandboxes (default NSNET_DNS_SOCKET, else ${defaultDnsSocket()})` },
    { name: 'no-dns', help: 'serve no names: sandboxes get the host\'s resolvers' },
    { name: 'docker', help: `serve Docker as its network and IPAM plugin nsnet, at ${DEFAULT_DOCKER_SOCKET}` },
    { name: 'docker-socket', value: 'PATH', help: "where Docker's plugin calls arrive (implies --docker)" },
    { name: 'docker-user', help: "keep rules in iptables' DOCKER-USER chain that let nsnet's networks through dockerd's FORWARD drop" },
    { name: 'firewall', value: 'KIND', help: 'nftables (default) or none' },
    { name: 'pool-size', value: 'N', help: 'keep N namespaces ready per pooled network, plugged into it (default 0: no pool); SIGUSR1 logs the pools\' figures' },
    { name: 'pool-network', value: 'NAME', repeat: true, help: "a network whose sandboxes come from the pool (repeatable; default '*': every bridge network)" },
    { name: 'advertise-addr', value: 'IP', help: "this host's underlay address, where other hosts send VXLAN (default NSNET_ADVERTISE_ADDR, else the address etcd is reached from)" },
    { name: 'host-ttl', value: 'SECONDS', help: "how long this host's endpoints outlive it in the global store (default NSNET_HOST_TTL, else 15)" },
    ...CNM_FLAGS,
  ],
  async run(a) {
    const firewall = a.str('firewall');
    if (firewall !== undefined && firewall !== 'nftables' && firewall !== 'none') throw new ValidationError('--firewall', firewall, 'must be nftables or none');
    const size = a.str('pool-size');
    if (size !== undefined && !/^\d+$/.test(size)) throw new ValidationError('--pool-size', size, 'must be a whole number');
    const pooled = a.list('pool-network');
    if (pooled.length && !(size && Number(size) > 0)) throw new ValidationError('--pool-network', pooled.join(','), 'needs --pool-size');
    const ttl = a.str('host-ttl');
    if (ttl !== undefined && !/^\d+$/.test(ttl)) throw new ValidationError('--host-ttl', ttl, 'must be a whole number of seconds');
    const globalStore = a.str('global-store') || process.env.NSNET_GLOBAL_STORE;
    return runDaemon({
      ...(size && Number(size) > 0 ? { pool: { size: Number(size), networks: pooled.length ? pooled : ['*'] } } : {}),
      doors: frontDoors({
        ...(a.str('cni-socket') ? { cniSocket: a.str('cni-socket')! } : {}),
        ...(a.bool('no-dns') ? { dnsSocket: null } : a.str('dns-socket') ? { dnsSocket: a.str('dns-socket')! } : {}),
        dockerSocket: a.str('docker-socket') ?? (a.bool('docker') ? DEFAULT_DOCKER_SOCKET : null),
      }),
      dockerUser: a.bool('docker-user'),
      ...(a.str('state-dir') ? { stateDir: a.str('state-dir')! } : {}),
      ...(a.str('run-dir') ? { runDir: a.str('run-dir')! } : {}),
      ...(firewall ? { firewall } : {}),
      ...(globalStore ? { globalStore } : {}),
      ...(a.str('advertise-addr') ? { advertise: a.str('advertise-addr')! } : {}),
      ...(ttl ? { hostTtl: Number(ttl) } : {}),
    });
  },
};
