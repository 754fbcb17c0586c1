/**
 * `deno task bench`: this project's `portal` against the anchor (Polar's `@polar-sh/supabase`
 * `CustomerPortal`) and a bare supabase-js baseline, the `polar-webhooks` throughput on PGlite and
 * PostgreSQL 15 side by side (`bench/webhook_databases.ts`, which also runs alone), the entitlement
 * gate's cost, the reconcile's Polar calls (`reconcile.ts`) and usage billing's cost
 * (`consume_usage` against a plain insert, and the usage flush: `usage.ts`), all on 127.0.0.1.
 * Prints markdown tables and writes the same figures as JSON to `bench/results/`.
 *
 * Environment (all optional): `BENCH_DURATION` seconds per load point (5), `BENCH_COLD_RUNS`
 * measured cold starts per target (11), `BENCH_DATABASE_URL` a PostgreSQL database to use
 * instead of PGlite (its schema is brought up to date; use a throwaway database).
 *
 * @module
 */
import { createSchemaPglite, type Database, pgliteDatabase } from "../local/database.ts";
import { migrate, postgresDatabase } from "../local/postgres.ts";
import { measureColdStarts } from "./cold_start.ts";
import { judgeGoals, judgeWebhookGoal } from "./goals.ts";
import { readMachineFacts } from "./machine.ts";
import { DENO_RUN_FLAGS, type Target } from "./process.ts";
import { measureGateCostOnPostgres, renderGateCost } from "./gates.ts";
import { measureReconcileOnDatabase, renderReconcile } from "./reconcile.ts";
import {
  judgeUsageGoals,
  measureUsageOnPostgres,
  renderUsage,
  USAGE_CONCURRENCY,
} from "./usage.ts";
import { type BenchReport, renderMarkdown } from "./report.ts";
import { createPortalUser, startUpstreams, type Upstreams } from "./upstreams.ts";
import { measureWarmPath } from "./warm_path.ts";
import { measureWebhooksOnDatabases } from "./webhook_databases.ts";
import { webhooksFunctionExists, webhooksTarget } from "./webhooks.ts";

const RESULTS_DIR = new URL("./results/", import.meta.url);
const LATENCIES_MS = [0, 25];
const CONNECTIONS = [1, 32];
const SITE_URL = "http://127.0.0.1:3000";
const WARM_TARGETS = ["ours", "anchor"];

if (import.meta.main) await main();

async function main(): Promise<void> {
  const startedAt = new Date();
  const durationSeconds = positiveNumber("BENCH_DURATION", 5);
  const coldStartRuns = positiveNumber("BENCH_COLD_RUNS", 11);
  const databaseUrl = Deno.env.get("BENCH_DATABASE_URL");
  const machine = await readMachineFacts();
  const progress = (message: string) => console.error(`bench: ${message}`);

  progress(`database: ${databaseUrl ? "PostgreSQL" : "PGlite"}`);
  const db = await openDatabase(databaseUrl);
  try {
    await using upstreams = await startUpstreams(db);
    const targets = await portalTargets(upstreams);
    const hasWebhooks = await webhooksFunctionExists();

    progress(`cold start, ${coldStartRuns} runs per target`);
    const coldTargets = [...targets, ...(hasWebhooks ? [await webhooksTarget(upstreams)] : [])];
    const coldStart = await measureColdStarts(coldTargets, coldStartRuns);

    const warmPath = [];
    // The warm path does not depend on where the keys come from: measured once for ours.
    for (const target of targets.filter((target) => WARM_TARGETS.includes(target.name))) {
      progress(`warm path: ${target.name}`);
      warmPath.push(
        await measureWarmPath(target, upstreams, {
          latenciesMs: LATENCIES_MS,
          connections: CONNECTIONS,
          durationSeconds,
        }),
      );
    }

    // On its own databases, PGlite and PostgreSQL 15, whatever the portal ran on.
    const webhooks = hasWebhooks
      ? await measureWebhooksOnDatabases({
        connections: CONNECTIONS,
        durationSeconds,
        deliveriesPerPoint: 8000,
      }, progress)
      : { notMeasured: "function missing (supabase/functions/polar-webhooks/index.ts)" };

    progress("entitlement gate in RLS, on PostgreSQL 15");
    const gate = await measureGateCostOnPostgres(databaseUrl).catch((error: Error) => ({
      notMeasured: `needs PostgreSQL 15 (/usr/lib/postgresql/15/bin or PG_BIN): ${error.message}`,
    }));

    progress("reconcile: paged against per-customer, on PostgreSQL 15 when it is there");
    const reconcile = await measureReconcileOnDatabase(databaseUrl, {
      progress: (message) => progress(`reconcile: ${message}`),
    }).catch((error: Error) => ({ notMeasured: error.message }));

    progress(
      `usage: consume_usage against a plain insert at c=${USAGE_CONCURRENCY}, and the flush, on PostgreSQL 15`,
    );
    const usage = await measureUsageOnPostgres(databaseUrl, {
      durationSeconds,
      progress,
    }).catch((error: Error) => ({
      notMeasured: `needs PostgreSQL 15 (/usr/lib/postgresql/15/bin or PG_BIN): ${error.message}`,
    }));

    const report: BenchReport = {
      startedAt: startedAt.toISOString(),
      elapsedSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      machine,
      config: {
        database: databaseUrl ? withoutPassword(databaseUrl) : "PGlite (in the stand-ins' process)",
        durationSeconds,
        coldStartRuns,
        latenciesMs: LATENCIES_MS,
        connections: CONNECTIONS,
        loadGenerator: "autocannon 9.0.0",
        denoFlags: DENO_RUN_FLAGS.join(" "),
      },
      coldStart,
      gate,
      reconcile,
      usage,
      warmPath,
      webhooks,
      goals: [
        ...judgeGoals(coldStart, warmPath),
        judgeWebhookGoal("notMeasured" in webhooks ? webhooks : webhooks.postgres),
        ...("notMeasured" in usage
          ? [{
            name: "usage (consume_usage, flush)",
            target: "on PostgreSQL 15",
            figure: `not measured (${usage.notMeasured})`,
            met: false,
          }]
          : judgeUsageGoals(usage)),
      ],
    };
    console.log(renderMarkdown(report));
    console.log(
      "\n" +
        ("notMeasured" in gate
          ? `Entitlement gate: not measured (${gate.notMeasured})`
          : renderGateCost(gate)),
    );
    console.log(
      "\n" +
        ("notMeasured" in reconcile
          ? `Reconcile: not measured (${reconcile.notMeasured})`
          : renderReconcile(reconcile)),
    );
    console.log(
      "\n" +
        ("notMeasured" in usage
          ? `Usage: not measured (${usage.notMeasured})`
          : renderUsage(usage)),
    );
    await Deno.mkdir(RESULTS_DIR, { recursive: true });
    const json = JSON.stringify(report, null, 2) + "\n";
    const stamp = report.startedAt.replaceAll(":", "-");
    await Deno.writeTextFile(new URL(`bench-${stamp}.json`, RESULTS_DIR), json);
    await Deno.writeTextFile(new URL("latest.json", RESULTS_DIR), json);
    progress(`figures written to bench/results/latest.json`);
  } finally {
    await db.close();
  }
}

async function portalTargets(upstreams: Upstreams): Promise<Target[]> {
  const user = await createPortalUser(upstreams);
  const portalEnv = {
    SUPABASE_URL: upstreams.supabaseUrl,
    SUPABASE_ANON_KEY: upstreams.anonKey,
    POLAR_ACCESS_TOKEN: "polar_oat_bench",
    POLAR_API_URL: upstreams.polarUrl,
    SITE_URL,
  };
  // What `supabase.functions.invoke("portal")` sends.
  const invoke = (url: string) =>
    new Request(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${user.accessToken}`, apikey: upstreams.anonKey },
    });
  // As Supabase now provides them: the new keys and the signing keys inline, so no JWKS fetch.
  const platformEnv = {
    SUPABASE_URL: upstreams.supabaseUrl,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: upstreams.anonKey }),
    SUPABASE_JWKS: JSON.stringify(upstreams.keys.jwks),
    POLAR_ACCESS_TOKEN: "polar_oat_bench",
    POLAR_API_URL: upstreams.polarUrl,
    SITE_URL,
  };
  return [
    { name: "ours", entry: "supabase/functions/portal/index.ts", env: portalEnv, probe: invoke },
    {
      name: "ours-jwks",
      entry: "supabase/functions/portal/index.ts",
      env: platformEnv,
      probe: invoke,
    },
    { name: "anchor", entry: "bench/anchor/portal.ts", env: portalEnv, probe: invoke },
    {
      name: "baseline",
      entry: "bench/baseline/server.ts",
      env: { SUPABASE_URL: upstreams.supabaseUrl, SUPABASE_ANON_KEY: upstreams.anonKey },
      probe: (url) => new Request(url),
    },
  ];
}

async function openDatabase(url: string | undefined): Promise<Database> {
  if (!url) return pgliteDatabase(await createSchemaPglite({ seed: false }));
  const db = postgresDatabase(url);
  await migrate(db);
  return db;
}

function positiveNumber(name: string, fallback: number): number {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") return fallback;
  const number = Number(value);
  if (!(number > 0)) throw new Error(`${name} is "${value}", not a positive number`);
  return number;
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = "";
  return parsed.href;
}
