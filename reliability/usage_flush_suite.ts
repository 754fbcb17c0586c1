/**
 * The usage flush under faults, on a fresh database of the PostgreSQL server in `DATABASE_URL`:
 * the real `sync` function (started with `deno run`, `{"scope":"usage"}` with its sync secret)
 * sends the outbox `public.polar_usage_events` to the local stack's Polar stand-in, through a
 * front that can fail Polar's `POST /v1/events/ingest` (502, 429, hanging past the SDK's 3.5 s,
 * the answer lost after Polar stored the batch, the connection dropped) and kill the function
 * process at chosen points; the Supabase API (PostgREST on the database) sits behind a TCP front
 * that can drop the function's database calls.
 *
 * After each case: every recorded row ends delivered, the stand-in holds exactly one event per
 * row (by `external_id`, nothing else), and the `inserted` counts Polar answered add up to the
 * rows (resends come back as `duplicates`).
 *
 * - 5,000 rows flushed through 502s, two 429s (the pacer's back-off), a hang, answers lost
 *   after Polar stored (a 502, a hang, a dropped connection) and a dropped database call.
 * - 5,000 rows while the sync process is killed at three random points of its flushes, then
 *   2,000 more while it is killed when its ingest arrives (before Polar stores it) and after
 *   Polar stored the batch; a killed flush's claims are let lapse (as their 120 s lease would)
 *   before the next flush.
 * - Two sync processes flushing 5,000 rows at once: each row is claimed by one of them, so Polar
 *   sees no duplicate at all.
 * - A poisoned event (metadata Polar refuses) in a batch of 1,000: 999 delivered, the poisoned
 *   row kept with Polar's reason, counted in the flush's `failed` and named in the reconcile
 *   report's `unsent_usage`.
 * - Balances: 20 users subscribed through the stand-in spend against their credits; right after
 *   the flush (with a 502 in it) `usage_balance` is already exact while Polar's balance is late;
 *   after the stand-in's recompute delay and a reconcile, `usage_balance` equals Polar's balance
 *   for every user.
 *
 * Mistakes put in by hand, each failing its case (see the commit that adds this file): rows
 * marked delivered when the ingest failed (the faults case: rows missing at the stand-in); rows
 * marked delivered before their ingest (the kill case); the claim without `skip locked` and its
 * lease (the race: duplicates at Polar); a 422 refusing the whole batch instead of splitting it
 * (the poison case); the balance subtracting Polar's consumption and the delivered units both
 * (the balance case).
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/usage_flush_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import type { Database } from "../local/database.ts";
import { apiKeyClaims, createTestKeys } from "../local/keys.ts";
import { type FunctionProcess, serveOnLoopback, startFunction } from "../local/loopback.ts";
import { createPolarStandIn, DEMO_METER, DEMO_PRODUCT_ID } from "../local/polar_stand_in.ts";
import { createSupabaseApi } from "../local/supabase_api.ts";
import { createWebhookSecret } from "../local/webhook_signing.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { delay, SITE_URL } from "./harness.ts";
import { figure, runCases } from "./report.ts";
import { startTcpFront } from "./tcp_front.ts";
import { replayableRandom } from "./random.ts";

/** Rows per fault case. */
const ROWS = 5_000;
/** Rows recorded for the kills at chosen points (two batches at least). */
const KILLED_ROWS = 2_000;
/** The stand-in's recompute delay of customer meters (`POLAR_METER_RECOMPUTE_DELAY_MS`). */
const RECOMPUTE_DELAY_MS = 3_000;
/** Added to every ingest call, so that a flush spans long enough to be killed in the middle. */
const INGEST_LATENCY_MS = 100;
/** Flushes a case may take before it has to be done. */
const MAX_FLUSHES = 20;

/** What the ingest front does with one call. */
type IngestFault =
  | "ok"
  | "502"
  | "429"
  | "hang"
  | "stored-then-502"
  | "stored-then-hang"
  | "stored-then-drop"
  | "stored-then-db-drop"
  | "kill-before-store"
  | "kill-after-store";

/** One ingest call as the front saw it. */
interface IngestCall {
  fault: IngestFault;
  /** What Polar answered for the batch, when it stored it. */
  inserted: number;
  duplicates: number;
}

Deno.test("usage flush: every recorded row reaches Polar exactly once, whatever fails", async (t) => {
  const random = await replayableRandom("usage flush: seed");
  await using fresh = await createFreshDatabase(serverUrl());
  const db = fresh.db;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    // ----- Polar: the stand-in behind an ingest front and a TCP front --------------------------
    const polar = createPolarStandIn({
      baseUrl: "http://127.0.0.1",
      webhookUrl: "http://127.0.0.1:9/unused",
      webhookSecret: createWebhookSecret(),
      webhooks: "off",
      meterRecomputeDelayMs: RECOMPUTE_DELAY_MS,
    });
    cleanups.push(() => polar.close());
    const faults: IngestFault[] = [];
    const calls: IngestCall[] = [];
    const hooks: { kill?: () => Promise<void> } = {};
    const polarServer = await serveOnLoopback(async (request) => {
      const { pathname } = new URL(request.url);
      if (request.method !== "POST" || pathname !== "/v1/events/ingest") {
        return await polar.handler(request);
      }
      const fault = faults.shift() ?? "ok";
      const entry: IngestCall = { fault, inserted: 0, duplicates: 0 };
      calls.push(entry);
      await delay(INGEST_LATENCY_MS);
      if (fault === "502") return Response.json({ detail: "Bad gateway" }, { status: 502 });
      if (fault === "429") {
        return Response.json({ detail: "Too many requests" }, {
          status: 429,
          headers: { "Retry-After": "0" },
        });
      }
      if (fault === "hang") return await hang(request);
      if (fault === "kill-before-store") {
        await hooks.kill!();
        return new Response(null, { status: 502 });
      }
      const response = await polar.handler(request);
      if (response.ok) Object.assign(entry, await response.clone().json());
      switch (fault) {
        case "stored-then-502":
          return Response.json({ detail: "Bad gateway" }, { status: 502 });
        case "stored-then-hang":
          return await hang(request);
        case "stored-then-drop":
          // Cuts the connection this answer would go back on.
          polarFront.setMode("drop");
          setTimeout(() => polarFront.setMode("pass"), 300);
          return response;
        case "stored-then-db-drop":
          // The function's next database call (marking these rows delivered) is cut.
          apiFront.setMode("drop");
          setTimeout(() => apiFront.setMode("pass"), 1_000);
          return response;
        case "kill-after-store":
          await hooks.kill!();
          return response;
        default:
          return response;
      }
    });
    cleanups.push(() => polarServer.shutdown());
    const polarFront = startTcpFront(polarServer.url);
    cleanups.push(() => polarFront.close());

    // ----- Supabase: PostgREST on the database behind a TCP front ------------------------------
    const keys = await createTestKeys();
    const routes: { api?: (request: Request) => Promise<Response> } = {};
    const api = await serveOnLoopback((request) => routes.api!(request));
    cleanups.push(() => api.shutdown());
    const apiFront = startTcpFront(api.url);
    cleanups.push(() => apiFront.close());
    const issuer = `${apiFront.url}/auth/v1`;
    routes.api = createSupabaseApi({ db, jwks: keys.jwks, issuer });
    const syncSecret = Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (byte) => byte.toString(16).padStart(2, "0"),
    ).join("");
    const env = {
      SUPABASE_URL: apiFront.url,
      SUPABASE_ANON_KEY: await keys.sign(apiKeyClaims("anon", issuer)),
      SUPABASE_SERVICE_ROLE_KEY: await keys.sign(apiKeyClaims("service_role", issuer)),
      POLAR_ACCESS_TOKEN: "polar_oat_reliability",
      POLAR_API_URL: polarFront.url,
      POLAR_SYNC_SECRET: syncSecret,
      POLAR_SYNC_RATE_PER_MINUTE: "60000",
      SITE_URL,
    };
    const processes = new Set<FunctionProcess>();
    cleanups.push(async () => {
      for (const process of processes) await process[Symbol.asyncDispose]();
    });
    const startSync = async () => {
      const process = await startFunction("sync", env);
      processes.add(process);
      return process;
    };
    const kill = async (process: FunctionProcess) => {
      processes.delete(process);
      await process[Symbol.asyncDispose]();
    };
    let sync = await startSync();
    /** One call of the function; null when it could not answer (killed, or a 5xx). */
    const call = async (process: FunctionProcess, scope: "usage" | "all") => {
      try {
        const response = await fetch(`${process.url}/`, {
          method: "POST",
          headers: { Authorization: `Bearer ${syncSecret}`, "Content-Type": "application/json" },
          body: JSON.stringify({ scope }),
        });
        const body = await response.json();
        return response.ok ? body : null;
      } catch {
        return null;
      }
    };
    type FlushReport = { sent: number; duplicates: number; failed: number; pending: number };
    const flush = (process = sync) => call(process, "usage") as Promise<FlushReport | null>;

    // ----- The outbox ------------------------------------------------------------------------
    await db.query("select public.store_polar_meters($1::text::jsonb)", [
      JSON.stringify(polar.meterDefinitions),
    ]);
    /** `rows` rows of the demo sum meter over 10 new users; answers their ids. */
    const recordRows = async (rows: number) => {
      const users: string[] = Array.from({ length: 10 }, () => crypto.randomUUID());
      await db.query(
        "insert into auth.users (id, email) select id, id || '@example.com' from unnest($1::uuid[]) as id",
        [users],
      );
      await db.query(
        `select public.record_usage($1, (1 + n % 7)::numeric / 2, 'k' || n, '{"feature": "test"}',
           ($2::uuid[])[1 + n % 10])
         from generate_series(1, $3::int) as n`,
        [DEMO_METER.name, users, rows],
      );
      return users;
    };
    /** Flushes until nothing is pending, letting killed flushes' claims lapse; answers the
     * flushes' reports. */
    const flushUntilDone = async () => {
      const reports: (FlushReport | null)[] = [];
      for (let i = 0; i < MAX_FLUSHES; i++) {
        const report = await flush();
        reports.push(report);
        if (report && report.pending === 0) return reports;
        await lapseClaims(db);
      }
      throw new Error(`still pending after ${MAX_FLUSHES} flushes: ${JSON.stringify(reports)}`);
    };
    /** Every row of these users delivered; the stand-in holds each row's event once, and
     * nothing else of theirs; Polar's inserted counts add up to the rows. */
    const assertExactlyOnce = async (users: string[], since: number) => {
      const rows = await db.query<{ external_id: string; delivered: boolean; refusal: string }>(
        `select external_id, delivered_at is not null as delivered, polar_refusal as refusal
         from public.polar_usage_events where user_id = any($1::uuid[])`,
        [users],
      );
      const undelivered = rows.filter((row) => !row.delivered);
      assert.deepEqual(undelivered.slice(0, 3), [], `${undelivered.length} rows not delivered`);
      const mine = new Set(users);
      const events = polar.events.filter((e) => mine.has(e.external_customer_id ?? ""));
      const counts = new Map<string, number>();
      for (const event of events) {
        counts.set(event.external_id!, (counts.get(event.external_id!) ?? 0) + 1);
      }
      const missing = rows.filter((row) => !counts.has(row.external_id)).length;
      const twice = [...counts.values()].filter((n) => n > 1).length;
      const recorded = new Set(rows.map((row) => row.external_id));
      const stray = [...counts.keys()].filter((id) => !recorded.has(id)).length;
      assert.deepEqual(
        { rows: rows.length, events: events.length, missing, twice, stray },
        { rows: rows.length, events: rows.length, missing: 0, twice: 0, stray: 0 },
        "the stand-in holds exactly one event per recorded row",
      );
      const inserted = calls.slice(since).reduce((sum, c) => sum + c.inserted, 0);
      assert.equal(inserted, rows.length, "Polar's inserted counts add up to the rows");
      return calls.slice(since).reduce((sum, c) => sum + c.duplicates, 0);
    };

    const cases: { name: string; run: () => Promise<void> }[] = [
      {
        name:
          `${ROWS} rows through 502s, 429s, a hang, answers lost after Polar stored (502, hang, dropped connection) and a dropped database call: each row once at Polar, all delivered`,
        run: async () => {
          const users = await recordRows(ROWS);
          const since = calls.length;
          faults.push(
            "502",
            "ok",
            "429",
            "429",
            "ok",
            "stored-then-502",
            "hang",
            "stored-then-drop",
            "stored-then-hang",
            "ok",
            "stored-then-db-drop",
            "502",
          );
          const reports = await flushUntilDone();
          const duplicates = await assertExactlyOnce(users, since);
          assert.deepEqual(faults, [], "every fault was met before the last row was delivered");
          assert.ok(
            duplicates > 0,
            "the batches Polar stored before failing came back as duplicates",
          );
          await figure(
            "usage flush faults: flushes, ingest calls, duplicates absorbed",
            `${reports.length}, ${calls.length - since}, ${duplicates}`,
          );
        },
      },
      {
        name:
          `${ROWS} rows while the sync process is killed at three random points of its flushes, then ${KILLED_ROWS} more while it is killed as its ingest arrives and after Polar stored a batch: each row once at Polar, all delivered`,
        run: async () => {
          const since = calls.length;
          // Killed at random points of a flush: claiming, sending, marking, or between.
          const users = await recordRows(ROWS);
          const points: string[] = [];
          for (let i = 0; i < 3; i++) {
            const at = Math.round(random() * 800);
            const flushing = flush();
            await delay(at);
            await kill(sync);
            sync = await startSync();
            await flushing;
            await lapseClaims(db);
            points.push(`${at} ms (${await delivered(db, users)} delivered)`);
          }
          // Killed when its ingest arrives (Polar has nothing), and after Polar stored a batch.
          const more = await recordRows(KILLED_ROWS);
          hooks.kill = () => kill(sync);
          faults.push("kill-before-store");
          await flush();
          sync = await startSync();
          await lapseClaims(db);
          faults.push("kill-after-store");
          await flush();
          sync = await startSync();
          await lapseClaims(db);
          assert.deepEqual(faults, [], "both kills happened");
          const reports = await flushUntilDone();
          const duplicates = await assertExactlyOnce([...users, ...more], since);
          await figure(
            "usage flush kills: random kill points, then flushes to finish, duplicates absorbed",
            `${points.join(" / ")}, ${reports.length}, ${duplicates}`,
          );
        },
      },
      {
        name:
          `two sync processes flush ${ROWS} rows at once: each row claimed by one, no duplicate at Polar, all delivered`,
        run: async () => {
          const users = await recordRows(ROWS);
          const since = calls.length;
          const other = await startSync();
          const [a, b] = await Promise.all([flush(sync), flush(other)]);
          await kill(other);
          assert.ok(a && b, "both flushes answered");
          assert.equal(a.sent + b.sent, ROWS, "between them, every row sent once");
          assert.equal(a.duplicates + b.duplicates, 0, "neither sent a row the other sent");
          assert.equal(await assertExactlyOnce(users, since), 0, "Polar saw no duplicate");
          await figure("usage flush race: events sent by each flusher", `${a.sent} / ${b.sent}`);
        },
      },
      {
        name:
          "a poisoned event in a batch of 1,000: 999 delivered, the poisoned kept with Polar's reason, reported by the flush and the reconcile",
        run: async () => {
          const users = await recordRows(1_000);
          const [poisoned] = await db.query<{ id: number; external_id: string }>(
            `update public.polar_usage_events set metadata = '{"nested": {"x": 1}}'
             where id = (select id from public.polar_usage_events where user_id = any($1::uuid[])
               order by random() limit 1)
             returning id, external_id`,
            [users],
          );
          const since = calls.length;
          const report = await flush();
          assert.deepEqual(report, { sent: 999, duplicates: 0, failed: 1, pending: 0 });
          const rows = await db.query<{ id: number; delivered: boolean; refusal: string | null }>(
            `select id, delivered_at is not null as delivered, polar_refusal as refusal
             from public.polar_usage_events where user_id = any($1::uuid[])`,
            [users],
          );
          const refused = rows.filter((row) => !row.delivered);
          assert.deepEqual(refused, [{
            id: poisoned.id,
            delivered: false,
            refusal: "Metadata values must be strings, numbers or booleans",
          }]);
          const mine = new Set(users);
          const events = polar.events.filter((e) => mine.has(e.external_customer_id ?? ""));
          assert.equal(events.length, 999, "the stand-in holds the other 999");
          assert.ok(!events.some((e) => e.external_id === poisoned.external_id));
          const reconcile = await call(sync, "all");
          assert.ok(reconcile, "the reconcile answered");
          const named = reconcile.unsent_usage.events.filter((e: { state: string }) =>
            e.state === "refused"
          );
          assert.deepEqual(
            named.map((e: Record<string, unknown>) => [e.external_id, e.reason]),
            [[poisoned.external_id, "Metadata values must be strings, numbers or booleans"]],
            "the reconcile report names the poisoned event with Polar's reason",
          );
          await figure(
            "usage flush poison: ingest calls to isolate 1 event of 1,000",
            String(calls.length - since),
          );
        },
      },
      {
        name:
          "balances: right after the flush usage_balance is exact while Polar's is late; after Polar's recompute delay and a reconcile they are equal for each of 20 users",
        run: async () => {
          const users = await subscribe(polar.handler, db, 20);
          await polar.metersSettled();
          assert.ok(await call(sync, "all"), "the reconcile brought the credits");
          const credited = await balances(db, users);
          assert.ok(credited.every((b) => b > 0), "every user has credits");
          // Each user spends random amounts, some refused at the balance.
          const spent = users.map(() => 0);
          await Promise.all(users.map(async (user, u) => {
            for (let i = 0; i < 12; i++) {
              const units = 1 + Math.floor(random() * 20) / 2;
              const [row] = await db.query<{ answer: { allowed: boolean } }>(
                "select public.consume_usage($1, $2, $3, '{}', $4) as answer",
                [DEMO_METER.name, units, `spend-${i}`, user],
                { role: "service_role", claims: { role: "service_role" } },
              );
              if (row.answer.allowed) spent[u] += units;
            }
          }));
          faults.push("502");
          await flushUntilDone();
          // Read before Polar's recompute delay has passed since the ingest.
          const polarBefore = polarBalances(polar.meters, polar.customers, users);
          const exact = await balances(db, users);
          assert.deepEqual(exact, credited.map((c, u) => c - spent[u]), "exact at once");
          assert.deepEqual(polarBefore, credited, "Polar's balance is still the old one");
          await polar.metersSettled();
          const polarAfter = polarBalances(polar.meters, polar.customers, users);
          assert.deepEqual(polarAfter, exact, "once Polar recomputed, its balance is ours");
          assert.ok(await call(sync, "all"), "the reconcile brought Polar's readings");
          assert.deepEqual(
            await balances(db, users),
            polarAfter,
            "usage_balance equals Polar's balance once Polar has counted everything",
          );
          await figure(
            "usage balances: units spent by 20 users, equal to Polar's after its recompute",
            String(spent.reduce((a, b) => a + b, 0)),
          );
        },
      },
    ];
    /** Each case starts clean, whatever an earlier one left: no fault queued, both fronts
     * passing, a live sync process, nothing pending from another case. */
    const reset = async () => {
      faults.length = 0;
      hooks.kill = undefined;
      polarFront.setMode("pass");
      apiFront.setMode("pass");
      if (!processes.has(sync)) sync = await startSync();
      await db.query(
        "delete from public.polar_usage_events where delivered_at is null and polar_refusal is null",
      );
    };
    const passed = await runCases(t, "usage flush", cases, async (c) => {
      await reset();
      await c.run();
    });
    assert.equal(passed, cases.length);
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  }
});

/** Rows of these users marked delivered. */
async function delivered(db: Database, users: string[]): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select count(*)::int as n from public.polar_usage_events
     where user_id = any($1::uuid[]) and delivered_at is not null`,
    [users],
  );
  return row.n;
}

/** Waits as a hanging Polar does, until the caller gives up. */
async function hang(request: Request): Promise<Response> {
  await delay(30_000, request.signal);
  return new Response(null, { status: 504 });
}

/** Claims a killed flush left behind lapse now, as they would after their 120 s lease. */
async function lapseClaims(db: Database): Promise<void> {
  await delay(300);
  await db.query(
    `update public.polar_usage_events set claimed_until = now() - interval '1 second'
     where claimed_until > now()`,
  );
}

/**
 * `count` new users, each with a Polar customer (external_id = user id) subscribed to the demo
 * product through the stand-in's checkout, which credits the demo meter after its recompute.
 */
async function subscribe(
  polar: (request: Request) => Promise<Response>,
  db: Database,
  count: number,
): Promise<string[]> {
  const users: string[] = [];
  const ask = async (path: string, body: unknown) => {
    const response = await polar(
      new Request(`http://polar.test${path}`, {
        method: "POST",
        headers: { Authorization: "Bearer polar_oat_reliability" },
        body: JSON.stringify(body),
      }),
    );
    return response.status === 303 ? null : await response.json();
  };
  for (let i = 0; i < count; i++) {
    const user = crypto.randomUUID();
    await db.query("insert into auth.users (id, email) values ($1, $2)", [
      user,
      `${user}@example.com`,
    ]);
    const customer = await ask("/v1/customers/", {
      email: `${user}@example.com`,
      external_id: user,
    });
    const checkout = await ask("/v1/checkouts/", {
      products: [DEMO_PRODUCT_ID],
      customer_id: customer.id,
    });
    await ask(`/checkout/${checkout.client_secret}/pay`, {});
    users.push(user);
  }
  return users;
}

/** Each user's `usage_balance` of the demo meter, as that user. */
async function balances(db: Database, users: string[]): Promise<number[]> {
  return await Promise.all(users.map(async (user) => {
    const [row] = await db.query<{ balance: string }>(
      "select public.usage_balance($1)::text as balance",
      [DEMO_METER.name],
      { role: "authenticated", claims: { sub: user, role: "authenticated" } },
    );
    return Number(row.balance);
  }));
}

/** Each user's balance of the demo meter at the stand-in (its customer meter). */
function polarBalances(
  meters: Map<string, models.CustomerMeter>,
  customers: Map<string, models.CustomerIndividual>,
  users: string[],
): number[] {
  return users.map((user) => {
    const customer = [...customers.values()].find((c) => c.external_id === user);
    const meter = [...meters.values()].find((m) =>
      m.customer_id === customer?.id && m.meter_id === DEMO_METER.id
    );
    return meter?.balance ?? 0;
  });
}
