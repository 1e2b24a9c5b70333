// Commands and their flags, declared once: node:util's parseArgs splits the
// command line into tokens, parse() checks them against the declarations,
// and usage.ts prints the help from the same declarations.
import { parseArgs } from 'node:util';

import { NsnetError, ValidationError } from '../errors.js';

export interface Flag {
  /** The long name, without dashes; handlers read the value under it. */
  name: string;
  /** One character: `p` for `-p`. */
  short?: string;
  /** Other long names for the same flag (Docker's `--network` for `--net`). */
  aliases?: string[];
  /** The value's placeholder in the usage (`CIDR`); a flag without one takes no value. */
  value?: string;
  /** Each use adds to a list instead of replacing the value. */
  repeat?: boolean;
  help: string;
}

export interface Command {
  name: string;
  /** Other names for it (`list` for `ls`). */
  aliases?: string[];
  summary: string;
  /** The operands as the usage shows them (`<name>`, `<name|id>...`, `[<x>]`); their count is checked against this. */
  operands?: string;
  /** After the operands comes a command that gets every argument that follows, flags included (`run`, `exec`). */
  command?: boolean;
  flags?: Flag[];
  /** Whether it needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN); default true. */
  privileged?: boolean;
  run(a: Args): Promise<number>;
}

/** A flag that acts on its own, with no command (`nsnet --version`). */
export interface Action extends Flag {
  run(): Promise<number>;
}

export interface Group {
  name: string;
  summary: string;
  commands: (Command | Group)[];
  /** What runs when no command of the group is named (`nsnet link` is `nsnet link ls`). */
  default?: Command;
  /** Flags the group itself takes. */
  actions?: Action[];
}

/** A command line that does not fit the definitions (exit code 2); `path` names the command whose --help to read ('' for nsnet itself). */
export class UsageError extends NsnetError {
  constructor(message: string, readonly path: string) {
    super(message, { code: 'ERR_NSNET_USAGE', op: 'parse', object: path });
    this.name = 'UsageError';
  }
}

const HELP: Flag = { name: 'help', short: 'h', help: 'print this help' };

/** A command's flags and --help; -h means help too unless the command gives it another meaning (`run -h` is the hostname, as in Docker). */
export function flagsOf(c: { flags?: Flag[] }): Flag[] {
  const own = c.flags ?? [];
  if (!own.some((f) => f.short === 'h')) return [...own, HELP];
  return [...own, { name: HELP.name, help: HELP.help }];
}

/** How many operands a usage string such as `<network> [<sandbox>...]` allows. */
export function arity(operands = ''): { min: number; max: number } {
  const words = operands.split(/\s+/).filter(Boolean);
  return {
    min: words.filter((w) => !w.startsWith('[')).length,
    max: words.some((w) => w.includes('...')) ? Infinity : words.length,
  };
}

type Value = string | string[] | true;

/** What the command line said, read through accessors that refuse a flag the command does not declare. */
export class Args {
  constructor(
    /** The command as messages name it: `network create`. */
    readonly path: string,
    readonly operands: string[],
    /** For a command that runs one (`run`, `exec`): it and its arguments, untouched. */
    readonly command: string[],
    private readonly values: Map<string, Value>,
    private readonly declared: Set<string>,
  ) {}

  bool(name: string): boolean {
    return this.get(name) === true;
  }

  str(name: string): string | undefined {
    const v = this.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.get(name);
    return Array.isArray(v) ? v : [];
  }

  private get(name: string): Value | undefined {
    if (!this.declared.has(name)) throw new Error(`'${this.path}' declares no flag --${name}`);
    return this.values.get(name);
  }
}

/** Parses argv for c; `command: 'optional'` reads a command after the operands as `true` does, but needs none. */
export function parse(c: { flags?: Flag[]; operands?: string; command?: boolean | 'optional' }, argv: string[], path: string): Args {
  const name = path || 'nsnet';
  const flags = flagsOf(c);
  const byName = new Map<string, Flag>();
  for (const f of flags) for (const n of [f.name, ...(f.aliases ?? [])]) byName.set(n, f);
  const options = Object.fromEntries(
    flags.flatMap((f) => [f.name, ...(f.aliases ?? [])].map((n) => [n, { type: f.value ? 'string' : 'boolean', ...(n === f.name && f.short ? { short: f.short } : {}) }] as const)),
  );
  // Not strict: an unknown flag becomes a token, so the error can name it and the command it was given to.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const { min, max } = arity(c.operands);
  const operands: string[] = [];
  const values = new Map<string, Value>();
  let cut = argv.length;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      if (c.command && operands.length === max) {
        cut = t.index;
        break;
      }
      operands.push(t.value);
      continue;
    }
    const f = byName.get(t.name);
    if (!f) throw new UsageError(`unknown flag ${t.rawName} for '${name}'`, path);
    if (!f.value && t.value !== undefined) throw new UsageError(`flag ${t.rawName} takes no value`, path);
    if (f.value && t.value === undefined) throw new UsageError(`flag ${t.rawName} needs a value (${f.value})`, path);
    if (!f.value) values.set(f.name, true);
    else if (f.repeat) values.set(f.name, [...((values.get(f.name) as string[] | undefined) ?? []), t.value!]);
    else values.set(f.name, t.value!);
  }
  const a = new Args(path, operands, argv.slice(cut), values, new Set(flags.map((f) => f.name)));
  if (a.bool('help')) return a;
  if (operands.length < min) throw new UsageError(`'${name}' needs ${c.operands}`, path);
  if (operands.length > max) throw new UsageError(`'${name}' takes ${max ? c.operands : 'no operands'}; unexpected '${operands[max]}'`, path);
  if (c.command === true && !a.command.length) throw new UsageError(`'${name}' needs a command to run`, path);
  return a;
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
