// "Did you mean …?" for names a user typed: a setting's env var, a metadata ConfigMap key.

/** Edits (insert, delete, substitute, swap of neighbours) that turn a into b. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

export interface ClosestOptions {
  /** The part of a name that counts (e.g. without a common prefix, case folded). */
  normalise?: (name: string) => string;
  /** The most edits still taken for a typo, given both normalised names. */
  limit: (own: string, theirs: string) => number;
}

/** The known name nearest to `name` within the limit, or undefined when none is near enough. */
export function closestName(name: string, known: readonly string[], { normalise = (s) => s, limit }: ClosestOptions): string | undefined {
  const own = normalise(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const theirs = normalise(candidate);
    const d = editDistance(own, theirs);
    if (d <= limit(own, theirs) && (!best || d < best.distance)) best = { name: candidate, distance: d };
  }
  return best?.name;
}
