/**
 * The few statistics the benchmark reports. Pure, so the numbers in the report can be checked by
 * unit tests rather than trusted.
 */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Nearest-rank percentile: the value below which p% of the samples fall; undefined without samples. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/**
 * The ratio of an approach to the baseline, taken pair by pair: repetition i of one against
 * repetition i of the other, then the median of those ratios. Both ran back to back, so a noisy
 * moment on a shared machine slows both and cancels out, which a ratio of medians does not do.
 */
export function pairedRatio(values: readonly number[], baseline: readonly number[]): number {
  const ratios: number[] = [];
  values.forEach((v, i) => {
    const b = baseline[i];
    if (b !== undefined && b > 0) ratios.push(v / b);
  });
  return median(ratios);
}
