// A namespace's file in a run dir, read without netlink: where run dirs
// are, whether a file is a mounted namespace, and which namespace it names.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/** NSNET_RUN_DIR, else /run/netns (where `ip netns` looks). */
export function defaultRunDir(): string {
  return process.env.NSNET_RUN_DIR || '/run/netns';
}

/**
 * Whether a namespace file is mounted: it exists and is not on its
 * directory's filesystem. A file left where a mount was (a create cut
 * short, an unmount from outside) is not.
 */
export function isMounted(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

/** The "dev:ino" of the namespace a path names now (as Netns.id says it), or null when there is none. */
export function netnsIdAt(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}
