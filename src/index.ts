// nsnet: container networking for Node.js.
export { NsnetError, TeardownError, ValidationError } from './errors.js';
export { Netns, defaultRunDir, type CreateOptions, type NetnsOptions } from './netlink/netns.js';
export { Links, Addresses, Routes, Neighbours, Fdb } from './netlink/objects.js';
export type { ListenOptions, Listening } from './netlink/sockets.js';
export {
  Batch,
  type AddressOptions,
  type BridgeSpec,
  type LinkChange,
  type AddrGenMode,
  type MacvlanMode,
  type MacvlanSpec,
  type NeighbourSpec,
  type FdbSpec,
  type Ipv4ConfKey,
  type RouteSpec,
  type VethSpec,
  type VxlanSpec,
} from './netlink/batch.js';
export type { Address, FdbEntry, Link, Neighbour, Route } from './netlink/types.js';
export type { SocketFilter, SocketInfo, SocketKind } from './netlink/socklist.js';
export { NetnsPool, type Claim, type NetnsPoolOptions, type PoolStats } from './netlink/pool.js';
export type { ResetResult } from './netlink/reset.js';
export { watch, Watcher, type WatchEvent, type WatchOptions } from './watch.js';
export { mirror, Mirror, type MirrorChange, type MirrorOptions } from './netlink/mirror.js';
export {
  Nftables, type ChainSpec, type CommitOptions, type CommitResult, type Element, type ElementsSpec, type Hook, type NftChain, type NftElement,
  type NftFamily, type NftOp, type NftRule, type NftSet, type NftTable, type NftVerb, type RuleSpec, type SetSpec, type TableSpec,
} from './netlink/nftables.js';
export { CT_STATE, CT_STATUS, REG, reg32, type CtKey, type Expr, type MetaKey, type Reg, type Verdict } from './netlink/nftexpr.js';
export type { NftType, NftValue } from './netlink/nftvalues.js';
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

export {
  Controller, type ControllerOptions, type ControllerEvent, type DeleteOptions, type DeleteReport, type PoolOptions,
  type ControllerPoolStats, type HostInfo, type DnsOptions, type EndpointOptions, type NetworkOptions, type SandboxOptions,
  type SandboxAttachment, type SubnetOptions,
} from './cnm/controller.js';
export { Network, Endpoint, Sandbox, type NetworkInfo, type NetworkSandbox, type EndpointInfo, type SandboxInfo, type NameResolution } from './cnm/objects.js';
export type { ReconcileOptions, ReconcileReport } from './cnm/reconcile.js';
export type { PublishOptions } from './cnm/ports.js';
export { createSandbox, defaultNetwork, parseMode, type Mode, type ModeOptions } from './modes.js';
export type { Driver, DriverContext, JoinOptions, OverlayContext, Peer } from './drivers/driver.js';
export type { Store, StoreTx, NetworkRecord, EndpointRecord, SandboxRecord, SubnetRecord, PortMapping } from './store/store.js';
export { SqliteStore } from './store/sqlite.js';
export { GlobalStore, type GlobalStoreOptions } from './store/global/store.js';
export type { HostRecord } from './store/global/keys.js';
export { parsePort, formatPort, type PortOptions, type PortRequest } from './ports.js';
export type { FirewallKind, FirewallReport } from './firewall/backend.js';

// CNI: nsnet as a runtime (libcni's part) for any plugin in CNI_PATH.
export { Cni, DEFAULT_PATH as CNI_DEFAULT_PATH, type CniOptions, type ValidAttachment } from './cni/runtime/cni.js';
export type { Attachment as CniAttachment } from './cni/runtime/attachment.js';
export type { NetworkConfigList, NetworkListing, PluginConfig } from './cni/runtime/config.js';
export type { CacheEntry as CniCacheEntry } from './cni/runtime/cache.js';
export type { CniCommand, VersionInfo as CniVersionInfo } from './cni/runtime/exec.js';
export { createCniSandbox, CNI_LABEL, type CniSandboxOptions } from './cni/runtime/sandbox.js';
export { CniError, ERR as CNI_ERRORS, type CniErrorContext } from './cni/errors.js';
export {
  CNI_VERSIONS,
  convertResult,
  decodeResult,
  type AnyCniResult,
  type CniDns,
  type CniErrorJson,
  type CniInterface,
  type CniIpConfig,
  type CniLegacyResult,
  type CniResult,
  type CniRoute,
} from './cni/types.js';
export { registerSandboxHook, type SandboxHook } from './cnm/hooks.js';
