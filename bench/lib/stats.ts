export interface Summary {
  median: number;
  min: number;
  max: number;
  mean: number;
  p99: number;
}

// Linear interpolation between closest ranks, so median and p99 of small
// samples do not jump between neighbours.
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (b - a) * (pos - lo);
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, mean: NaN, p99: NaN };
  const sorted = [...xs].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
    p99: quantile(sorted, 0.99),
  };
}

export type Cell = string | number;

/**
 * Renders rows as an aligned text table: numbers right-aligned with `digits`
 * decimals, text left-aligned, the header underlined.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[], digits = 3): string {
  // Columns holding only integers (counts) print without decimals.
  const integral = header.map((_, i) => rows.every((r) => typeof r[i] !== 'number' || Number.isInteger(r[i])));
  const text = rows.map((r) =>
    r.map((c, i) => (typeof c === 'number' ? (integral[i] ? String(c) : c.toFixed(digits)) : c)),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}
