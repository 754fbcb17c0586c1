/**
 * Usage billing's cost on PostgreSQL 15, in one run:
 *
 * - **Spends**: `public.consume_usage(<meter>, 1, <new key>)` as a signed-in user (each call its own
 *   transaction that sets the role and the user's claims first, as PostgREST runs an rpc), at
 *   concurrency 32 on one user (every call queues on the same row lock: the contended worst
 *   case) and spread over 1,000 users (uncontended), and at concurrency 1 over 1,000 users;
 *   beside it, in the same transaction shape, a plain `insert` of one row into a table of the
 *   outbox's shape (`like public.polar_usage_events including all`, no RLS). The two take turns
 *   in five slices per point, so a busy machine's noise falls on both alike. Calls/s, p50 and
 *   p99. Goal: `consume_usage`'s p50 uncontended (1,000 users, c=32) at most 2× the insert's.
 * - **Flush**: 10,000 recorded events (sum-meter rows) sent by the sync function's usage flush,
 *   with its production wiring (SDK calls to the Polar stand-in over loopback, unpaced; the SQL
 *   functions through a direct connection that answers as PostgREST): Polar calls per 10,000
 *   events (goal ≤ 10, every call counted, the meters list included) and events/s.
 *
 * `deno task bench` runs it on `BENCH_DATABASE_URL`'s server when set, else on a throwaway
 * cluster of Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or `PG_BIN`;
 * `THROWAWAY_PG_PORT` picks its port). On its own: `deno run -A bench/usage.ts`
 * (`BENCH_DURATION` seconds per point, 5 by default).
 *
 * @module
 */
import postgres from "postgres";
import type { Database } from "../local/database.ts";
import { serveOnLoopback } from "../local/loopback.ts";
import { createPolarStandIn, DEMO_METER } from "../local/polar_stand_in.ts";
import { demoMeterModel } from "../local/polar_meters.ts";
import { createFreshDatabase, startThrowawayCluster } from "../reliability/databases.ts";
import { createPolarClient } from "../supabase/functions/_polar/polar.ts";
import { createPolarPacer } from "../supabase/functions/_polar/polar_pacer.ts";
import { createUsageFlush, type UsageFlushReport } from "../supabase/functions/sync/usage.ts";
import { createUsageFlushWiring } from "../supabase/functions/sync/usage_wiring.ts";
import type { Goal } from "./goals.ts";
import { createSqlRpc } from "./sql_rpc.ts";
import { percentile } from "./stats.ts";

/** Concurrency of the contended and uncontended points. */
export const USAGE_CONCURRENCY = 32;
/** Users of the uncontended points. */
export const USAGE_USERS = 1_000;
/** The goal: consume_usage's p50 at most this many times the plain insert's, uncontended. */
export const CONSUME_GOAL_RATIO = 2;
/** Events delivered earlier in the period, for the point that shows what a user's history costs. */
export const USAGE_HISTORY = 50_000;
/** Events the flush sends. */
export const FLUSH_EVENTS = 10_000;
/** The goal: Polar calls per 10,000 events. */
export const FLUSH_CALLS_GOAL = 10;

/** One load point. */
export interface SpendPoint {
  /** `consume_usage` or `insert`. */
  call: "consume_usage" | "insert";
  /** Distinct users the calls rotate over. */
  users: number;
  /** Calls in flight. */
  concurrency: number;
  /** Events each user already has, delivered earlier in the meter's period (rows of the plain
   * table, for the insert). */
  history: number;
  /** Calls completed in the timed window. */
  calls: number;
  /** Calls per second. */
  perSecond: number;
  /** Median milliseconds per call. */
  p50Ms: number;
  /** 99th percentile. */
  p99Ms: number;
  /** Calls `consume_usage` admitted (all of them, or the balance ran out and the point is void). */
  admitted: number;
}

/** What the flush did. */
export interface FlushFigures {
  /** Events sent. */
  events: number;
  /** Outbox rows they came from. */
  rows: number;
  /** Every Polar call of the flush. */
  polarCalls: number;
  /** Of those, `POST /v1/events/ingest`. */
  ingestCalls: number;
  /** Polar calls per 10,000 events. */
  callsPer10k: number;
  /** Seconds the flush took. */
  seconds: number;
  /** Events per second through the stand-in. */
  eventsPerSecond: number;
  /** The flush's answer(s), summed. */
  report: UsageFlushReport;
  /** Events the stand-in stored. */
  stored: number;
}

/** What {@linkcode measureUsage} found. */
export interface UsageBench {
  /** PostgreSQL's `server_version`. */
  serverVersion: string;
  /** Seconds per load point. */
  durationSeconds: number;
  /** The load points. */
  spends: SpendPoint[];
  /** The flush. */
  flush: FlushFigures;
}

/**
 * Measures spends and the flush on a database that has this project's migrations.
 *
 * @param db the database (its owner's connection)
 * @param url its URL, for the load pool
 * @param options seconds per point, a progress callback
 * @returns the figures
 * @example
 * ```ts
 * const bench = await measureUsage(fresh.db, fresh.url, { durationSeconds: 5 });
 * ```
 */
export async function measureUsage(
  db: Database,
  url: string,
  options: { durationSeconds?: number; progress?: (message: string) => void } = {},
): Promise<UsageBench> {
  const durationSeconds = options.durationSeconds ?? 5;
  const progress = options.progress ?? (() => {});
  await db.query("select public.store_polar_meters($1::text::jsonb)", [
    JSON.stringify([demoMeterModel()]),
  ]);
  await db.exec(`
    create table public.bench_usage_plain (like public.polar_usage_events including all);
    grant insert on public.bench_usage_plain to authenticated;
  `);
  const [{ server_version: serverVersion }] = await db.query<{ server_version: string }>(
    "show server_version",
  );
  // The flush first, on an outbox that holds only its rows.
  progress(`usage: flush of ${FLUSH_EVENTS} events`);
  const flush = await measureFlush(db);
  const sql = postgres(url, { max: USAGE_CONCURRENCY, onnotice: () => {} });
  try {
    const spends: SpendPoint[] = [];
    const scenarios: [number, number, number][] = [
      [1, USAGE_CONCURRENCY, 0],
      [USAGE_USERS, USAGE_CONCURRENCY, 0],
      [USAGE_USERS, 1, 0],
      [1, 1, USAGE_HISTORY],
    ];
    for (const [users, concurrency, history] of scenarios) {
      progress(
        `usage: consume_usage and insert, ${users} user(s), concurrency ${concurrency}, ${history} earlier events`,
      );
      spends.push(...await measureSpends(db, sql, users, concurrency, durationSeconds, history));
    }
    return { serverVersion, durationSeconds, spends, flush };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** New users, each with a verified link and a balance no point can spend. */
async function makeUsers(db: Database, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => crypto.randomUUID());
  await db.query(
    `with users as (
       insert into auth.users (id, email)
       select id, id || '@example.com' from unnest($1::uuid[]) as id returning id
     ), links as (
       insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified)
       select id, 'cus_' || id, true from users
     )
     insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance)
     select id, $2, 0, 1e9, 1e9 from users`,
    [ids, DEMO_METER.id],
  );
  return ids;
}

/** Slices each point's time is cut into, the two calls taking turns (a busy machine's noise
 * then falls on both alike). */
const ROUNDS = 5;

/**
 * One scenario: `consume_usage` and the plain insert, each over its own new users, a second of
 * warm-up each, then {@linkcode ROUNDS} turns each, `durationSeconds` in all per call.
 */
async function measureSpends(
  db: Database,
  sql: postgres.Sql,
  userCount: number,
  concurrency: number,
  durationSeconds: number,
  history: number,
): Promise<SpendPoint[]> {
  let next = 0;
  const calls = {
    consume_usage: { users: await makeUsers(db, userCount), admitted: 0 },
    insert: { users: await makeUsers(db, userCount), admitted: 0 },
  };
  if (history > 0) {
    for (
      const [table, users] of [
        ["polar_usage_events", calls.consume_usage.users],
        ["bench_usage_plain", calls.insert.users],
      ] as const
    ) {
      await db.query(
        `insert into public.${table} (user_id, meter_id, meter, event_name, units_property,
           units, idempotency_key, external_id, metadata, limited, recorded_at, delivered_at)
         select u, $2, $3, $4, $5, 1, 'history-' || n, '${table}_' || u || ':' || n, '{}', true,
           now() - interval '1 hour', now()
         from unnest($1::uuid[]) as u, generate_series(1, $6::int) as n`,
        [
          users,
          DEMO_METER.id,
          DEMO_METER.name,
          DEMO_METER.eventName,
          DEMO_METER.unitsProperty,
          history,
        ],
      );
      await db.exec(`analyze public.${table}`);
    }
  }
  const once = async (call: SpendPoint["call"]) => {
    const n = next++;
    const state = calls[call];
    const user = state.users[n % state.users.length];
    const key = `bench-${n}`;
    const claims = JSON.stringify({ sub: user, role: "authenticated" });
    await sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
        set_config('request.jwt.claims', ${claims}, true)`;
      if (call === "consume_usage") {
        const [row] = await tx<{ allowed: boolean }[]>`
          select (public.consume_usage(${DEMO_METER.name}, 1, ${key}) ->> 'allowed')::boolean
            as allowed`;
        if (row.allowed) state.admitted++;
      } else {
        await tx`insert into public.bench_usage_plain
          (user_id, meter_id, meter, event_name, units_property, units, idempotency_key,
           external_id, metadata, limited)
          values (${user}, ${DEMO_METER.id}, ${DEMO_METER.name}, ${DEMO_METER.eventName},
           ${DEMO_METER.unitsProperty}, 1, ${key}, ${`plain_${user}:${key}`}, '{}', true)`;
        state.admitted++;
      }
    });
  };
  const run = async (call: SpendPoint["call"], seconds: number, latencies: number[]) => {
    const started = performance.now();
    const until = started + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const began = performance.now();
        await once(call);
        latencies.push(performance.now() - began);
      }
    }));
    return (performance.now() - started) / 1000;
  };
  const kinds = ["consume_usage", "insert"] as const;
  for (const call of kinds) await run(call, 1, []);
  const timed = {
    consume_usage: { latencies: [] as number[], seconds: 0, admitted: 0 },
    insert: { latencies: [] as number[], seconds: 0, admitted: 0 },
  };
  for (const call of kinds) timed[call].admitted = -calls[call].admitted;
  for (let round = 0; round < ROUNDS; round++) {
    for (const call of kinds) {
      timed[call].seconds += await run(call, durationSeconds / ROUNDS, timed[call].latencies);
    }
  }
  return kinds.map((call) => {
    const { latencies, seconds } = timed[call];
    return {
      call,
      users: userCount,
      concurrency,
      history,
      calls: latencies.length,
      perSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      admitted: timed[call].admitted + calls[call].admitted,
    };
  });
}

/** Records {@linkcode FLUSH_EVENTS} sum-meter rows over 100 users and flushes them once. */
async function measureFlush(db: Database): Promise<FlushFigures> {
  const polar = createPolarStandIn({
    baseUrl: "http://127.0.0.1:1",
    webhookUrl: "http://127.0.0.1:1/functions/v1/polar-webhooks",
    webhookSecret: "whsec_bench",
    webhooks: "off",
    meterRecomputeDelayMs: 3_600_000,
  });
  try {
    await using server = await serveOnLoopback(polar.handler);
    const users = await makeUsers(db, 100);
    await db.query(
      `select public.record_usage($3, 1 + n % 5, 'flush-' || n, '{"feature": "bench"}',
         ($1::uuid[])[1 + n % 100])
       from generate_series(1, $2::int) as n`,
      [users, FLUSH_EVENTS, DEMO_METER.name],
    );
    const flush = createUsageFlush(createUsageFlushWiring({
      rpc: createSqlRpc(db),
      polar: createPolarClient({
        accessToken: "polar_oat_bench",
        server: "production",
        apiUrl: server.url,
      }),
      pacer: createPolarPacer({ perMinute: 1e9 }),
      budgetMs: 3_600_000,
    }));
    const before = polar.apiRequests.length;
    const started = performance.now();
    const report = await flush();
    const seconds = (performance.now() - started) / 1000;
    const requests = polar.apiRequests.slice(before);
    const events = report.sent + report.duplicates;
    return {
      events,
      rows: FLUSH_EVENTS,
      polarCalls: requests.length,
      ingestCalls: requests.filter((route) => route === "POST /v1/events/ingest").length,
      callsPer10k: (requests.length / events) * 10_000,
      seconds,
      eventsPerSecond: events / seconds,
      report,
      stored: polar.events.length,
    };
  } finally {
    polar.close();
  }
}

/**
 * Measures on `BENCH_DATABASE_URL`'s server, else on a throwaway PostgreSQL 15 cluster, in a
 * fresh database that is dropped afterwards.
 *
 * @param serverUrl a PostgreSQL server to use instead of a throwaway cluster
 * @param options seconds per point, a progress callback
 * @returns the figures
 * @example
 * ```ts
 * console.log(renderUsage(await measureUsageOnPostgres(undefined)));
 * ```
 */
export async function measureUsageOnPostgres(
  serverUrl: string | undefined,
  options: { durationSeconds?: number; progress?: (message: string) => void } = {},
): Promise<UsageBench> {
  await using cluster = serverUrl ? undefined : await startThrowawayCluster();
  await using fresh = await createFreshDatabase(serverUrl ?? cluster!.url);
  return await measureUsage(fresh.db, fresh.url, options);
}

/**
 * Judges the usage goals from the figures (reported, never asserted).
 *
 * @param bench what {@linkcode measureUsage} found
 * @returns the spend goal (uncontended p50 against the insert's) and the flush's calls goal
 * @example
 * ```ts
 * judgeUsageGoals(bench).filter((goal) => !goal.met); // the misses
 * ```
 */
export function judgeUsageGoals(bench: UsageBench): Goal[] {
  const point = (call: SpendPoint["call"], users: number, concurrency: number) =>
    bench.spends.find((p) =>
      p.call === call && p.users === users && p.concurrency === concurrency && p.history === 0
    )!;
  const consume = point("consume_usage", USAGE_USERS, USAGE_CONCURRENCY);
  const insert = point("insert", USAGE_USERS, USAGE_CONCURRENCY);
  const ratio = consume.p50Ms / insert.p50Ms;
  const { flush } = bench;
  return [
    {
      name: `consume_usage p50, ${USAGE_USERS} users, c=${USAGE_CONCURRENCY}, vs a plain insert`,
      target: `≤ ${CONSUME_GOAL_RATIO}× the insert's p50`,
      figure: `${ratio.toFixed(2)}× (${ms(consume.p50Ms)} vs ${ms(insert.p50Ms)} ms)`,
      met: ratio <= CONSUME_GOAL_RATIO && consume.admitted === consume.calls,
    },
    {
      name: "usage flush: Polar calls per 10,000 events",
      target: `≤ ${FLUSH_CALLS_GOAL}`,
      figure: `${flush.callsPer10k.toFixed(1)} (${flush.ingestCalls} ingest + ${
        flush.polarCalls - flush.ingestCalls
      } meters list, for ${flush.events} events)`,
      met: flush.callsPer10k <= FLUSH_CALLS_GOAL && flush.stored === flush.events,
    },
  ];
}

/**
 * The figures as markdown, with the goals judged.
 *
 * @param bench what {@linkcode measureUsage} found
 * @returns markdown
 * @example
 * ```ts
 * renderUsage(bench); // "## Usage: consume_usage against a plain insert …"
 * ```
 */
export function renderUsage(bench: UsageBench): string {
  const { flush } = bench;
  return [
    `## Usage: consume_usage against a plain insert (PostgreSQL ${bench.serverVersion}, ${bench.durationSeconds} s per point)`,
    "",
    "Each call is its own transaction that sets the role and the user's claims, then runs `consume_usage(<meter>, 1, <new key>)` or inserts one row into a table of the outbox's shape.",
    "",
    "| call | users | concurrency | earlier events per user | calls/s | p50 ms | p99 ms | admitted |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...bench.spends.map((p) =>
      `| ${p.call} | ${p.users} | ${p.concurrency} | ${p.history} | ${p.perSecond.toFixed(0)} | ${
        ms(p.p50Ms)
      } | ${ms(p.p99Ms)} | ${p.call === "consume_usage" ? `${p.admitted} of ${p.calls}` : "–"} |`
    ),
    "",
    `## Usage flush: ${flush.events} events to the Polar stand-in`,
    "",
    "| events | rows | Polar calls | ingest calls | per 10,000 events | seconds | events/s | stored |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${flush.events} | ${flush.rows} | ${flush.polarCalls} | ${flush.ingestCalls} | ${
      flush.callsPer10k.toFixed(1)
    } | ${flush.seconds.toFixed(2)} | ${flush.eventsPerSecond.toFixed(0)} | ${flush.stored} |`,
    "",
    "| goal | target | figure | met |",
    "| --- | --- | --- | --- |",
    ...judgeUsageGoals(bench).map((goal) =>
      `| ${goal.name} | ${goal.target} | ${goal.figure} | ${goal.met ? "met" : "MISSED"} |`
    ),
  ].join("\n");
}

function ms(value: number): string {
  return value.toFixed(2);
}

if (import.meta.main) {
  const duration = Number(Deno.env.get("BENCH_DURATION") ?? 5);
  console.log(renderUsage(
    await measureUsageOnPostgres(Deno.env.get("BENCH_DATABASE_URL"), {
      durationSeconds: duration > 0 ? duration : 5,
      progress: (message) => console.error(`bench: ${message}`),
    }),
  ));
}
