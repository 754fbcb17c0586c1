/**
 * The README's schedule (`ops/schedule_sync.sql`) on a throwaway PostgreSQL 15 cluster with
 * Debian's pg_cron, up to the HTTP request each job queues. pg_net's C background worker is not
 * packaged for Debian, so its SQL layer is reproduced below (its tables, `net.http_post` and the
 * grants its install script makes) and requests stay in `net.http_request_queue`, where every
 * database role can read them; Vault is a stand-in with Supabase's view. The suite checks that
 * what waits there carries the schedule's own sync secret and no Supabase key.
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
/** The schedule's secret, as `openssl rand -hex 32` makes one. */
const SYNC_SECRET = "3c9a1e7f5b2d4068a9e1c3f5b7d90a2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b";
/** The project's keys, placed where a project keeps them; none may reach schema net. */
const SUPABASE_KEYS = {
  secret: "sb_secret_schedule_test_key_0123456789",
  publishable: "sb_publishable_schedule_test_key_0123456789",
  serviceRole:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ.c2NoZWR1bGVfdGVzdF9zaWduYXR1cmU",
} as const;

/**
 * pg_net's SQL layer as `create extension pg_net` installs it: written from supabase/pg_net
 * `sql/pg_net.sql` at 0.20.4 (commit 68ef0bf; the Makefile copies that file to
 * `pg_net--0.20.4.sql`). Kept: the `net.http_method` domain, the unlogged tables
 * `net.http_request_queue` and `net._http_response` with their columns, `net.http_post`'s
 * signature, defaults and behaviour (Content-Type check, the request queued with its body as
 * UTF-8 bytes), and the grants at the end of the script. The C functions (`_urlencode_string`,
 * `_encode_url_with_params_array`, `wake`) are SQL equivalents; the worker, `http_get`,
 * `http_delete` and the response collectors are left out.
 */
const PG_NET_SQL_LAYER = `
  create schema if not exists net;
  create domain net.http_method as text
    check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
  create unlogged table net.http_request_queue(
    id bigserial,
    method net.http_method not null,
    url text not null,
    headers jsonb,
    body bytea,
    timeout_milliseconds int not null
  );
  create unlogged table net._http_response(
    id bigint,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out bool,
    error_msg text,
    created timestamptz not null default now()
  );
  create index on net._http_response (created);
  -- The C functions, in SQL: percent-encoding, the query string, and a no-op wake-up.
  create function net._urlencode_string(string varchar) returns text language sql immutable as $$
    select coalesce(string_agg(case
      when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
      then chr(b) else '%' || upper(lpad(to_hex(b), 2, '0')) end, '' order by i), '')
    from (select i, get_byte(convert_to(string, 'UTF8'), i) as b
      from generate_series(0, octet_length(convert_to(string, 'UTF8')) - 1) as i) as bytes
  $$;
  create function net._encode_url_with_params_array(url text, params_array text[]) returns text
  language sql immutable as $$
    select case when cardinality(params_array) = 0 then url
      else url || case when strpos(url, '?') > 0 then '&' else '?' end
        || array_to_string(params_array, '&') end
  $$;
  create function net.wake() returns void language plpgsql as $$ begin end $$;
  create function net.http_post(
    url text,
    body jsonb default '{}'::jsonb,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds int default 5000
  ) returns bigint language plpgsql as $$
  declare
    request_id bigint;
    params_array text[];
    content_type text;
  begin
    select header_value into content_type
    from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
    where lower(header_name) = 'content-type' limit 1;
    if content_type is null then
      select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
    end if;
    if content_type <> 'application/json' then
      raise exception 'Content-Type header must be "application/json"';
    end if;
    select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array from jsonb_each_text(params);
    insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
    values ('POST', net._encode_url_with_params_array(url, params_array), headers,
      convert_to(body::text, 'UTF8'), timeout_milliseconds)
    returning id into request_id;
    perform net.wake();
    return request_id;
  end
  $$;
  -- As the install script ends: every role may use the schema and do anything to its tables.
  grant usage on schema net to PUBLIC;
  grant all on all sequences in schema net to PUBLIC;
  grant all on all tables in schema net to PUBLIC;
`;

/** Supabase Vault's view over a plain table; a project's other secrets sit beside the schedule's. */
const VAULT_STAND_IN = `
  create schema vault;
  create table vault.secrets (name text primary key, secret text not null);
  create view vault.decrypted_secrets as
    select name, secret as decrypted_secret from vault.secrets;
  insert into vault.secrets values
    ('project_url', '${PROJECT_URL}'),
    ('polar_sync_secret', '${SYNC_SECRET}'),
    -- What the previous version of the schedule stored, and what other jobs of a project keep.
    ('sync_secret_key', '${SUPABASE_KEYS.secret}'),
    ('service_role_key', '${SUPABASE_KEYS.serviceRole}'),
    ('publishable_key', '${SUPABASE_KEYS.publishable}');
`;

/** The request a job queued, as pg_net keeps it. */
interface QueuedRequest {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
  timeout: number;
}

const QUEUED = `select method, url, convert_from(body, 'UTF8')::jsonb as body, headers,
  timeout_milliseconds as timeout from net.http_request_queue order by id`;

Deno.test("schedule: the pg_cron jobs call the sync function with the sync secret, and no Supabase key waits in pg_net's queue", async (t) => {
  await using cluster = await startThrowawayCluster({
    shared_preload_libraries: "pg_cron",
    "cron.database_name": "postgres",
    "cron.use_background_workers": "on",
    max_worker_processes: "20",
  });
  const db = postgresDatabase(cluster.url);
  const reportingUrl = new URL(cluster.url);
  reportingUrl.username = "reporting";
  const reporting = postgresDatabase(reportingUrl.href);
  try {
    await migrate(db);
    await db.exec(PG_NET_SQL_LAYER);
    await db.exec(VAULT_STAND_IN);
    // Keys where a project might also keep them: a database setting every session sees.
    await db.exec(`
      alter database postgres set app.settings.service_role_key = '${SUPABASE_KEYS.serviceRole}';
      alter database postgres set app.settings.secret_key = '${SUPABASE_KEYS.secret}';
      create role reporting login;
    `);
    // The file as users run it, but for `create extension pg_net`, whose SQL layer is above.
    const sql = (await Deno.readTextFile(SCHEDULE_SQL))
      .replace("create extension if not exists pg_net;", "");
    await db.exec(sql);

    await runCases(t, "schedule", [{
      name: "five jobs, each queueing its scope for /functions/v1/sync with only the sync secret",
    }], async () => {
      const jobs = await db.query<{ jobname: string; schedule: string }>(
        "select jobname, schedule from cron.job order by jobname",
      );
      assert.deepEqual(jobs, [
        { jobname: "polar-catalog", schedule: "17 * * * *" },
        { jobname: "polar-customer-deletions", schedule: "* * * * *" },
        { jobname: "polar-reconcile", schedule: "0 3 * * *" },
        { jobname: "polar-reconcile-resume", schedule: "5-59/10 * * * *" },
        { jobname: "polar-usage", schedule: "* * * * *" },
      ]);
      // Each job's command, run as pg_cron runs it (as the job's user, in its database).
      const commands = await db.query<{ command: string; username: string }>(
        "select command, username from cron.job order by jobname",
      );
      for (const { command, username } of commands) {
        await db.exec(`set role ${username}; ${command}; reset role;`);
      }
      const requests = await db.query<QueuedRequest>(QUEUED);
      assert.deepEqual(requests.map((r) => r.body), [
        { scope: "catalog" },
        { scope: "deletions" },
        { scope: "all" },
        { scope: "all", resume: true },
        { scope: "usage" },
      ]);
      for (const request of requests) {
        assert.equal(request.method, "POST");
        assert.equal(request.url, `${PROJECT_URL}/functions/v1/sync`);
        assert.deepEqual(request.headers, {
          "Content-Type": "application/json",
          Authorization: `Bearer ${SYNC_SECRET}`,
        });
        assert.equal(request.timeout, 150_000);
      }
    });

    await runCases(t, "schedule", [{
      name: "pg_cron runs the every-minute deletions and usage jobs by itself",
    }], async () => {
      // Debian's pg_cron 1.4 schedules by the minute: wait for the next one.
      const started = performance.now();
      let runs: { status: string; command: string }[] = [];
      while (runs.length < 2 && performance.now() - started < 75_000) {
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
      assert.ok(runs.length >= 2, "pg_cron ran both jobs within 75 s");
      assert.ok(runs.every((run) => run.status === "succeeded"), JSON.stringify(runs));
      for (const scope of ["deletions", "usage"]) {
        assert.ok(runs.some((run) => run.command.includes(`"scope": "${scope}"`)), scope);
        const queued = (await db.query<QueuedRequest>(QUEUED))
          .filter((request) => JSON.stringify(request.body) === `{"scope":"${scope}"}`);
        assert.ok(queued.length >= 2, `its ${scope} request was queued`);
        assert.equal(queued.at(-1)!.headers.Authorization, `Bearer ${SYNC_SECRET}`);
      }
      await db.exec("select cron.unschedule(jobid) from cron.job");
    });

    await runCases(t, "schedule", [{
      name: "any role can read pg_net's queue, and what it reads is the sync secret alone",
    }], async () => {
      // The risk is real: pg_net lets every role read the queue, headers included.
      const asAuthenticated = await db.query<QueuedRequest>(QUEUED, [], {
        role: "authenticated",
        claims: { role: "authenticated", sub: crypto.randomUUID() },
      });
      const asReporting = await reporting.query<QueuedRequest>(QUEUED);
      assert.ok(asAuthenticated.length >= 4, "authenticated reads the queued requests");
      assert.deepEqual(asReporting, asAuthenticated, "so does a plain login role");
      for (const request of asReporting) {
        assert.deepEqual(Object.keys(request.headers).sort(), ["Authorization", "Content-Type"]);
        assert.equal(request.headers.Authorization, `Bearer ${SYNC_SECRET}`);
      }
      // …and can even delete queued jobs (rolled back here).
      await assert.rejects(
        reporting.query(
          "with gone as (delete from net.http_request_queue returning id) select 1 / (select count(*)::int * 0 from gone)",
        ),
        /division by zero/,
        "the delete ran (and was undone by the error)",
      );
    });

    await runCases(t, "schedule", [{
      name: "no Supabase key in any column of any table in schema net",
    }], async () => {
      const columns = await db.query<{ table: string; column: string; type: string }>(
        `select quote_ident(table_name) as table, quote_ident(column_name) as column,
           data_type as type
         from information_schema.columns where table_schema = 'net'
         order by table_name, ordinal_position`,
      );
      const tables = Map.groupBy(columns, (column) => column.table);
      assert.deepEqual([...tables.keys()], ["_http_response", "http_request_queue"]);
      let rows = 0;
      for (const [table, of] of tables) {
        // Every column as text; bytea (the body) decoded, so its bytes are searched too.
        const cells = of.map(({ column, type }) =>
          type === "bytea" ? `convert_from(${column}, 'UTF8')` : `${column}::text`
        );
        const texts = await db.query<{ text: string }>(
          `select concat_ws(' ', ${cells.join(", ")}) as text from net.${table}`,
        );
        rows += texts.length;
        for (const { text } of texts) {
          for (const [kind, key] of Object.entries(SUPABASE_KEYS)) {
            assert.ok(!text.includes(key), `a ${kind} key in net.${table}`);
          }
          assert.ok(!/sb_secret_|sb_publishable_|eyJhbGci/.test(text), `a key in net.${table}`);
        }
      }
      assert.ok(rows >= 4, `${rows} rows scanned`);
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
        await assert.rejects(reporting.query("select polar.call_sync('{}')"), /permission denied/);
      },
    );

    await runCases(t, "schedule", [{
      name: "without the Vault secret, a job fails rather than queue a request without it",
    }], async () => {
      await db.exec("delete from vault.secrets where name = 'polar_sync_secret'");
      await assert.rejects(
        db.query(`select polar.call_sync('{"scope": "deletions"}')`),
        /project_url and polar_sync_secret are required/,
      );
    });
  } finally {
    await reporting.close();
    await db.close();
  }
});
