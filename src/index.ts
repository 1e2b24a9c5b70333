// nsnet: container networking for Node.js.
export { NsnetError, ValidationError } from './errors.js';
export { Netns, defaultRunDir, type CreateOptions, type NetnsOptions } from './netlink/netns.js';
export { Links, Addresses, Routes } from './netlink/objects.js';
export {
  Batch,
  type AddressOptions,
  type BridgeSpec,
  type LinkChange,
  type MacvlanMode,
  type MacvlanSpec,
  type RouteSpec,
  type VethSpec,
  type VxlanSpec,
} from './netlink/batch.js';
export type { Address, Link, Route } from './netlink/types.js';
export type { DevRef } from './native.js';

import { native, type NativeStats } from './native.js';
/**
 * How long the addon has held the JS thread: its longest wake-up (settling
 * finished operations and running their continuations). For monitoring.
 */
export function addonStats(reset = false): NativeStats {
  return native.stats(reset);
}
export type { NativeStats };
