/**
 * Entitlements under shuffled delivery, on the local stack over a fresh database of a PostgreSQL
 * server (`DATABASE_URL`):
 *
 * - several subscriptions: a user's second subscription ends while the first is still active;
 *   the summary keeps showing the live one and the gates still answer yes.
 * - shuffled interleavings: users with several subscriptions and benefits, each change followed
 *   by its Customer State snapshot, every event delivered once plus 20% redeliveries, shuffled
 *   (snapshots before and after the events they summarise), 16 in flight. Once the last event is
 *   processed, what is stored must equal Polar's final state: every subscription's status, the
 *   granted benefit keys, the gates' answers, and a live summary whenever there is a live
 *   subscription.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/entitlements_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Database } from "../local/database.ts";
import { startStack } from "../local/stack.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { type EntitlementHistory, entitlementHistory, PRODUCTS } from "./entitlement_events.ts";
import { SITE_URL } from "./harness.ts";
import { withRedeliveries } from "./load_events.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";
import { replayableRandom } from "./random.ts";

const USERS = 60;
const STEPS_PER_USER = 8;
const DUPLICATE_SHARE = 0.2;
const CONCURRENCY = 16;
const ROUNDS = 3;

/** What the database says of one user, in the shape of the truth. */
async function stored(db: Database, userId: string) {
  const as = { role: "authenticated", claims: { sub: userId, role: "authenticated" } };
  const subscriptions = await db.query<
    { id: string; product_id: string; status: string; cancel_at_period_end: boolean }
  >(
    "select id, product_id, status, cancel_at_period_end from public.polar_subscriptions order by id",
    [],
    as,
  );
  const keys = (await db.query<{ key: string }>(
    "select distinct benefit_metadata ->> 'key' as key from public.polar_benefit_grants order by 1",
    [],
    as,
  )).map((row) => row.key);
  const [gates] = await db.query<{ active: boolean; pro: boolean; team: boolean }>(
    "select public.has_active_subscription() as active, public.has_entitlement('pro') as pro, public.has_entitlement('team') as team",
    [],
    as,
  );
  const [summary] = await db.query<{ status: string | null }>(
    "select status from public.user_subscriptions",
    [],
    as,
  );
  return { subscriptions, keys, gates, summaryStatus: summary?.status ?? null };
}

function matches(history: EntitlementHistory, got: Awaited<ReturnType<typeof stored>>): boolean {
  const live = got.summaryStatus === "active" || got.summaryStatus === "trialing";
  return JSON.stringify(got.subscriptions) === JSON.stringify(history.subscriptions) &&
    JSON.stringify(got.keys) === JSON.stringify(history.keys) &&
    got.gates.active === history.active &&
    got.gates.pro === history.keys.includes("pro") &&
    got.gates.team === history.keys.includes("team") &&
    live === history.active;
}

Deno.test("entitlements: several subscriptions and shuffled snapshots on PostgreSQL", async (t) => {
  const random = await replayableRandom("entitlements: shuffle seed");
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
  });
  const webhookUrl = `${stack.info.api_url}/functions/v1/polar-webhooks`;
  const deliver = async (id: string, body: string) => {
    const response = await fetch(webhookUrl, {
      method: "POST",
      body,
      headers: {
        ...(await signWebhook(body, stack.info.polar_webhook_secret, { id })),
        "Content-Type": "application/json",
      },
    });
    const answer = await response.text();
    return { status: response.status, answer };
  };
  const newUser = async () => {
    const userId = crypto.randomUUID();
    await stack.db.query("insert into auth.users (id, email) values ($1, $2)", [
      userId,
      `ent-${userId.slice(0, 8)}@example.com`,
    ]);
    return userId;
  };

  await runCases(t, "entitlements", [{
    name: "several subscriptions: the second one ending leaves the first live",
  }], async () => {
    // A history whose first subscription stays active and whose second is revoked.
    let history: EntitlementHistory | undefined;
    for (let attempt = 0; attempt < 200 && !history; attempt++) {
      const candidate = entitlementHistory(await newUser(), 4, random);
      const [first, ...rest] = candidate.subscriptions.map((s) => s.status);
      if (candidate.active && rest.includes("canceled") && first !== undefined) {
        history = candidate;
      }
    }
    assert.ok(history, "found a history with one live and one ended subscription");
    for (const event of history.events) {
      assert.ok((await deliver(event.id, event.body)).status < 300);
    }
    const got = await stored(stack.db, history.userId);
    await figure(
      "entitlements several: subscriptions (statuses) / summary / has_active_subscription",
      `${got.subscriptions.length} (${
        got.subscriptions.map((s) => s.status).join(", ")
      }) / ${got.summaryStatus} / ${got.gates.active}`,
    );
    assert.ok(got.subscriptions.length >= 2, "every subscription kept");
    assert.ok(matches(history, got), JSON.stringify({ got, history }));
  });

  await runCases(t, "entitlements", [{
    name:
      `shuffled: ${ROUNDS} rounds of ${USERS} users x ${STEPS_PER_USER} changes, events and snapshots shuffled with ${
        DUPLICATE_SHARE * 100
      }% redeliveries`,
  }], async () => {
    let delivered = 0;
    let unique = 0;
    let mismatches = 0;
    let failures = 0;
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      const histories: EntitlementHistory[] = [];
      for (let u = 0; u < USERS; u++) {
        histories.push(entitlementHistory(await newUser(), STEPS_PER_USER, random));
      }
      const events = histories.flatMap((h) => h.events);
      const duplicates = Math.ceil(events.length * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE));
      const { deliveries } = withRedeliveries(events, duplicates, random);
      await pool(deliveries, CONCURRENCY, async ({ event }) => {
        const { status, answer } = await deliver(event.id, event.body);
        if (status >= 300) {
          failures++;
          console.error(`${status} ${answer.slice(0, 200)}`);
        }
      });
      delivered += deliveries.length;
      unique += events.length;
      for (const history of histories) {
        const got = await stored(stack.db, history.userId);
        if (!matches(history, got)) {
          mismatches++;
          if (mismatches <= 3) console.error(JSON.stringify({ history, got }));
        }
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const products = PRODUCTS.map((p) => p.key).join(", ");
    await figure(
      "entitlements shuffled: users / unique events / deliveries / non-2xx",
      `${ROUNDS * USERS} / ${unique} / ${delivered} / ${failures}`,
    );
    await figure(
      `entitlements shuffled: users whose stored state differs from Polar's (subscriptions, keys ${products}, gates, summary)`,
      `${mismatches} of ${ROUNDS * USERS}`,
    );
    await figure("entitlements shuffled: time", `${seconds.toFixed(1)} s`);
    assert.equal(failures, 0, "every delivery answered 2xx");
    assert.equal(mismatches, 0, "every user's stored state equals Polar's final state");
  });
});
