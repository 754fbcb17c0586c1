/**
 * The cost of gating an app's table on an entitlement: reading a 100,000-row table whose RLS
 * policy is `using ((select public.has_entitlement('pro')))`, against the same read under
 * `using (true)`, as a signed-in user who holds "pro", on PostgreSQL 15. The goal: at most 1.2×.
 *
 * `deno task bench` runs it on `BENCH_DATABASE_URL` when set, else on a throwaway cluster of
 * Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or `PG_BIN`). On its own:
 * `deno run -A bench/gates.ts`.
 *
 * @module
 */
import type { Database } from "../local/database.ts";
import { createFreshDatabase, startThrowawayCluster } from "../reliability/databases.ts";

/** Rows in each table. */
export const GATE_TABLE_ROWS = 100_000;
/** The goal: the gated read takes at most this many times the open read. */
export const GATE_GOAL_RATIO = 1.2;

/** What {@linkcode measureGateCost} found. */
export interface GateCost {
  /** PostgreSQL's `server_version`. */
  serverVersion: string;
  /** Rows per table. */
  rows: number;
  /** Timed reads per policy (after warm-up). */
  runs: number;
  /** Median milliseconds of a full read under `using (true)`. */
  openMs: number;
  /** Median milliseconds of a full read under `using ((select public.has_entitlement('pro')))`. */
  gatedMs: number;
  /** `gatedMs / openMs`. */
  ratio: number;
  /** Median milliseconds of a scan in the server (`count(*)`, no rows sent) under `using (true)`. */
  openScanMs: number;
  /** The same under the gate. */
  gatedScanMs: number;
  /** `gatedScanMs / openScanMs`. */
  scanRatio: number;
  /** Rows the gated read returned to the entitled user (all of them, or the test is void). */
  gatedRows: number;
  /** Rows the gated read returned to a user without the entitlement (none). */
  deniedRows: number;
}

/**
 * Measures the gate on a database that has this project's migrations.
 *
 * @param db the database (its owner's connection)
 * @param runs timed reads per policy, alternating
 * @returns the figures
 * @example
 * ```ts
 * const cost = await measureGateCost(db, 15); // { openMs: 41, gatedMs: 42, ratio: 1.02, … }
 * ```
 */
export async function measureGateCost(db: Database, runs = 15): Promise<GateCost> {
  const entitled = crypto.randomUUID();
  const other = crypto.randomUUID();
  await db.exec(`
    insert into auth.users (id, email) values
      ('${entitled}', 'entitled@example.com'), ('${other}', 'other@example.com');
    -- The gate counts a verified link's grants only, as checkout makes it.
    insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified)
    values ('${entitled}', 'cus_bench', true);
    insert into public.polar_benefit_grants
      (user_id, grant_id, benefit_id, benefit_type, benefit_metadata)
    values ('${entitled}', 'grant_bench', 'benefit_pro', 'feature_flag', '{"key": "pro"}');
    create table public.bench_open (id bigint primary key, title text not null, body text not null);
    create table public.bench_gated (like public.bench_open including all);
    insert into public.bench_open
      select i, 'Document ' || i, repeat(md5(i::text), 4) from generate_series(1, ${GATE_TABLE_ROWS}) as i;
    insert into public.bench_gated select * from public.bench_open;
    alter table public.bench_open enable row level security;
    alter table public.bench_gated enable row level security;
    create policy "Anyone signed in reads" on public.bench_open
      for select to authenticated using (true);
    create policy "Members with pro read" on public.bench_gated
      for select to authenticated using ((select public.has_entitlement('pro')));
    grant select on public.bench_open, public.bench_gated to authenticated;
    analyze public.bench_open;
    analyze public.bench_gated;
  `);
  const as = (sub: string) => ({ role: "authenticated", claims: { sub, role: "authenticated" } });
  const read = async (table: string, sub = entitled) => {
    const started = performance.now();
    const rows = await db.query(`select id, title, body from public.${table}`, [], as(sub));
    return { ms: performance.now() - started, rows: rows.length };
  };
  const scan = async (table: string) => {
    const started = performance.now();
    await db.query(`select count(*), sum(length(body)) from public.${table}`, [], as(entitled));
    return performance.now() - started;
  };
  for (let i = 0; i < 3; i++) {
    await read("bench_open");
    await read("bench_gated");
  }
  const open: number[] = [];
  const gated: number[] = [];
  const openScan: number[] = [];
  const gatedScan: number[] = [];
  let gatedRows = 0;
  for (let i = 0; i < runs; i++) {
    open.push((await read("bench_open")).ms);
    const result = await read("bench_gated");
    gated.push(result.ms);
    gatedRows = result.rows;
    openScan.push(await scan("bench_open"));
    gatedScan.push(await scan("bench_gated"));
  }
  const deniedRows = (await read("bench_gated", other)).rows;
  const [{ server_version: serverVersion }] = await db.query<{ server_version: string }>(
    "show server_version",
  );
  const openMs = median(open);
  const gatedMs = median(gated);
  const openScanMs = median(openScan);
  const gatedScanMs = median(gatedScan);
  return {
    serverVersion,
    rows: GATE_TABLE_ROWS,
    runs,
    openMs,
    gatedMs,
    ratio: gatedMs / openMs,
    openScanMs,
    gatedScanMs,
    scanRatio: gatedScanMs / openScanMs,
    gatedRows,
    deniedRows,
  };
}

/**
 * Measures the gate on `BENCH_DATABASE_URL`'s server, else on a throwaway PostgreSQL 15 cluster,
 * in a fresh database that is dropped afterwards.
 *
 * @param serverUrl a PostgreSQL server to use instead of a throwaway cluster
 * @returns the figures
 * @example
 * ```ts
 * console.log(renderGateCost(await measureGateCostOnPostgres(undefined)));
 * ```
 */
export async function measureGateCostOnPostgres(serverUrl: string | undefined): Promise<GateCost> {
  await using cluster = serverUrl ? undefined : await startThrowawayCluster();
  await using fresh = await createFreshDatabase(serverUrl ?? cluster!.url);
  return await measureGateCost(fresh.db);
}

/**
 * The figures as a markdown table, with the goal judged.
 *
 * @param cost what {@linkcode measureGateCost} found
 * @returns markdown
 * @example
 * ```ts
 * renderGateCost(cost); // "## Entitlement gate in RLS …"
 * ```
 */
export function renderGateCost(cost: GateCost): string {
  const met = cost.ratio <= GATE_GOAL_RATIO && cost.scanRatio <= GATE_GOAL_RATIO &&
    cost.gatedRows === cost.rows && cost.deniedRows === 0;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const row = (policy: string, read: number, scan: number, rows: string) =>
    `| \`${policy}\` | ${ms(read)} | ${ms(scan)} | ${rows} |`;
  return [
    `## Entitlement gate in RLS (PostgreSQL ${cost.serverVersion}, ${cost.rows} rows, median of ${cost.runs})`,
    "",
    "| policy | full read | scan in the server | rows (entitled / not) |",
    "| --- | --- | --- | --- |",
    row("using (true)", cost.openMs, cost.openScanMs, `${cost.rows} / ${cost.rows}`),
    row(
      "using ((select public.has_entitlement('pro')))",
      cost.gatedMs,
      cost.gatedScanMs,
      `${cost.gatedRows} / ${cost.deniedRows}`,
    ),
    "",
    `Gated / open: full read ${cost.ratio.toFixed(2)}x, scan ${cost.scanRatio.toFixed(2)}x ` +
    `(goal <= ${GATE_GOAL_RATIO}x): ${met ? "MET" : "MISSED"}`,
  ].join("\n");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

if (import.meta.main) {
  console.log(renderGateCost(await measureGateCostOnPostgres(Deno.env.get("BENCH_DATABASE_URL"))));
}
