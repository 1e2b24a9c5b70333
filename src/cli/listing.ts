// `ls` as docker's ls commands do it: a table, or only the IDs (-q), or each
// row through a format ('{{.Name}}', 'table {{.ID}}\t{{.Name}}', 'json'),
// after --filter key=value (values of one key widen the match, keys narrow
// it). The format language is docker's `{{.Field}}` placeholders alone: no
// Go template engine behind it.
import { ValidationError } from '../errors.js';
import { pairs } from './args.js';

export interface Field<I> {
  /** The table's heading for it. */
  heading: string;
  value(i: I, full: boolean): string;
}

export interface Listing<I> {
  /** By the names --format uses (`Name` for `{{.Name}}`); `ID` is what -q prints. */
  fields: Record<string, Field<I>>;
  /** The table's columns when no --format names others. */
  columns: string[];
  /** --filter keys: whether an object matches one value of the key. */
  filters: Record<string, (i: I, value: string) => boolean>;
}

/** What every listed object has. */
interface Listed {
  id: string;
  name: string;
  labels: Record<string, string>;
  created: string;
}

/** The fields and filters of what every object has, under docker's names. */
export function common<I extends Listed>(idHeading: string): Pick<Listing<I>, 'fields' | 'filters'> {
  return {
    fields: {
      ID: { heading: idHeading, value: (i, full) => (full ? i.id : i.id.slice(0, 12)) },
      Name: { heading: 'NAME', value: (i) => i.name },
      Labels: { heading: 'LABELS', value: (i) => Object.entries(i.labels).map(([k, v]) => `${k}=${v}`).join(',') },
      CreatedAt: { heading: 'CREATED AT', value: (i) => i.created },
    },
    filters: {
      name: (i, v) => pattern(v).test(i.name),
      id: (i, v) => i.id.startsWith(v),
      label: (i, v) => hasLabel(i.labels, v),
    },
  };
}

/** Prints rows as aligned columns (docker ls style), a heading row first. */
export function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]! + 3))).join(''));
}

/** A `--filter name=` value: a regular expression matched anywhere, as docker matches it. */
function pattern(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch {
    throw new ValidationError('--filter', value, 'is not a regular expression');
  }
}

/** The labels filter of docker: `label=key` has the key, `label=key=value` has that value. */
function hasLabel(labels: Record<string, string>, value: string): boolean {
  const i = value.indexOf('=');
  return i < 0 ? Object.hasOwn(labels, value) : labels[value.slice(0, i)] === value.slice(i + 1);
}

function select<I>(l: Listing<I>, items: I[], filters: string[]): I[] {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const [key, value] = Object.entries(pairs([f], '--filter'))[0]!;
    if (!Object.hasOwn(l.filters, key)) throw new ValidationError('--filter', f, `'${key}' is not a filter here (${Object.keys(l.filters).join(', ')})`);
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  return items.filter((i) => [...byKey].every(([key, values]) => values.some((v) => l.filters[key]!(i, v))));
}

/** A format's rows: each `{{.Field}}` replaced by that field's value (or its heading, for the table's heading row). */
function compile<I>(l: Listing<I>, format: string): (i: I | null, full: boolean) => string {
  const parts = format.replace(/\\t/g, '\t').replace(/\\n/g, '\n').split(/(\{\{.*?\}\})/);
  const known = Object.keys(l.fields).map((f) => `{{.${f}}}`).join(' ');
  const pieces = parts.map((p) => {
    if (!p.startsWith('{{')) {
      if (p.includes('{{') || p.includes('}}')) throw new ValidationError('--format', format, `has an unclosed placeholder; it takes ${known}`);
      return () => p;
    }
    const m = /^\{\{\s*\.(\w+)\s*\}\}$/.exec(p);
    const f = m && Object.hasOwn(l.fields, m[1]!) ? l.fields[m[1]!]! : null;
    if (!f) throw new ValidationError('--format', format, `knows no ${p}; it takes ${known}, 'table ...' or 'json'`);
    return (i: I | null, full: boolean) => (i === null ? f.heading : f.value(i, full));
  });
  return (i, full) => pieces.map((p) => p(i, full)).join('');
}

export interface ListOptions {
  quiet: boolean;
  filters: string[];
  format: string | undefined;
  /** Whole IDs rather than their first 12 digits. */
  full: boolean;
  /** The objects as they are (their info), as one JSON array. */
  json: boolean;
}

/** Prints items as the options say. */
export function list<I>(l: Listing<I>, all: I[], o: ListOptions): void {
  const items = select(l, all, o.filters);
  if (o.json) {
    console.log(JSON.stringify(items, null, 2));
    return;
  }
  if (o.quiet) {
    for (const i of items) console.log(l.fields.ID!.value(i, o.full));
    return;
  }
  const format = o.format ?? 'table';
  if (format === 'json') {
    for (const i of items) console.log(JSON.stringify(Object.fromEntries(Object.entries(l.fields).map(([k, f]) => [k, f.value(i, o.full)]))));
    return;
  }
  if (!format.startsWith('table')) {
    const row = compile(l, format);
    for (const i of items) console.log(row(i, o.full));
    return;
  }
  const spec = format.slice('table'.length).trim() || l.columns.map((c) => `{{.${c}}}`).join('\t');
  const row = compile(l, spec);
  table([null, ...items].map((i) => row(i, o.full).split('\t')));
}
