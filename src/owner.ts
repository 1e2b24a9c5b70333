// Who made a kernel object. Every store has an id (made once, kept in the
// store), and what nsnet makes for a store carries it, in a way that lasts
// as long as the object: an interface's alias (bridges, host-side veths,
// and lo inside a sandbox's namespace name the store and the object), an
// nf_tables element's comment (the store). So each store's reconcile, GC and
// teardown can tell its own objects from another store's and from nobody's
// (an older nsnet's, untagged, or someone else's that only looks like ours).
// `ip -j link` shows the alias as ifalias, `nft list` the comment.

const PREFIX = 'nsnet';
const STORE_ID = /^[0-9a-f]{16}$/;

/** The tag of what store `store` makes: `nsnet <store>` or, naming the object, `nsnet <store> <objectId>`. */
export function ownerTag(store: string, objectId?: string): string {
  return objectId ? `${PREFIX} ${store} ${objectId}` : `${PREFIX} ${store}`;
}

/** The store an alias or comment names, or null when it is no nsnet tag. */
export function ownerOf(text: string | null | undefined): string | null {
  if (!text) return null;
  const [prefix, store] = text.split(' ');
  return prefix === PREFIX && store !== undefined && STORE_ID.test(store) ? store : null;
}

/** Whose an object is, as seen by store `me`. */
export type Ownership = 'mine' | 'other' | 'nobody';

export function ownership(me: string, text: string | null | undefined): Ownership {
  const o = ownerOf(text);
  return o === null ? 'nobody' : o === me ? 'mine' : 'other';
}
