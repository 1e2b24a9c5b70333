// The help text, printed from the definitions the parser reads, so a flag
// cannot be accepted without being documented or documented without being
// accepted.
import { flagsOf, type Command, type Flag, type Group } from './args.js';

export const isGroup = (n: Command | Group): n is Group => 'commands' in n;

/** What follows a command's flags in its usage line. */
function operands(c: Command): string {
  return [c.operands, c.command ? '[--] <cmd> [args...]' : ''].filter(Boolean).join(' ');
}

function columns(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`).join('\n');
}

function flagRow(f: Flag): [string, string] {
  const names = [...(f.short ? [`-${f.short}`] : []), ...[f.name, ...(f.aliases ?? [])].map((n) => `--${n}`)];
  // Long names line up whether or not a short form precedes them.
  const left = `${f.short ? '' : '    '}${names.join(', ')}${f.value ? ` ${f.value}` : ''}`;
  return [left, `${f.help}${f.repeat ? ' (repeatable)' : ''}`];
}

/** The first line of a command's or group's help, which usage errors repeat. */
export function usageLine(n: Command | Group, path: string): string {
  if (isGroup(n)) return `usage: nsnet ${path ? `${path} ` : ''}<command> [flags]`;
  const tail = operands(n);
  return `usage: nsnet ${path} [flags]${tail ? ` ${tail}` : ''}`;
}

export function commandHelp(c: Command, path: string): string {
  const also = c.aliases?.length ? `\nalso: ${c.aliases.map((a) => `nsnet ${[...path.split(' ').slice(0, -1), a].join(' ')}`).join(', ')}\n` : '';
  return `${usageLine(c, path)}

${c.summary}
${also}
flags:
${columns(flagsOf(c).map(flagRow))}
`;
}

/** Every command below a group, named from the group down (`network create <name>`). */
function leaves(g: Group, prefix: string[]): [string, string][] {
  return g.commands.flatMap((c): [string, string][] => {
    const path = [...prefix, c.name];
    if (isGroup(c)) return leaves(c, path);
    return [[[...path, operands(c)].filter(Boolean).join(' '), c.summary]];
  });
}

export function groupHelp(g: Group, path: string): string {
  return `${usageLine(g, path)}

${g.summary}

commands:
${columns(leaves(g, []))}

flags:
${columns(flagsOf({ flags: g.actions ?? [] }).map(flagRow))}

Run 'nsnet ${path ? `${path} ` : ''}<command> --help' for a command's flags.
`;
}
