/**
 * The run's figures as one JSON document and as the markdown tables printed on stdout.
 *
 * @module
 */
import type { GateCost } from "./gates.ts";
import type { ReconcileBench } from "./reconcile.ts";
import type { UsageBench } from "./usage.ts";
import type { ColdStartResult } from "./cold_start.ts";
import type { Goal } from "./goals.ts";
import type { MachineFacts } from "./machine.ts";
import type { WarmPathResult } from "./warm_path.ts";
import { renderWebhookDatabases, type WebhookDatabases } from "./webhook_databases.ts";

/** Everything one run measured. */
export interface BenchReport {
  /** When the run started (ISO 8601). */
  startedAt: string;
  /** Seconds the whole run took. */
  elapsedSeconds: number;
  /** Where it ran. */
  machine: MachineFacts;
  /** How it ran. */
  config: {
    /** `pglite`, or the PostgreSQL server (without password). */
    database: string;
    /** Seconds per load point. */
    durationSeconds: number;
    /** Measured cold starts per target. */
    coldStartRuns: number;
    /** Added latencies per upstream call, ms. */
    latenciesMs: number[];
    /** Concurrencies. */
    connections: number[];
    /** The load generator. */
    loadGenerator: string;
    /** The flags every target runs with. */
    denoFlags: string;
  };
  /** Cold starts. */
  coldStart: ColdStartResult[];
  /** The entitlement gate's cost in RLS on PostgreSQL 15, or why it was not measured. */
  gate?: GateCost | { notMeasured: string };
  /** The reconcile's Polar calls, time and correctness, paged against per-customer. */
  reconcile?: ReconcileBench | { notMeasured: string };
  /** `consume_usage` against a plain insert, and the usage flush, on PostgreSQL 15. */
  usage?: UsageBench | { notMeasured: string };
  /** Warm paths of ours and the anchor. */
  warmPath: WarmPathResult[];
  /** Webhook throughput on PGlite and PostgreSQL 15, or why it was not measured. */
  webhooks: WebhookDatabases | { notMeasured: string };
  /** The goals. */
  goals: Goal[];
}

/**
 * Renders the report as markdown.
 *
 * @param report the figures
 * @returns markdown: a heading, the machine, and one table per part
 * @example
 * ```ts
 * console.log(renderMarkdown(report));
 * ```
 */
export function renderMarkdown(report: BenchReport): string {
  const { machine, config } = report;
  const lines = [
    `## Benchmark, ${report.startedAt}`,
    "",
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, ` +
    `Deno ${machine.deno}; 1-min load average at start ${machine.loadAverage.toFixed(2)}. ` +
    `Database: ${config.database}. Load: ${config.loadGenerator}, ${config.durationSeconds} s per ` +
    `point. Targets run as \`deno ${config.denoFlags}\`. Run took ${report.elapsedSeconds} s.`,
    "",
    `### Cold start: spawn to first 200 (ms, ${config.coldStartRuns} runs after one warm-up)`,
    "",
    table(
      ["target", "median", "min", "p25", "p75", "max", "of which boot (listening), median"],
      report.coldStart.map(({ name, summary, listen }) => [
        name,
        ms(summary.median),
        ms(summary.min),
        ms(summary.p25),
        ms(summary.p75),
        ms(summary.max),
        ms(listen.median),
      ]),
    ),
    "",
    "### Warm path: portal",
    "",
    table(
      [
        "target",
        "+latency/call",
        "conc.",
        "req/s",
        "p50 ms",
        "p99 ms",
        "upstream ms/req",
        "overhead ms",
        "calls/req",
        "non-2xx",
        "CPU ms/req: function",
        "stand-ins",
        "autocannon",
      ],
      report.warmPath.flatMap(({ name, points }) =>
        points.map((point) => [
          name,
          `${point.latencyMs} ms`,
          String(point.connections),
          point.perSecond.toFixed(0),
          ms(point.p50Ms),
          ms(point.p99Ms),
          ms(point.upstreamMs),
          ms(point.overheadMs),
          point.roundTrips.toFixed(2),
          String(point.non2xx + point.errors),
          cpu(point.functionCpuMsPerResponse),
          cpu(point.standInsCpuMsPerResponse),
          cpu(point.generatorCpuMsPerResponse),
        ])
      ),
    ),
    "",
    "Upstream calls per warm request (20 sequential requests) and peak memory:",
    "",
    table(
      ["target", "JWKS", "/auth/v1/user", "PostgREST", "Polar", "total", "peak RSS MiB"],
      report.warmPath.map(({ name, roundTripsByKind: calls, roundTrips, peakRssMiB }) => [
        name,
        String(calls.jwks),
        String(calls.auth_user),
        String(calls.rest),
        String(calls.polar),
        String(roundTrips),
        peakRssMiB.toFixed(1),
      ]),
    ),
    "",
    "### Webhooks: new subscribers' events and state snapshots, PGlite and PostgreSQL 15",
    "",
    ...webhookLines(report.webhooks),
    "",
    "Cold start: every target runs with the same flags from the repository root; one unmeasured " +
    "start per target first, so the module cache and V8's code cache (on by default in Deno) are " +
    "warm for every measured run; the targets take turns. The first 200 of `ours` and `anchor` " +
    "includes their first upstream calls (JWKS, or `/auth/v1/user`) at 0 ms added latency; the " +
    "baseline makes none. Warm path: `upstream ms/req` is the time the stand-ins spent per " +
    "response, timed inside them (added latency included, their event-loop queueing not); " +
    "`overhead` is p50 minus that. CPU per request comes from `/proc/<pid>/stat` (function, " +
    "stand-ins with PGlite) and `process.cpuUsage()` (autocannon).",
    "",
    "### Goals",
    "",
    table(
      ["goal", "target", "this run", "result"],
      report.goals.map((goal) => [
        goal.name,
        goal.target,
        goal.figure,
        goal.met ? "pass" : "miss",
      ]),
    ),
  ];
  return lines.join("\n");
}

function webhookLines(webhooks: BenchReport["webhooks"]): string[] {
  if ("notMeasured" in webhooks) return [`Not measured: ${webhooks.notMeasured}.`];
  return renderWebhookDatabases(webhooks);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function cpu(value: number): string {
  return value.toFixed(2);
}

function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : "n/a";
}
