// A small argument parser with Docker's habits: flags before or between
// positionals, `--flag value` and `--flag=value`, repeatable flags, and
// everything after `--` passed through untouched.
import { ValidationError } from '../errors.js';

export interface FlagSpec {
  /** Flags that take a value; the first name is the key. Aliases like -h map to the key. */
  values?: Record<string, string[]>;
  /** Flags that take no value. */
  bools?: Record<string, string[]>;
  /** Value flags that may repeat (collected into arrays). */
  repeat?: string[];
}

export interface Parsed {
  pos: string[];
  opt: Record<string, string | boolean | string[]>;
  /** After `--`. */
  rest: string[];
}

export function parseArgs(argv: string[], spec: FlagSpec): Parsed {
  const alias = new Map<string, { key: string; value: boolean }>();
  for (const [key, names] of Object.entries(spec.values ?? {})) for (const n of names) alias.set(n, { key, value: true });
  for (const [key, names] of Object.entries(spec.bools ?? {})) for (const n of names) alias.set(n, { key, value: false });
  const repeat = new Set(spec.repeat ?? []);
  const out: Parsed = { pos: [], opt: {}, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.pos.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const f = alias.get(name);
    if (!f) throw new ValidationError('option', a, 'is not a known option (see --help)');
    if (!f.value) {
      out.opt[f.key] = true;
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new ValidationError('option', name, 'needs a value');
    if (repeat.has(f.key)) ((out.opt[f.key] ??= []) as string[]).push(v);
    else out.opt[f.key] = v;
  }
  return out;
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.opt[key];
  return typeof v === 'string' ? v : undefined;
}

export function list(p: Parsed, key: string): string[] {
  const v = p.opt[key];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** `key=value` pairs (for -o and --label). */
export function pairs(items: string[], field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const i = it.indexOf('=');
    if (i <= 0) throw new ValidationError(field, it, 'must be key=value');
    out[it.slice(0, i)] = it.slice(i + 1);
  }
  return out;
}
