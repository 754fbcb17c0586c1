/**
 * Small statistics over samples: percentiles (nearest rank), median and spread.
 *
 * @module
 */

/** The centre and spread of a set of samples. */
export interface Summary {
  /** How many samples. */
  n: number;
  /** The median. */
  median: number;
  /** The smallest sample. */
  min: number;
  /** The largest sample. */
  max: number;
  /** The 25th percentile. */
  p25: number;
  /** The 75th percentile. */
  p75: number;
}

/**
 * The `p`th percentile by nearest rank: the smallest sample with at least `p`% of the samples at
 * or below it (so p99 of 100 samples is the 99th, not an interpolation).
 *
 * @param samples the samples, in any order
 * @param p the percentile, 0 to 100
 * @returns the percentile; `NaN` for no samples
 * @example
 * ```ts
 * percentile([5, 1, 3, 2, 4], 50); // 3
 * ```
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * Median, quartiles and range of the samples.
 *
 * @param samples the samples
 * @returns the summary
 * @example
 * ```ts
 * summarize([3, 1, 2]); // { n: 3, median: 2, min: 1, max: 3, p25: 1, p75: 3 }
 * ```
 */
export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    median: percentile(samples, 50),
    min: Math.min(...samples),
    max: Math.max(...samples),
    p25: percentile(samples, 25),
    p75: percentile(samples, 75),
  };
}
