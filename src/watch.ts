// The public watch(): a namespace's events (netlink/watch.ts) merged with a
// Controller's sandbox, network and endpoint lifecycle. The merging lives
// here, above both layers, so that netlink knows nothing of the CNM layer.
import type { Controller, ControllerEvent } from './cnm/controller.js';
import type { Netns } from './netlink/netns.js';
import { Watcher as NetnsWatcher, type EventSource, type NetnsEvent, type WatchOptions as NetnsWatchOptions } from './netlink/watch.js';

export type WatchEvent =
  | NetnsEvent
  /** Sandbox, network and endpoint lifecycle from a Controller. */
  | ControllerEvent;

export interface WatchOptions extends Omit<NetnsWatchOptions<ControllerEvent>, 'sources'> {
  /** Lifecycle events of this controller's sandboxes, networks and endpoints. */
  controller?: Controller;
}

// Each watcher gets its own copy of an event, so one consumer's changes to
// it are not seen by another.
function lifecycle(c: Controller): EventSource<ControllerEvent> {
  return (push) => {
    const fn = (e: ControllerEvent) => push({ ...e });
    c.on('event', fn);
    return () => c.off('event', fn);
  };
}

/** See netlink/watch.ts's Watcher; `controller` merges in that controller's lifecycle. */
export class Watcher extends NetnsWatcher<ControllerEvent> {
  constructor(ns: Netns | null, opts: WatchOptions = {}) {
    const { controller, ...rest } = opts;
    super(ns, controller ? { ...rest, sources: [lifecycle(controller)] } : rest);
  }
}

/** Watches `ns` (see Watcher). Without options: links, addresses, routes and neighbours. */
export function watch(ns: Netns | null, opts?: WatchOptions): Watcher {
  return new Watcher(ns, opts);
}
