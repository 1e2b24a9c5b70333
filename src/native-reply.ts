// The kernel's answer to a request, as every part of the addon's surface
// (rtnetlink in native.ts, nf_tables in native-nft.ts) returns it.

/** The kernel's answer to one request: errno 0 is success. */
export interface NativeReply {
  errno: number;
  message: string;
  offset: number | null;
}

export interface NativeList<T> extends NativeReply {
  items: T[];
}
