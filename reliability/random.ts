/**
 * Seeded randomness for the suites, so a failing order can be replayed with `RELIABILITY_SEED`.
 *
 * @module
 */
import { figure } from "./report.ts";

/**
 * A seeded pseudo-random generator (mulberry32), so a shuffled order can be replayed.
 *
 * @param seed any 32-bit integer
 * @returns a function giving numbers in [0, 1)
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // the same sequence on every run with seed 42
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The generator of a suite's run: seeded by `RELIABILITY_SEED`, else by the clock, its seed
 * reported as a figure so the run can be replayed.
 *
 * @param label the figure's label, before " (RELIABILITY_SEED to replay)"
 * @returns the generator
 * @example
 * ```ts
 * const random = await replayableRandom("teams: shuffle seed");
 * ```
 */
export async function replayableRandom(label: string): Promise<() => number> {
  const seed = Number(Deno.env.get("RELIABILITY_SEED") ?? Date.now() % 2 ** 31);
  await figure(`${label} (RELIABILITY_SEED to replay)`, String(seed));
  return seededRandom(seed);
}

/**
 * A shuffled copy (Fisher-Yates).
 *
 * @param items what to shuffle; left as it is
 * @param random the generator
 * @returns the items in a new order
 * @example
 * ```ts
 * shuffled([1, 2, 3], seededRandom(1)); // the same order on every run
 * ```
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const order = [...items];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
