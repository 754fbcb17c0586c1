/**
 * A pg_cron stand-in for the local stack on PGlite, which has no pg_cron: a `cron.job` table with
 * pg_cron's columns holding the jobs `ops/schedule_sync.sql` schedules (read from that file, so
 * the two never drift), and a runner that, at each minute, runs every active job whose schedule
 * matches (UTC) by calling `sync` with the job's body and the sync secret, as `polar.call_sync`
 * does through pg_net on Supabase. Deleting or deactivating a row stops that job, as it would in
 * pg_cron; the doctor's "Schedule installed" check reads the same table.
 *
 * @module
 */
import type { Database } from "./database.ts";

/** One job of `ops/schedule_sync.sql`. */
export interface ScheduledJob {
  /** The job's name, such as `polar-usage`. */
  name: string;
  /** Its cron expression (minute hour day-of-month month day-of-week). */
  schedule: string;
  /** The SQL the job runs: `select polar.call_sync('<body>')`. */
  command: string;
  /** The body `polar.call_sync` sends to `sync`. */
  body: Record<string, unknown>;
}

const SCHEDULE_FILE = new URL("../ops/schedule_sync.sql", import.meta.url);

/**
 * Reads the jobs `ops/schedule_sync.sql` schedules with `cron.schedule(name, schedule, command)`.
 *
 * @param sql the file's text (read from the repository by default)
 * @returns the jobs, in the file's order
 * @example
 * ```ts
 * (await readScheduledJobs()).map((job) => job.name);
 * // ["polar-reconcile", "polar-reconcile-resume", "polar-customer-deletions", "polar-usage"]
 * ```
 */
export async function readScheduledJobs(sql?: string): Promise<ScheduledJob[]> {
  const text = sql ?? await Deno.readTextFile(SCHEDULE_FILE);
  const calls = text.matchAll(
    /select cron\.schedule\('([^']+)',\s*'([^']+)',\s*\$\$(select polar\.call_sync\('([^']*)'\))\$\$\);/g,
  );
  return [...calls].map(([, name, schedule, command, body]) => ({
    name,
    schedule,
    command,
    body: JSON.parse(body),
  }));
}

/**
 * Whether a cron expression (five fields: `*`, numbers, `a-b` ranges, `/n` steps, `,` lists)
 * matches a minute, in UTC.
 *
 * @param expression the expression
 * @param at the minute
 * @returns whether a job on that schedule runs then
 * @example
 * ```ts
 * cronMatches("5-59/10 * * * *", new Date("2026-12-01T10:15:00Z")); // true
 * cronMatches("0 3 * * *", new Date("2026-12-01T10:15:00Z")); // false
 * ```
 */
export function cronMatches(expression: string, at: Date): boolean {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`Not a cron expression: "${expression}"`);
  const values = [at.getUTCMinutes(), at.getUTCHours(), at.getUTCDate(), at.getUTCMonth() + 1];
  const ranges: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 6]];
  return [...values, at.getUTCDay()].every((value, i) => fieldMatches(fields[i], value, ranges[i]));
}

function fieldMatches(field: string, value: number, [min, max]: [number, number]): boolean {
  return field.split(",").some((part) => {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    const [from, to] = range === "*"
      ? [min, max]
      : range.includes("-")
      ? range.split("-").map(Number)
      : [Number(range), stepText === undefined ? Number(range) : max];
    return value >= from && value <= to && (value - from) % step === 0;
  });
}

/**
 * Creates `cron.job` (pg_cron's columns) and puts the jobs of `ops/schedule_sync.sql` in it,
 * replacing earlier ones of the same names, as running the file again would.
 *
 * @param db the stack's PGlite database
 * @returns the jobs installed
 * @example
 * ```ts
 * await installCronStandIn(stack.db); // cron.job holds polar-reconcile, … , polar-usage
 * ```
 */
export async function installCronStandIn(db: Database): Promise<ScheduledJob[]> {
  const jobs = await readScheduledJobs();
  await db.exec(`
    create schema if not exists cron;
    create table if not exists cron.job (
      jobid bigserial primary key, schedule text not null, command text not null,
      nodename text not null default 'localhost', nodeport integer not null default 5432,
      database text not null default current_database(),
      username text not null default current_user, active boolean not null default true,
      jobname text
    );
    comment on table cron.job is
      'The local stack''s pg_cron stand-in: the jobs of ops/schedule_sync.sql, run by local/cron.ts.';
    revoke all on schema cron from public;
  `);
  for (const job of jobs) {
    await db.query("delete from cron.job where jobname = $1", [job.name]);
    await db.query("insert into cron.job (jobname, schedule, command) values ($1, $2, $3)", [
      job.name,
      job.schedule,
      job.command,
    ]);
  }
  return jobs;
}

/**
 * Runs the jobs due at one minute: every active row of `cron.job` whose schedule matches.
 *
 * @param db the database holding `cron.job`
 * @param at the minute
 * @param callSync sends one job's body to `sync`
 * @returns the names of the jobs run
 * @example
 * ```ts
 * await runDueJobs(db, new Date("2026-12-01T03:00:00Z"), callSync); // ["polar-customer-deletions", "polar-reconcile", "polar-usage"]
 * ```
 */
export async function runDueJobs(
  db: Database,
  at: Date,
  callSync: (body: Record<string, unknown>) => Promise<unknown>,
): Promise<string[]> {
  const exists = await db.query<{ ok: boolean }>(
    "select to_regclass('cron.job') is not null as ok",
  );
  if (!exists[0]?.ok) return [];
  const rows = await db.query<{ jobname: string; schedule: string; command: string }>(
    "select jobname, schedule, command from cron.job where active order by jobname",
  );
  const due = rows.filter((row) => cronMatches(row.schedule, at));
  await Promise.all(due.map((row) => {
    const body = row.command.match(/^select polar\.call_sync\('([^']*)'\)$/)?.[1];
    return body === undefined ? undefined : callSync(JSON.parse(body)).catch(() => undefined);
  }));
  return due.map((row) => row.jobname);
}

/**
 * Starts the runner: at the start of every minute, {@linkcode runDueJobs}.
 *
 * @param db the database holding `cron.job`
 * @param callSync sends one job's body to `sync`
 * @returns stops the runner
 * @example
 * ```ts
 * const stop = startCronRunner(db, (body) => fetch(syncUrl, { method: "POST", body: JSON.stringify(body) }));
 * ```
 */
export function startCronRunner(
  db: Database,
  callSync: (body: Record<string, unknown>) => Promise<unknown>,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    const now = Date.now();
    timer = setTimeout(async () => {
      await runDueJobs(db, new Date(Math.round(Date.now() / 60_000) * 60_000), callSync)
        .catch(() => undefined);
      next();
    }, 60_000 - (now % 60_000));
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
