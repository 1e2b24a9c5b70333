// Docker's plugin protocol, as a network or IPAM plugin speaks it: each
// call is an HTTP POST to /<Interface>.<Method> with a JSON body (possibly
// empty), answered with JSON in Docker's plugin content type. A call the
// plugin cannot complete answers {"Err": "..."} with a non-200 status; an
// unknown method answers 404, which libnetwork reads as "not implemented"
// where a method is optional (ProgramExternalConnectivity). Every field a
// handler reads goes through the readers below, so a malformed request is
// refused (400) before the Controller is called.
import type { Controller } from '../cnm/controller.js';

/** What replies carry as Content-Type; Docker sends `Accept: application/vnd.docker.plugins.v1.2+json`. */
export const CONTENT_TYPE = 'application/vnd.docker.plugins.v1+json';

/** A call refused with an HTTP status and the text of its {"Err": ...}. */
export class PluginError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

/** A request Docker would not send: malformed, or a field of the wrong type (400). */
export const badRequest = (why: string) => new PluginError(400, why);

export type Body = Record<string, unknown>;

/** The JSON body of a call: {} when empty; a 400 when it is not a JSON object. */
export function parseBody(raw: string): Body {
  if (raw.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw badRequest(`the request is not JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('the request is not a JSON object');
  return v as Body;
}

/** Readers of a body's fields: absent (or null, as Go encodes a nil map) gives the default; a wrong type is a 400. */
export const read = {
  str(b: Body, k: string, required = true): string {
    const v = b[k];
    if (v === undefined || v === null || v === '') {
      if (required) throw badRequest(`${k} is missing`);
      return '';
    }
    if (typeof v !== 'string') throw badRequest(`${k} must be a string`);
    return v;
  },
  bool(b: Body, k: string): boolean {
    const v = b[k];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw badRequest(`${k} must be true or false`);
    return v;
  },
  obj(b: Body, k: string): Body {
    const v = b[k];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${k} must be an object`);
    return v as Body;
  },
  list(b: Body, k: string): Body[] {
    const v = b[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== 'object' || Array.isArray(x))) throw badRequest(`${k} must be a list of objects`);
    return v as Body[];
  },
  /** A map of strings (Docker's driver and IPAM options). */
  strings(b: Body, k: string): Record<string, string> {
    const o = read.obj(b, k);
    for (const [key, v] of Object.entries(o)) if (typeof v !== 'string') throw badRequest(`${k}.${key} must be a string`);
    return o as Record<string, string>;
  },
};

/** Docker's object ids: 64 hex digits (stringid.GenerateRandomID). */
export function dockerId(b: Body, k: string): string {
  const v = read.str(b, k);
  if (!/^[0-9a-f]{64}$/.test(v)) throw badRequest(`${k} ${JSON.stringify(v)} is not a Docker id (64 hex digits)`);
  return v;
}

/** One method: the body in, the reply out (a PluginError or an nsnet error refuses the call). */
export type Method = (c: Controller, body: Body) => Promise<object>;
