// JSON as Go's encoding/json writes it: <, >, &, U+2028 and U+2029 escaped,
// and a decoded value (map[string]interface{}) with its keys in byte order
// at every level. libcni passes configurations and results through that
// round trip before a plugin sees them and before it writes its cache, so
// writing the same bytes here makes nsnet's stdin and cache files libcni's.
// Values a runtime hands libcni as Go structs (Podman's port mappings) keep
// their field order instead: `sorted` false writes objects as they are.

const ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

function str(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => ESCAPES[c]!);
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Go's json.Marshal of the value (as json.Unmarshal into interface{} would hold it, unless `sorted` is false). */
export function goJson(v: unknown, sorted = true): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      // Go and JavaScript both print the shortest round-trip form, switching
      // to exponents below 1e-6 and from 1e21 on, and write them alike.
      if (!Number.isFinite(v)) throw new TypeError(`JSON has no ${v}`);
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x) => goJson(x, sorted)).join(',')}]`;
      const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
      if (sorted) keys.sort(byBytes);
      return `{${keys.map((k) => `${str(k)}:${goJson((v as Record<string, unknown>)[k], sorted)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`JSON has no ${typeof v}`);
  }
}
