// The front doors the daemon can serve, by name. A protocol (CNI, DNS,
// Docker's plugin API) is a module of its own and one entry here.
import { DockerDoor } from '../docker/door.js';
import { CniDoor } from './cni.js';
import { DnsDoor, defaultDnsSocket } from './dns.js';
import type { FrontDoor } from './frontdoor.js';

/** The CNI shim's socket, where `nsnet cni install` tells the shim to look. */
export const DEFAULT_CNI_SOCKET = '/run/nsnet/cni.sock';

export interface DoorOptions {
  /** Where the CNI front door listens; null: not served. */
  cniSocket?: string | null;
  /** Where Docker's plugin calls arrive (src/docker); absent or null: not served. */
  dockerSocket?: string | null;
  /** Where the DNS front door listens (default NSNET_DNS_SOCKET, else /run/nsnet/dns.sock); null: the daemon serves no names. */
  dnsSocket?: string | null;
}

export function frontDoors(o: DoorOptions = {}): FrontDoor[] {
  const doors: FrontDoor[] = [];
  // First: names are served before any other door makes a sandbox.
  if (o.dnsSocket !== null) doors.push(new DnsDoor(o.dnsSocket ?? defaultDnsSocket()));
  if (o.cniSocket !== null) doors.push(new CniDoor(o.cniSocket ?? DEFAULT_CNI_SOCKET));
  if (o.dockerSocket) doors.push(new DockerDoor(o.dockerSocket));
  return doors;
}
