/**
 * Runs each configuration once per round, starting each round one further
 * along the list, so that drift on the machine hits all alike and ratios
 * can be taken within a round. skip leaves a configuration out of a round
 * (a long one needs fewer); before runs ahead of each run (waiting for the
 * machine to go idle, showing progress). Returns, per round, each run's
 * figure by the configuration's label (its first element).
 */
export async function inRounds<C extends readonly [string, ...unknown[]], T>(
  cfgs: readonly C[],
  runs: number,
  o: { skip?: (c: C, round: number) => boolean; before?: (label: string, round: number) => Promise<void> },
  run: (c: C) => Promise<T>,
): Promise<Record<string, T>[]> {
  const rounds: Record<string, T>[] = [];
  for (let r = 0; r < runs; r++) {
    const round: Record<string, T> = {};
    for (let i = 0; i < cfgs.length; i++) {
      const c = cfgs[(i + r) % cfgs.length]!;
      if (o.skip?.(c, r)) continue;
      await o.before?.(c[0], r);
      round[c[0]] = await run(c);
    }
    rounds.push(round);
  }
  return rounds;
}
