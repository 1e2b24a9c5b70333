// What a front door may add to a sandbox's end. A sandbox whose network came
// from outside the Controller (a CNI network, say) must have that network
// taken down before its namespace goes, by whichever process deletes it and
// by reconcile when its namespace vanished. The front door registers a hook
// once; every Controller opened after that runs it (or, with
// ControllerOptions.hooks, the hooks given instead).
import type { Netns } from '../netlink/netns.js';
import type { SandboxRecord } from '../store/store.js';

export interface SandboxHook {
  /** Names the hook in teardown errors. */
  readonly name: string;
  /**
   * Runs while the sandbox's record still exists and before its namespace
   * is released, on every delete (reconcile's included). `netnsGone`: its
   * namespace is no longer mounted. A throw is a failed teardown step: the
   * delete goes on and reports it. `host` is the Controller's host namespace.
   */
  beforeDelete(sb: SandboxRecord, host: Netns, o: { netnsGone: boolean }): Promise<void>;
}

const registered: SandboxHook[] = [];

/** Adds a hook to the ones every Controller opened from now on runs (once per name). */
export function registerSandboxHook(h: SandboxHook): void {
  if (!registered.some((r) => r.name === h.name)) registered.push(h);
}

/** The registered hooks, for a Controller that is given none. */
export function defaultSandboxHooks(): SandboxHook[] {
  return [...registered];
}
