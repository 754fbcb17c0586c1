/**
 * The webhook throughput on both databases the project runs on, side by side: PGlite (embedded,
 * one connection, in the stand-ins' process, so concurrency 32 is served one query at a time) and
 * PostgreSQL 15 (a throwaway cluster of Debian's binaries, its own processes, the stand-ins'
 * PostgREST on a pool of 10 connections). Each database gets its own stand-ins and its own
 * `polar-webhooks` process. When the PostgreSQL binaries are missing that half is skipped, and
 * its goal is not met.
 *
 * `deno task bench` runs it; on its own, quicker: `deno run -A bench/webhook_databases.ts`
 * (`BENCH_DURATION` seconds per point, 5 by default; `THROWAWAY_PG_PORT` fixes the cluster's port).
 *
 * @module
 */
import { createSchemaPglite, type Database, pgliteDatabase } from "../local/database.ts";
import { migrate, postgresDatabase } from "../local/postgres.ts";
import { postgresBinaries, startThrowawayCluster } from "../reliability/databases.ts";
import { judgeWebhookGoal } from "./goals.ts";
import { startUpstreams } from "./upstreams.ts";
import { measureWebhooks, type WebhookOptions, type WebhookResult } from "./webhooks.ts";

/** Why a part was not measured. */
export interface NotMeasured {
  /** The reason, in words. */
  notMeasured: string;
}

/** The webhook figures on PostgreSQL, with the server's version. */
export interface PostgresWebhookResult extends WebhookResult {
  /** PostgreSQL's `server_version`. */
  serverVersion: string;
}

/** The webhook figures on each database. */
export interface WebhookDatabases {
  /** On PGlite. */
  pglite: WebhookResult | NotMeasured;
  /** On PostgreSQL 15. */
  postgres: PostgresWebhookResult | NotMeasured;
}

/**
 * Measures `polar-webhooks` on PGlite, then on a throwaway PostgreSQL 15 cluster.
 *
 * @param options concurrencies, seconds and deliveries per point
 * @param progress where to say what is running
 * @returns both databases' figures, or why one was not measured
 * @example
 * ```ts
 * const { postgres } = await measureWebhooksOnDatabases({ connections: [1, 32], durationSeconds: 5, deliveriesPerPoint: 8000 });
 * ```
 */
export async function measureWebhooksOnDatabases(
  options: WebhookOptions,
  progress: (message: string) => void = () => {},
): Promise<WebhookDatabases> {
  progress("webhooks on PGlite");
  const pglite = await onDatabase(
    pgliteDatabase(await createSchemaPglite({ seed: false })),
    options,
  );
  const bin = await postgresBinaries();
  if (!bin) {
    const notMeasured = "skipped: no PostgreSQL binaries at /usr/lib/postgresql/15/bin (or PG_BIN)";
    progress(`webhooks on PostgreSQL 15 ${notMeasured}`);
    return { pglite, postgres: { notMeasured } };
  }
  progress("webhooks on PostgreSQL 15 (throwaway cluster)");
  await using cluster = await startThrowawayCluster();
  const db = postgresDatabase(cluster.url);
  await migrate(db);
  const [{ server_version: serverVersion }] = await db.query<{ server_version: string }>(
    "show server_version",
  );
  return { pglite, postgres: { ...await onDatabase(db, options), serverVersion } };
}

async function onDatabase(db: Database, options: WebhookOptions): Promise<WebhookResult> {
  try {
    await using upstreams = await startUpstreams(db);
    return await measureWebhooks(upstreams, options);
  } finally {
    await db.close();
  }
}

/**
 * The figures as one markdown table, a row per database and concurrency, then the goal.
 *
 * @param result what {@linkcode measureWebhooksOnDatabases} found
 * @returns markdown lines
 * @example
 * ```ts
 * console.log(renderWebhookDatabases(result).join("\n"));
 * ```
 */
export function renderWebhookDatabases(result: WebhookDatabases): string[] {
  const header = [
    "database",
    "conc.",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "applied",
    "stale",
    "skipped",
    "non-2xx",
    "CPU ms/req: function",
    "stand-ins",
    "autocannon",
  ];
  const rows: string[][] = [];
  const notes: string[] = [];
  const parts: [string, WebhookResult | NotMeasured][] = [
    ["PGlite", result.pglite],
    [
      "serverVersion" in result.postgres
        ? `PostgreSQL ${result.postgres.serverVersion}`
        : "PostgreSQL 15",
      result.postgres,
    ],
  ];
  for (const [name, part] of parts) {
    if ("notMeasured" in part) {
      rows.push([name, "", part.notMeasured, ...header.slice(3).map(() => "")]);
      continue;
    }
    for (const point of part.points) {
      rows.push([
        name,
        String(point.connections),
        point.perSecond.toFixed(0),
        ms(point.p50Ms),
        ms(point.p99Ms),
        String(point.outcomes.applied ?? 0),
        String(point.outcomes.stale ?? 0),
        String(point.outcomes.skipped ?? 0),
        String(point.non2xx + point.errors),
        point.functionCpuMsPerResponse.toFixed(2),
        point.standInsCpuMsPerResponse.toFixed(2),
        point.generatorCpuMsPerResponse.toFixed(2),
      ]);
    }
    notes.push(
      `peak RSS of \`polar-webhooks\` on ${name} ${part.peakRssMiB.toFixed(1)} MiB` +
        (part.points.some((point) => point.reused > 0)
          ? " (some presigned deliveries were sent twice: redeliveries)"
          : ""),
    );
  }
  const goal = judgeWebhookGoal(result.postgres);
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(header),
    line(header.map(() => "---")),
    ...rows.map(line),
    "",
    `${notes.join("; ")}.`,
    "",
    `Goal, ${goal.name}: ${goal.target}. This run: ${goal.figure}: ${goal.met ? "MET" : "MISSED"}.`,
  ];
}

function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : "n/a";
}

if (import.meta.main) {
  const duration = Number(Deno.env.get("BENCH_DURATION") || 5);
  const result = await measureWebhooksOnDatabases(
    { connections: [1, 32], durationSeconds: duration, deliveriesPerPoint: 8000 },
    (message) => console.error(`bench: ${message}`),
  );
  console.log(renderWebhookDatabases(result).join("\n"));
}
