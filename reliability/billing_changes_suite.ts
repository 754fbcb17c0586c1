/**
 * Billing changes exactly once, on PostgreSQL: many users' subscription lives (created, active,
 * two renewals, a cancellation at period end, the end) and their orders, delivered shuffled, 16 in
 * flight, with a share redelivered under the same webhook-id and every event sent once more
 * under a new webhook-id (Polar's "resend"). Each user's `public.polar_billing_changes` must hold
 * exactly one start, one cancellation, one end and one row per order, renewals at most one per
 * period, nothing of anyone else's; a second pass of every event adds no row.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import { customerModel, orderModel, subscriptionModel } from "../local/polar_models.ts";
import { standInProducts } from "../local/polar_products.ts";
import { startStack } from "../local/stack.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";
import { replayableRandom, shuffled } from "./random.ts";

const USERS = 80;
const REDELIVERED_SHARE = 0.3;
const CONCURRENCY = 16;
const DAY_MS = 24 * 3600_000;

interface Delivery {
  id: string;
  body: string;
}

/** One user's life in events, each with its own webhook-id, in the order Polar produced them. */
function life(userId: string, start: number): { events: Delivery[]; orders: string[] } {
  const customer = customerModel({ externalId: userId });
  const at = (days: number) => new Date(start + days * DAY_MS).toISOString();
  const base = subscriptionModel(customer, { created_at: at(0), status: "incomplete" });
  const version = (days: number, fields: Partial<models.Subscription>) => ({
    ...base,
    ...fields,
    modified_at: at(days),
  });
  const period = (n: number) => ({
    current_period_start: at(30 * n),
    current_period_end: at(30 * (n + 1)),
  });
  const states: [string, models.Subscription][] = [
    ["subscription.created", version(0, { status: "incomplete" })],
    ["subscription.active", version(0.01, { status: "active", ...period(0) })],
    ["subscription.cycled", version(30, { status: "active", ...period(1) })],
    ["subscription.cycled", version(60, { status: "active", ...period(2) })],
    [
      "subscription.canceled",
      version(70, {
        status: "active",
        ...period(2),
        cancel_at_period_end: true,
        canceled_at: at(70),
      }),
    ],
    [
      "subscription.revoked",
      version(90, {
        status: "canceled",
        ...period(2),
        cancel_at_period_end: true,
        canceled_at: at(70),
        ended_at: at(90),
      }),
    ],
  ];
  const [pro] = standInProducts();
  const orders = [0.01, 30, 60].map((days) =>
    orderModel(customer, {
      product: pro,
      amount: 1000,
      subscriptionId: base.id,
      modified_at: at(days),
    })
  );
  const event = (type: string, timestamp: string, data: unknown) => ({
    id: `msg_${crypto.randomUUID()}`,
    body: JSON.stringify({ type, timestamp, api_version: "2026-10", data }),
  });
  return {
    events: [
      ...states.map(([type, data]) => event(type, data.modified_at!, data)),
      ...orders.map((order) => event("order.paid", order.modified_at!, order)),
    ],
    orders: orders.map((order) => order.id),
  };
}

Deno.test("billing changes: exactly once under shuffled, redelivered and resent webhooks on PostgreSQL", async (t) => {
  const random = await replayableRandom("billing changes: shuffle seed");
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
  });
  const webhookUrl = `${stack.info.api_url}/functions/v1/polar-webhooks`;
  let failures = 0;
  const deliver = async ({ id, body }: Delivery) => {
    const response = await fetch(webhookUrl, {
      method: "POST",
      body,
      headers: {
        ...(await signWebhook(body, stack.info.polar_webhook_secret, { id })),
        "Content-Type": "application/json",
      },
    });
    const answer = await response.text();
    if (response.status >= 300) {
      failures++;
      console.error(`${response.status} ${answer.slice(0, 200)}`);
    }
  };

  const users: { userId: string; orders: string[]; events: Delivery[] }[] = [];
  const start = Date.now() - 120 * DAY_MS;
  for (let u = 0; u < USERS; u++) {
    const userId = crypto.randomUUID();
    await stack.db.query("insert into auth.users (id, email) values ($1, $2)", [
      userId,
      `bc-${userId.slice(0, 8)}@example.com`,
    ]);
    users.push({ userId, ...life(userId, start) });
  }
  const events = users.flatMap((user) => user.events);
  const redelivered = events.filter(() => random() < REDELIVERED_SHARE);
  const resent = events.map((event) => ({ ...event, id: `msg_${crypto.randomUUID()}` }));
  const deliveries = shuffled([...events, ...redelivered, ...resent], random);

  const counts = async () =>
    await stack.db.query<{ user_id: string; kind: string; n: number }>(
      "select user_id::text, kind, count(*)::int as n from public.polar_billing_changes group by 1, 2",
    );

  await runCases(t, "billing changes", [{
    name: `${USERS} users x (6 subscription events + 3 orders), shuffled, ${
      REDELIVERED_SHARE * 100
    }% redelivered and all resent under new webhook-ids, ${CONCURRENCY} in flight`,
  }], async () => {
    const began = performance.now();
    await pool(deliveries, CONCURRENCY, deliver);
    const seconds = (performance.now() - began) / 1000;
    const rows = await counts();
    const of = (userId: string, kind: string) =>
      rows.find((row) => row.user_id === userId && row.kind === kind)?.n ?? 0;
    let wrong = 0;
    let renewals = 0;
    for (const { userId, orders } of users) {
      const renewed = of(userId, "subscription_renewed");
      renewals += renewed;
      const right = of(userId, "subscription_started") === 1 &&
        of(userId, "subscription_canceled") === 1 &&
        of(userId, "subscription_ended") === 1 &&
        of(userId, "order_paid") === orders.length &&
        renewed <= 2;
      if (!right) {
        wrong++;
        if (wrong <= 3) console.error(JSON.stringify(rows.filter((r) => r.user_id === userId)));
      }
    }
    const strangers = rows.filter((row) => !users.some((user) => user.userId === row.user_id));
    await figure(
      "billing changes: deliveries / non-2xx / time",
      `${deliveries.length} / ${failures} / ${seconds.toFixed(1)} s`,
    );
    await figure(
      "billing changes: users with a fact missing or twice",
      `${wrong} of ${USERS} (renewals recorded: ${renewals} of ${
        USERS * 2
      }, fewer when a later period came first)`,
    );
    assert.equal(failures, 0, "every delivery answered 2xx");
    assert.equal(wrong, 0, "each user's facts recorded exactly once");
    assert.deepEqual(strangers, [], "no row for anyone else");
  });

  await runCases(t, "billing changes", [{
    name: "every event once more, in order: no new row",
  }], async () => {
    const before = (await counts()).reduce((sum, row) => sum + row.n, 0);
    await pool(events.map((event) => ({ ...event, id: `msg_${crypto.randomUUID()}` })), 4, deliver);
    const after = (await counts()).reduce((sum, row) => sum + row.n, 0);
    await figure("billing changes: rows before / after a full resend", `${before} / ${after}`);
    assert.equal(failures, 0);
    assert.equal(after, before);
  });
});
