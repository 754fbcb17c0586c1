/**
 * The benchmark's goals, judged from the figures (reported, never asserted: the figures are
 * noisy on a shared machine, so a miss is a finding to explain, not a failed build).
 *
 * @module
 */
import type { ColdStartResult } from "./cold_start.ts";
import type { WarmPathResult } from "./warm_path.ts";
import type { WebhookPoint } from "./webhooks.ts";

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

/** The most the p99 of a webhook delivery may take on PostgreSQL 15 at concurrency 32, ms. */
export const WEBHOOK_P99_BUDGET_MS = 100;

/**
 * Judges the webhook goal from the PostgreSQL 15 figures: at concurrency 32, p99 under
 * {@linkcode WEBHOOK_P99_BUDGET_MS} and no answer but a 2xx. Not measured is not met.
 *
 * @param postgres the webhook figures on PostgreSQL 15, or why they were not measured
 * @returns the goal
 * @example
 * ```ts
 * judgeWebhookGoal({ notMeasured: "skipped" }).met; // false
 * ```
 */
export function judgeWebhookGoal(
  postgres: { points: readonly WebhookPoint[] } | { notMeasured: string },
): Goal {
  const name = "webhooks on PostgreSQL 15, c=32";
  const target = `p99 < ${WEBHOOK_P99_BUDGET_MS} ms, no non-2xx`;
  if ("notMeasured" in postgres) {
    return { name, target, figure: `not measured (${postgres.notMeasured})`, met: false };
  }
  const point = postgres.points.find((point) => point.connections === 32);
  if (!point) return { name, target, figure: "no point at concurrency 32", met: false };
  const failed = point.non2xx + point.errors;
  return {
    name,
    target,
    figure: `p99 ${fixed(point.p99Ms)} ms, ${failed} non-2xx of ${point.responses}, ${
      point.perSecond.toFixed(0)
    } deliveries/s`,
    met: point.p99Ms < WEBHOOK_P99_BUDGET_MS && failed === 0 && point.responses > 0,
  };
}
