/**
 * The benchmark's goals, judged from the figures (reported, never asserted: the figures are
 * noisy on a shared machine, so a miss is a finding to explain, not a failed build).
 *
 * @module
 */
import type { ColdStartResult } from "./cold_start.ts";
import type { WarmPathResult } from "./warm_path.ts";

/** One goal and how the run did. */
export interface Goal {
  /** What is measured. */
  name: string;
  /** The goal, in words. */
  target: string;
  /** The figure this run produced. */
  figure: string;
  /** Whether it was met. */
  met: boolean;
}

/** The most the function may add to the median request at concurrency 32, ms. */
export const OVERHEAD_BUDGET_MS = 2;

/**
 * Judges the goals.
 *
 * @param cold cold starts of `ours`, `ours-jwks` (with `SUPABASE_JWKS`), `anchor` and `baseline`
 * @param warm warm paths of `ours` and `anchor`
 * @returns the goals, in the order
 * @example
 * ```ts
 * judgeGoals(cold, warm).filter((goal) => !goal.met); // the misses
 * ```
 */
export function judgeGoals(
  cold: readonly ColdStartResult[],
  warm: readonly WarmPathResult[],
): Goal[] {
  const median = (name: string) => cold.find((result) => result.name === name)!.summary.median;
  const boot = (name: string) => cold.find((result) => result.name === name)!.listen.median;
  const vsBaseline = median("ours") / median("baseline");
  const vsAnchor = median("anchor") / median("ours");
  const ours = warm.find((result) => result.name === "ours")!;
  const anchor = warm.find((result) => result.name === "anchor")!;
  const jwksVsBaseline = median("ours-jwks") / median("baseline");
  const goals: Goal[] = [
    {
      name: "cold start with SUPABASE_JWKS vs supabase-js baseline",
      target: "ours-jwks ≤ 1.2× baseline",
      figure: `${jwksVsBaseline.toFixed(2)}× (${fixed(median("ours-jwks"))} vs ${
        fixed(median("baseline"))
      } ms); boot alone ${(boot("ours-jwks") / boot("baseline")).toFixed(2)}×`,
      met: jwksVsBaseline <= 1.2,
    },
    {
      name: "cold start, JWKS fetched, vs supabase-js baseline",
      target: "ours ≤ 1.3× baseline",
      figure: `${vsBaseline.toFixed(2)}× (${fixed(median("ours"))} vs ${
        fixed(median("baseline"))
      } ms); boot alone ${(boot("ours") / boot("baseline")).toFixed(2)}×`,
      met: vsBaseline <= 1.3,
    },
    {
      name: "cold start vs anchor",
      target: "anchor ≥ 3× ours",
      figure: `${vsAnchor.toFixed(2)}× (${fixed(median("anchor"))} vs ${
        fixed(median("ours"))
      } ms); boot alone ${(boot("anchor") / boot("ours")).toFixed(2)}×`,
      met: vsAnchor >= 3,
    },
    {
      name: "warm upstream round trips",
      target: "ours 2, anchor 3",
      figure: `ours ${ours.roundTrips}, anchor ${anchor.roundTrips}`,
      met: ours.roundTrips === 2 && anchor.roundTrips === 3,
    },
  ];
  for (const point of ours.points.filter((point) => point.connections === 32)) {
    goals.push({
      name: `handler overhead, c=32, +${point.latencyMs} ms per upstream call`,
      target: `p50 − upstream time < ${OVERHEAD_BUDGET_MS} ms`,
      figure: `${fixed(point.overheadMs)} ms (p50 ${fixed(point.p50Ms)} − upstream ${
        fixed(point.upstreamMs)
      })`,
      met: point.overheadMs < OVERHEAD_BUDGET_MS,
    });
  }
  return goals;
}

function fixed(ms: number): string {
  return ms.toFixed(1);
}
