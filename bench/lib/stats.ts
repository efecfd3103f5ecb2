/** Summary statistics of repeated runs. */

export interface Summary {
  /** Number of measured runs. */
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  /** Relative spread of the runs: (max - min) / median. */
  spread: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const med = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { n: values.length, median: med, min, max, mean, spread: med > 0 ? (max - min) / med : 0 };
}

/** a / b, or null when either is missing. */
export function ratio(a: number | undefined | null, b: number | undefined | null): number | null {
  if (a == null || b == null || b === 0) return null;
  return a / b;
}

/** The q-quantile (0..1) of values sorted ascending, by the nearest-rank method. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
