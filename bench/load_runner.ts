/**
 * The load generator's process: runs autocannon with the spec in the JSON file named by the first
 * argument and prints one {@linkcode LoadResult} as JSON. It runs apart from the stand-ins and the
 * function so its own work does not sit in their event loops.
 *
 * Latency percentiles come from autocannon's `response` event (`responseTime` in fractional
 * milliseconds): its own histogram stores whole milliseconds, too coarse for a 2 ms budget.
 *
 * @module
 */
import autocannon from "autocannon";
import { cpuUsage } from "node:process";
import { percentile } from "./stats.ts";

/** One request to send: headers and body. */
export interface PresetRequest {
  /** The headers. */
  headers: Record<string, string>;
  /** The body. */
  body: string;
}

/** What to run. */
export interface LoadSpec {
  /** The URL. */
  url: string;
  /** The method. */
  method: "GET" | "POST";
  /** Headers of every request (ignored for a request from {@linkcode requestsFile}). */
  headers: Record<string, string>;
  /** Body of every request. */
  body?: string;
  /** Concurrent connections. */
  connections: number;
  /** Seconds to run. */
  durationSeconds: number;
  /**
   * A JSON file of {@linkcode PresetRequest}s: each request takes the next one, across all
   * connections, so no two requests are the same (signed webhook deliveries).
   */
  requestsFile?: string;
}

/** What the run measured. */
export interface LoadResult {
  /** Responses received. */
  responses: number;
  /** Responses with a status outside 2xx. */
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Responses per second over the run. */
  perSecond: number;
  /** Median latency of 2xx responses, ms. */
  p50Ms: number;
  /** 99th percentile latency of 2xx responses, ms. */
  p99Ms: number;
  /** Preset requests that were sent again because the list ran out (0 when none). */
  reused: number;
  /** CPU the load generator itself used per response, ms. */
  generatorCpuMsPerResponse: number;
}

if (import.meta.main) {
  const spec: LoadSpec = JSON.parse(await Deno.readTextFile(Deno.args[0]));
  console.log(JSON.stringify(await runLoad(spec)));
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const presets: PresetRequest[] = spec.requestsFile
    ? JSON.parse(await Deno.readTextFile(spec.requestsFile))
    : [];
  let next = 0;
  const requests = presets.length > 0
    ? [{
      method: spec.method,
      setupRequest: (request: Record<string, unknown>) => {
        const preset = presets[next++ % presets.length];
        return { ...request, headers: preset.headers, body: preset.body };
      },
    }]
    : undefined;
  const latencies: number[] = [];
  const cpuBefore = cpuUsage();
  const instance = autocannon({
    url: spec.url,
    method: spec.method,
    headers: spec.headers,
    body: spec.body,
    requests,
    connections: spec.connections,
    duration: spec.durationSeconds,
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const cpuSpent = cpuUsage(cpuBefore);
  const cpuMs = (cpuSpent.user + cpuSpent.system) / 1000;
  return {
    responses: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    perSecond: result.requests.total / (result.duration || spec.durationSeconds),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    reused: Math.max(0, next - presets.length),
    generatorCpuMsPerResponse: cpuMs / Math.max(1, result.requests.total),
  };
}
