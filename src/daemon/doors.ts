// The front doors the daemon can serve, by name. A new protocol (Docker's
// plugin API, DNS) is a module of its own and one entry here.
import { CniDoor } from './cni.js';
import type { FrontDoor } from './frontdoor.js';

/** The CNI shim's socket, where `nsnet cni install` tells the shim to look. */
export const DEFAULT_CNI_SOCKET = '/run/nsnet/cni.sock';

export interface DoorOptions {
  /** Where the CNI front door listens; null: not served. */
  cniSocket?: string | null;
}

export function frontDoors(o: DoorOptions = {}): FrontDoor[] {
  const doors: FrontDoor[] = [];
  if (o.cniSocket !== null) doors.push(new CniDoor(o.cniSocket ?? DEFAULT_CNI_SOCKET));
  return doors;
}
