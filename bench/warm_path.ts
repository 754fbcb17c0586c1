/**
 * The warm path: one long-lived process per target, warmed up, then its upstream round trips per
 * request (counted by the stand-ins over sequential requests), then latency and throughput at
 * each added upstream latency and concurrency, then its peak memory.
 *
 * @module
 */
import { type LoadResult, runLoadPoint } from "./load.ts";
import { readCpuMs, type RunningTarget, startTarget, type Target } from "./process.ts";
import { type CallCounts, UPSTREAM_CALLS, type Upstreams } from "./upstreams.ts";

/** One load point of one target. */
export interface LoadPoint extends LoadResult {
  /** Added latency per upstream call, ms. */
  latencyMs: number;
  /** Concurrent connections. */
  connections: number;
  /** Upstream calls per response during the point. */
  roundTrips: number;
  /** Time the stand-ins spent per response (added latency included), ms. */
  upstreamMs: number;
  /** `p50Ms - upstreamMs`: what the function itself adds to the median request. */
  overheadMs: number;
  /** CPU the function process used per response, ms. */
  functionCpuMsPerResponse: number;
  /** CPU the stand-ins' process (and its database, when PGlite) used per response, ms. */
  standInsCpuMsPerResponse: number;
}

/** The warm figures of one target. */
export interface WarmPathResult {
  /** The target. */
  name: string;
  /** Upstream calls per request, by kind, over {@linkcode ROUND_TRIP_REQUESTS} sequential requests. */
  roundTripsByKind: Record<string, number>;
  /** Their sum. */
  roundTrips: number;
  /** The load points. */
  points: LoadPoint[];
  /** Peak resident memory of the function process after all points, MiB. */
  peakRssMiB: number;
}

/** Options of {@linkcode measureWarmPath}. */
export interface WarmPathOptions {
  /** Added latencies to run, ms. */
  latenciesMs: readonly number[];
  /** Concurrencies to run. */
  connections: readonly number[];
  /** Seconds per load point. */
  durationSeconds: number;
}

/** Sequential requests over which round trips are counted. */
export const ROUND_TRIP_REQUESTS = 20;

const WARM_UP_SECONDS = 2;

/**
 * Measures one target's warm path.
 *
 * @param target the function to start
 * @param upstreams the stand-ins it calls (their latency is set here)
 * @param options latencies, concurrencies, duration
 * @returns the figures
 * @example
 * ```ts
 * const ours = await measureWarmPath(portalTarget, upstreams, {
 *   latenciesMs: [0, 25], connections: [1, 32], durationSeconds: 5,
 * });
 * ```
 */
export async function measureWarmPath(
  target: Target,
  upstreams: Upstreams,
  options: WarmPathOptions,
): Promise<WarmPathResult> {
  upstreams.setLatency(0);
  await using running = await startTarget(target);
  const probe = target.probe(running.url);
  const spec = {
    url: running.url,
    method: probe.method as "GET" | "POST",
    headers: Object.fromEntries(probe.headers),
  };
  // JIT, connection pools and the JWKS cache settle before anything is counted.
  await runLoadPoint({ ...spec, connections: 8, durationSeconds: WARM_UP_SECONDS });

  upstreams.resetCounts();
  for (let i = 0; i < ROUND_TRIP_REQUESTS; i++) {
    const response = await fetch(target.probe(running.url));
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`${target.name} answered ${response.status}`);
  }
  const counted = upstreams.counts();
  const roundTripsByKind = Object.fromEntries(
    UPSTREAM_CALLS.map((kind) => [kind, counted.calls[kind] / ROUND_TRIP_REQUESTS]),
  );

  const points: LoadPoint[] = [];
  for (const latencyMs of options.latenciesMs) {
    upstreams.setLatency(latencyMs);
    for (const connections of options.connections) {
      upstreams.resetCounts();
      const cpu = await cpuMeter(running);
      const result = await runLoadPoint({
        ...spec,
        connections,
        durationSeconds: options.durationSeconds,
      });
      points.push({
        ...loadPoint(result, upstreams.counts(), latencyMs, connections),
        ...await cpu.perResponse(result.responses),
      });
    }
  }
  upstreams.setLatency(0);
  return {
    name: target.name,
    roundTripsByKind,
    roundTrips: totalCalls(counted) / ROUND_TRIP_REQUESTS,
    points,
    peakRssMiB: (await running.peakRssKiB()) / 1024,
  };
}

/**
 * Measures the CPU the function and this process (the stand-ins) use from now on, per response.
 *
 * @param running the function process
 * @returns a meter; call `perResponse` once the load point is over
 * @example
 * ```ts
 * const cpu = await cpuMeter(running);
 * await cpu.perResponse(1000); // { functionCpuMsPerResponse: 0.9, standInsCpuMsPerResponse: 1.4 }
 * ```
 */
export async function cpuMeter(running: RunningTarget) {
  const functionBefore = await running.cpuMs();
  const selfBefore = await readCpuMs("self");
  return {
    perResponse: async (responses: number) => {
      const count = Math.max(1, responses);
      return {
        functionCpuMsPerResponse: ((await running.cpuMs()) - functionBefore) / count,
        standInsCpuMsPerResponse: ((await readCpuMs("self")) - selfBefore) / count,
      };
    },
  };
}

function totalCalls(counts: CallCounts): number {
  return Object.values(counts.calls).reduce((sum, calls) => sum + calls, 0);
}

function loadPoint(
  result: LoadResult,
  counts: CallCounts,
  latencyMs: number,
  connections: number,
): Omit<LoadPoint, "functionCpuMsPerResponse" | "standInsCpuMsPerResponse"> {
  const responses = Math.max(1, result.responses);
  const upstreamMs = counts.busyMs / responses;
  return {
    ...result,
    latencyMs,
    connections,
    roundTrips: totalCalls(counts) / responses,
    upstreamMs,
    overheadMs: result.p50Ms - upstreamMs,
  };
}
