/**
 * The README's schedule (`ops/schedule_sync.sql`) on a throwaway PostgreSQL 15 cluster with
 * Debian's pg_cron, up to the HTTP request each job makes: pg_net and Vault are not packaged for
 * Debian, so `net.http_post` and `vault.decrypted_secrets` are stand-ins with Supabase's
 * signatures that record the request instead of sending it. The jobs' schedules are shortened
 * to a second so they fire during the test.
 *
 * Run by `deno task test:reliability`; on its own: `deno test -A reliability/schedule_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { migrate, postgresDatabase } from "../local/postgres.ts";
import { startThrowawayCluster } from "./databases.ts";
import { delay } from "./harness.ts";
import { figure, runCases } from "./report.ts";

const SCHEDULE_SQL = new URL("../ops/schedule_sync.sql", import.meta.url);
const PROJECT_URL = "https://abcdefghijklmnop.supabase.co";
const SECRET_KEY = "sb_secret_schedule_test_key";

/** pg_net's `http_post` and Supabase Vault, recording instead of sending. */
const SUPABASE_EXTENSION_STAND_INS = `
  create schema net;
  create table net.recorded_requests (
    id bigint generated always as identity primary key,
    url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer,
    at timestamptz default clock_timestamp());
  create function net.http_post(
    url text, body jsonb default '{}', params jsonb default '{}',
    headers jsonb default '{"Content-Type": "application/json"}',
    timeout_milliseconds integer default 5000
  ) returns bigint language sql as $$
    insert into net.recorded_requests (url, body, params, headers, timeout_milliseconds)
    values (url, body, params, headers, timeout_milliseconds) returning id;
  $$;
`;

Deno.test("schedule: the pg_cron jobs call the sync function with the secret key", async (t) => {
  await using cluster = await startThrowawayCluster({
    shared_preload_libraries: "pg_cron",
    "cron.database_name": "postgres",
    "cron.use_background_workers": "on",
    max_worker_processes: "20",
  });
  const db = postgresDatabase(cluster.url);
  try {
    await migrate(db);
    await db.exec(SUPABASE_EXTENSION_STAND_INS);
    await db.exec(`
      create schema vault;
      create table vault.secrets (name text primary key, secret text not null);
      create view vault.decrypted_secrets as select name, secret as decrypted_secret from vault.secrets;
      insert into vault.secrets values ('project_url', '${PROJECT_URL}'), ('sync_secret_key', '${SECRET_KEY}');
    `);
    // The file as users run it, but for `create extension pg_net`, whose stand-in is above.
    const sql = (await Deno.readTextFile(SCHEDULE_SQL))
      .replace("create extension if not exists pg_net;", "");
    await db.exec(sql);

    await runCases(t, "schedule", [{
      name: "three jobs, each posting its scope to /functions/v1/sync with the secret key",
    }], async () => {
      const jobs = await db.query<{ jobname: string; schedule: string }>(
        "select jobname, schedule from cron.job order by jobname",
      );
      assert.deepEqual(jobs, [
        { jobname: "polar-customer-deletions", schedule: "* * * * *" },
        { jobname: "polar-reconcile", schedule: "0 3 * * *" },
        { jobname: "polar-reconcile-resume", schedule: "*/10 * * * *" },
      ]);
      // Each job's command, run as pg_cron runs it (as the job's user, in its database).
      const commands = await db.query<{ command: string; username: string }>(
        "select command, username from cron.job order by jobname",
      );
      for (const { command, username } of commands) {
        await db.exec(`set role ${username}; ${command}; reset role;`);
      }
      const requests = await db.query<
        { url: string; body: unknown; headers: Record<string, string>; timeout: number }
      >(
        "select url, body, headers, timeout_milliseconds as timeout from net.recorded_requests order by id",
      );
      assert.deepEqual(requests.map((r) => r.body), [
        { scope: "deletions" },
        { scope: "all" },
        { scope: "all", resume: true },
      ]);
      for (const request of requests) {
        assert.equal(request.url, `${PROJECT_URL}/functions/v1/sync`);
        assert.equal(request.headers.Authorization, `Bearer ${SECRET_KEY}`);
        assert.equal(request.headers.apikey, SECRET_KEY);
        assert.equal(request.headers["Content-Type"], "application/json");
        assert.equal(request.timeout, 150_000);
      }
    });

    await runCases(t, "schedule", [{
      name: "pg_cron runs the every-minute deletions job by itself",
    }], async () => {
      // Debian's pg_cron 1.4 schedules by the minute: wait for the next one.
      const started = performance.now();
      let runs: { status: string; command: string }[] = [];
      while (runs.length === 0 && performance.now() - started < 75_000) {
        await delay(500);
        // pg_cron records a run as starting, then running, then how it ended: wait for an end.
        runs = await db.query(
          "select d.status, d.command from cron.job_run_details as d where d.status in ('succeeded', 'failed') order by d.runid",
        );
      }
      await figure(
        "schedule: seconds until pg_cron ran a job",
        ((performance.now() - started) / 1000).toFixed(1),
      );
      assert.ok(runs.length > 0, "pg_cron ran a job within 75 s");
      assert.ok(runs.every((run) => run.status === "succeeded"), JSON.stringify(runs));
      assert.match(runs[0].command, /"scope": "deletions"/);
      const [{ n }] = await db.query<{ n: number }>(
        'select count(*)::int as n from net.recorded_requests where body = \'{"scope": "deletions"}\'',
      );
      assert.ok(n >= 2, "its request was recorded");
      await db.exec("select cron.unschedule(jobid) from cron.job");
    });

    await runCases(
      t,
      "schedule",
      [{ name: "the API roles cannot call the scheduler's function" }],
      async () => {
        for (const role of ["anon", "authenticated", "service_role"]) {
          await assert.rejects(
            db.query("select polar.call_sync('{}')", [], { role, claims: { role } }),
            /permission denied/,
            role,
          );
        }
      },
    );
  } finally {
    await db.close();
  }
});
