/**
 * Load against the local stack (Supabase API stand-in, the real functions, the Polar stand-in) on
 * a fresh database of a PostgreSQL server (`DATABASE_URL`):
 *
 * - portal: 2,000 requests at concurrency 50 from 10 users who subscribed through checkout and
 *   the stand-in's webhooks; each answer's portal page must show the caller's own customer and
 *   return URL, never another's.
 * - webhooks: 1,700 events of 50 users' subscriptions, plus 20% redeliveries, shuffled, 16 in
 *   flight; the final rows must equal those of delivering each event once, in order, to a second
 *   database, with no delivery lost and none applied twice.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/load_suite.ts`.
 */
import assert from "node:assert/strict";
import { startStack } from "../local/stack.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { toWebhookDelivery } from "../supabase/functions/_polar/polar_webhooks.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { type UniqueEvent, userHistory, withRedeliveries } from "./load_events.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";
import { replayableRandom } from "./random.ts";

const PORTAL_REQUESTS = 2_000;
const PORTAL_CONCURRENCY = 50;
const PORTAL_USERS = 10;
const WEBHOOK_USERS = 50;
const EVENTS_PER_USER = 34;
/** Redeliveries are this share of all deliveries. */
const DUPLICATE_SHARE = 0.2;
const WEBHOOK_CONCURRENCY = 16;
/** The columns Polar's webhooks decide (timestamps of our own bookkeeping left out). */
const STATE_COLUMNS = [
  "user_id",
  "polar_customer_id",
  "polar_subscription_id",
  "status",
  "product_id",
  "current_period_end",
  "cancel_at_period_end",
  "canceled_at",
  "ended_at",
  "polar_modified_at",
  "polar_customer_modified_at",
].join(", ");

function percentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

function latencies(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 0.5).toFixed(0)} ms, p95 ${
    percentile(sorted, 0.95).toFixed(0)
  } ms, max ${sorted.at(-1)!.toFixed(0)} ms`;
}

Deno.test("load: every portal answer is the caller's own; every webhook applied exactly once", async (t) => {
  const random = await replayableRandom("load: shuffle seed");
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
  });
  const { api_url: api, anon_key: anonKey } = stack.info;
  const functionUrl = (name: string) => `${api}/functions/v1/${name}`;

  await runCases(t, "load", [{
    name:
      `portal: ${PORTAL_REQUESTS} requests at concurrency ${PORTAL_CONCURRENCY} from ${PORTAL_USERS} users`,
  }], async () => {
    // Each user signs up, checks out and pays on the stand-in, whose webhooks link the customer.
    const users: { id: string; email: string; token: string; returnUrl: string }[] = [];
    for (let i = 0; i < PORTAL_USERS; i++) {
      const email = `load-${i}-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const signUp = await fetch(`${api}/auth/v1/signup`, {
        method: "POST",
        headers: { apikey: anonKey, "Content-Type": "application/json" },
        body: JSON.stringify({ email, password: "correct-horse-battery" }),
      });
      const { access_token: token, user } = await signUp.json();
      const checkout = await fetch(functionUrl("checkout"), {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ product_id: stack.info.product_id }),
      });
      const { url } = await checkout.json();
      const paid = await fetch(`${url}/pay`, { method: "POST", redirect: "manual" });
      await paid.body?.cancel();
      assert.equal(paid.status, 303, "paid");
      users.push({
        id: user.id as string,
        email,
        token: token as string,
        returnUrl: `${SITE_URL}/u/${i}`,
      });
    }
    const rows = await stack.db.query<
      { user_id: string; polar_customer_id: string; status: string }
    >(
      "select user_id, polar_customer_id, status from public.user_subscriptions",
    );
    assert.equal(rows.length, PORTAL_USERS, "one row per user");
    assert.ok(rows.every((row) => row.status === "active" && row.polar_customer_id), "all active");
    assert.equal(
      new Set(rows.map((row) => row.polar_customer_id)).size,
      PORTAL_USERS,
      "distinct customers",
    );

    const order = Array.from(
      { length: PORTAL_REQUESTS },
      () => users[Math.floor(random() * users.length)],
    );
    const times: number[] = [];
    let own = 0;
    let foreign = 0;
    const failures: string[] = [];
    const started = performance.now();
    await pool(order, PORTAL_CONCURRENCY, async (user) => {
      const begin = performance.now();
      const response = await fetch(functionUrl("portal"), {
        method: "POST",
        headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ return_url: user.returnUrl }),
      });
      const body = await response.json();
      times.push(performance.now() - begin);
      if (response.status !== 200) {
        failures.push(`${response.status} ${JSON.stringify(body)}`);
        return;
      }
      // The page Polar would show: whose customer it is, and where "back" leads.
      const page = await (await fetch(body.url)).text();
      const shown = users.filter((other) => page.includes(`<p>${other.email}</p>`));
      if (shown.length === 1 && shown[0] === user && page.includes(`href="${user.returnUrl}"`)) {
        own++;
      } else if (shown.some((other) => other !== user)) foreign++;
      else failures.push(`unrecognised page for ${user.email}`);
    });
    const seconds = (performance.now() - started) / 1000;
    await figure(
      "portal load: requests / concurrency / users",
      `${PORTAL_REQUESTS} / ${PORTAL_CONCURRENCY} / ${PORTAL_USERS}`,
    );
    await figure(
      "portal load: the caller's own portal / another user's / errors",
      `${own} / ${foreign} / ${failures.length}`,
    );
    await figure(
      "portal load: answer time",
      `${latencies(times)}; ${(PORTAL_REQUESTS / seconds).toFixed(0)} requests/s`,
    );
    assert.deepEqual(failures.slice(0, 5), [], "no errors");
    assert.equal(foreign, 0, "never another user's portal");
    assert.equal(own, PORTAL_REQUESTS, "every answer the caller's own");
  });

  await runCases(t, "load", [{
    name: `webhooks: ${WEBHOOK_USERS * EVENTS_PER_USER} events with ${
      DUPLICATE_SHARE * 100
    }% redeliveries, shuffled, ${WEBHOOK_CONCURRENCY} in flight`,
  }], async () => {
    await using reference = await createFreshDatabase(serverUrl());
    const histories: UniqueEvent[][] = [];
    for (let u = 0; u < WEBHOOK_USERS; u++) {
      const userId = crypto.randomUUID();
      for (const db of [stack.db, reference.db]) {
        await db.query("insert into auth.users (id, email) values ($1, $2)", [
          userId,
          `wh-${u}-${userId.slice(0, 8)}@example.com`,
        ]);
      }
      histories.push(userHistory(userId, EVENTS_PER_USER, u));
    }
    const unique = histories.flat();
    const duplicates = Math.ceil(unique.length * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE));
    const { deliveries, adjacent } = withRedeliveries(unique, duplicates, random);

    // What in-order, once-only delivery gives: each event applied in Polar's order.
    const serviceRole = { role: "service_role", claims: { role: "service_role" } };
    for (const event of unique) {
      const delivery = toWebhookDelivery(event.id, JSON.parse(event.body));
      await reference.db.query(
        "select public.apply_polar_webhook(webhook_id => $1, event_type => $2, event_timestamp => $3, change => $4)",
        [delivery.webhookId, delivery.eventType, delivery.eventTimestamp, delivery.change],
        serviceRole,
      );
    }

    const answers = new Map<string, string[]>();
    const times: number[] = [];
    const failures: string[] = [];
    const started = performance.now();
    await pool(deliveries, WEBHOOK_CONCURRENCY, async ({ event }) => {
      const begin = performance.now();
      const response = await fetch(functionUrl("polar-webhooks"), {
        method: "POST",
        body: event.body,
        headers: {
          ...(await signWebhook(event.body, stack.info.polar_webhook_secret, { id: event.id })),
          "Content-Type": "application/json",
        },
      });
      const body = await response.json();
      times.push(performance.now() - begin);
      if (response.status >= 300) failures.push(`${response.status} ${JSON.stringify(body)}`);
      answers.set(event.id, [...(answers.get(event.id) ?? []), body.outcome]);
    });
    const seconds = (performance.now() - started) / 1000;

    const effectiveAnswers = (event: UniqueEvent) =>
      (answers.get(event.id) ?? []).filter((outcome) => outcome !== "duplicate").length;
    const lost = unique.filter((event) => effectiveAnswers(event) === 0).length;
    const twice = unique.filter((event) => effectiveAnswers(event) > 1).length;
    // The checkout phase's own webhooks are in the table too; count only this load's ids.
    const [recorded] = await stack.db.query<{ n: number; ids: number }>(
      "select count(*)::int as n, count(distinct webhook_id)::int as ids from polar.webhook_deliveries where webhook_id = any($1)",
      [unique.map((event) => event.id)],
    );
    const select = `select ${STATE_COLUMNS} from public.user_subscriptions order by user_id`;
    const loaded = (await stack.db.query(select)).filter((row) =>
      histories.some((h) => h[0].userId === row.user_id)
    );
    const expected = await reference.db.query(select);
    const matching = expected.filter((row, i) =>
      JSON.stringify(row) === JSON.stringify(loaded[i])
    ).length;

    await figure(
      "webhook load: deliveries / unique events / redeliveries (next to the first)",
      `${deliveries.length} / ${unique.length} / ${duplicates} (${adjacent})`,
    );
    await figure(
      "webhook load: recorded deliveries / lost / applied twice / errors",
      `${recorded.n} / ${lost} / ${twice} / ${failures.length}`,
    );
    await figure(
      "webhook load: final rows equal to in-order once-only delivery",
      `${matching} of ${expected.length}`,
    );
    await figure(
      "webhook load: answer time",
      `${latencies(times)}; ${(deliveries.length / seconds).toFixed(0)} deliveries/s`,
    );

    assert.deepEqual(failures.slice(0, 5), [], "every delivery answered 2xx");
    assert.equal(lost, 0, "none lost");
    assert.equal(twice, 0, "none applied twice");
    assert.deepEqual(
      recorded,
      { n: unique.length, ids: unique.length },
      "each event recorded once",
    );
    assert.equal(expected.length, WEBHOOK_USERS, "the reference has every user");
    assert.deepEqual(loaded, expected, "the final rows equal in-order, once-only delivery");
    // The reference is not vacuous: each user's row ended as the last event of their history says.
    const endings = expected.map((row) => row.status);
    assert.deepEqual([...new Set(endings)].sort(), ["active", "canceled", "past_due"]);
  });
});
