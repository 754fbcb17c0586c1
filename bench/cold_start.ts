/**
 * Cold start: process start to first 200, several runs per target. One unmeasured start per
 * target comes first, so every measured run finds the module cache (`DENO_DIR`) and V8's code
 * cache warm, as a deployed function's repeated boots do; the runs then take turns between the
 * targets so a noisy neighbour hits all of them alike.
 *
 * @module
 */
import { startTarget, type Target } from "./process.ts";
import { summarize, type Summary } from "./stats.ts";

/** The cold starts of one target. */
export interface ColdStartResult {
  /** The target. */
  name: string;
  /** Every measured run, spawn to first 200, ms, in order. */
  runsMs: number[];
  /** Their summary. */
  summary: Summary;
  /** Spawn to the port accepting a connection (boot, before any request), summarized. */
  listen: Summary;
}

/**
 * Starts each target `runs` times (after one unmeasured start each) and times the first 200.
 *
 * @param targets what to start
 * @param runs measured runs per target
 * @returns one result per target, in the same order
 * @example
 * ```ts
 * const [ours] = await measureColdStarts([portalTarget], 11);
 * ours.summary.median; // 151.2
 * ```
 */
export async function measureColdStarts(
  targets: readonly Target[],
  runs: number,
): Promise<ColdStartResult[]> {
  for (const target of targets) await (await startTarget(target))[Symbol.asyncDispose]();
  const runsMs = targets.map(() => [] as number[]);
  const listenMs = targets.map(() => [] as number[]);
  for (let run = 0; run < runs; run++) {
    for (const [index, target] of targets.entries()) {
      await using running = await startTarget(target);
      runsMs[index].push(running.coldStartMs);
      listenMs[index].push(running.listenMs);
    }
  }
  return targets.map((target, index) => ({
    name: target.name,
    runsMs: runsMs[index],
    summary: summarize(runsMs[index]),
    listen: summarize(listenMs[index]),
  }));
}
