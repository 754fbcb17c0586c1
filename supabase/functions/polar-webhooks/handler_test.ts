import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import type { RequestLog } from "../_polar/log.ts";
import { SUBSCRIPTION_EVENT_TYPES } from "../_polar/polar_webhooks.ts";
import { createServerClient } from "../_polar/supabase.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { benefitGrantModel, customerStateModel, orderModel } from "../../../local/polar_models.ts";
import { proBenefitModel, standInProducts } from "../../../local/polar_products.ts";
import {
  createClock,
  customerEvent,
  customerFixture,
  customerStateEvent,
  type PolarEvent,
  subscriptionEvent,
  subscriptionFixture,
} from "../tests/support/polar_events.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import {
  createWebhookSecret,
  signWebhook,
  type SignWebhookOptions,
  type WebhookHeaders,
} from "../tests/support/webhook_signing.ts";
import { applyPolarWebhook, createPolarWebhookHandler, MAX_WEBHOOK_BODY_BYTES } from "./handler.ts";

const FIVE_MINUTES_S = 5 * 60;

interface Row {
  polar_customer_id: string | null;
  polar_subscription_id: string | null;
  status: string | null;
  product_id: string | null;
  current_period_end: Date | null;
  cancel_at_period_end: boolean;
  canceled_at: Date | null;
  ended_at: Date | null;
  polar_modified_at: Date | null;
  polar_customer_modified_at: Date | null;
  updated_at: Date;
}

interface DeliveryRow {
  webhook_id: string;
  event_type: string;
  outcome: string;
  reason: string | null;
  user_id: string | null;
}

/**
 * A webhook handler wired to the real database function through the PostgREST stand-in with the
 * service role key; `options.wrapFetch` can cut or stall the way to the database.
 */
async function setup(
  options: { wrapFetch?: (real: typeof fetch) => typeof fetch; timeoutMs?: number } = {},
) {
  const stand = await createTestSupabase();
  const { db } = stand;
  const supabase = createServerClient(stand.url, stand.serviceRoleKey, {
    fetch: (options.wrapFetch ?? ((real) => real))(stand.fetch),
    timeoutMs: options.timeoutMs,
  });
  const secret = createWebhookSecret();
  const logs: RequestLog[] = [];
  const handler = createPolarWebhookHandler({
    webhookSecret: secret,
    applyDelivery: (delivery) => applyPolarWebhook(supabase, delivery),
    log: (entry) => logs.push(entry),
  });
  const userId = await insertUser(db);
  const customer = customerFixture({ externalId: userId });
  const clock = createClock();

  /** Signs and sends an event; the same `id` is a redelivery. */
  const send = async (event: PolarEvent | string, sign: SignWebhookOptions = {}) => {
    const body = typeof event === "string" ? event : JSON.stringify(event);
    const headers = await signWebhook(body, secret, sign);
    return handler(webhookRequest(body, headers));
  };
  const row = async (user = userId) =>
    (await db.query<Row>("select * from public.user_subscriptions where user_id = $1", [user]))[0];
  const deliveries = () =>
    db.query<DeliveryRow>(
      "select webhook_id, event_type, outcome, reason, user_id::text from polar.webhook_deliveries order by received_at, webhook_id",
    );
  return {
    db,
    handler,
    secret,
    logs,
    userId,
    customer,
    clock,
    send,
    row,
    deliveries,
    /** A subscription of this test's customer, at the clock's next tick. */
    subscription: (fields: Partial<models.Subscription> = {}) =>
      subscriptionFixture(customer, { modified_at: clock.next(), ...fields }),
    [Symbol.asyncDispose]: () => stand[Symbol.asyncDispose](),
  };
}

function webhookRequest(body: BodyInit, headers: HeadersInit | WebhookHeaders, method = "POST") {
  return new Request("http://localhost/functions/v1/polar-webhooks", {
    method,
    body: method === "GET" || method === "HEAD" ? undefined : body,
    headers: { ...headers, "Content-Type": "application/json" },
  });
}

async function assertJson(response: Response, status: number, body: unknown) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Content-Type"), "application/json");
  assert.deepEqual(await response.json(), body);
}

/** The same subscription, a later version of it. */
function next(
  subscription: models.Subscription,
  modifiedAt: string,
  fields: Partial<models.Subscription> = {},
): models.Subscription {
  return { ...subscription, ...fields, modified_at: modifiedAt };
}

// ----- Verification ------------------------------------------------------------------------

Deno.test("polar-webhooks applies a subscription signed the way Polar signs", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const response = await t.send(subscriptionEvent("subscription.created", subscription), {
    id: "msg_polar",
  });
  await assertJson(response, 200, { outcome: "applied" });
  const row = await t.row();
  assert.equal(row.polar_customer_id, t.customer.id);
  assert.equal(row.polar_subscription_id, subscription.id);
  assert.equal(row.status, "active");
  assert.equal(row.product_id, subscription.product_id);
  assert.equal(row.current_period_end?.toISOString(), subscription.current_period_end);
  assert.equal(row.cancel_at_period_end, false);
  assert.equal(row.polar_modified_at?.toISOString(), subscription.modified_at);
  assert.deepEqual(await t.deliveries(), [{
    webhook_id: "msg_polar",
    event_type: "subscription.created",
    outcome: "applied",
    reason: null,
    user_id: t.userId,
  }]);
});

Deno.test("polar-webhooks accepts the Standard Webhooks key encoding too", async () => {
  await using t = await setup();
  const response = await t.send(
    subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
    { keyEncoding: "standard" },
  );
  await assertJson(response, 200, { outcome: "applied" });
  assert.equal((await t.row()).status, "active");
});

Deno.test("polar-webhooks answers 403 and writes nothing for a bad signature", async (test) => {
  await using t = await setup();
  const body = JSON.stringify(
    subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
  );
  const good = await signWebhook(body, t.secret);
  const now = Math.floor(Date.now() / 1000);
  const without = (name: keyof typeof good) => {
    const headers: Record<string, string> = { ...good };
    delete headers[name];
    return headers;
  };
  const cases: Record<string, Promise<WebhookHeaders> | Record<string, string>> = {
    "no headers": {},
    "no webhook-id": without("webhook-id"),
    "no webhook-timestamp": without("webhook-timestamp"),
    "no webhook-signature": without("webhook-signature"),
    "another secret": signWebhook(body, createWebhookSecret()),
    "another id than signed": { ...good, "webhook-id": "msg_other" },
    "a timestamp past the tolerance": signWebhook(body, t.secret, {
      timestamp: now - FIVE_MINUTES_S - 60,
    }),
    "a timestamp ahead of the tolerance": signWebhook(body, t.secret, {
      timestamp: now + FIVE_MINUTES_S + 60,
    }),
    "a non-numeric timestamp": { ...good, "webhook-timestamp": "yesterday" },
    "an unknown signature version": {
      ...good,
      "webhook-signature": good["webhook-signature"].replace("v1,", "v2,"),
    },
    "a garbage signature": { ...good, "webhook-signature": "v1,not base64!" },
    "the secret as the signature": { ...good, "webhook-signature": `v1,${t.secret}` },
  };
  for (const [name, headers] of Object.entries(cases)) {
    await test.step(name, async () => {
      const response = await t.handler(webhookRequest(body, await headers));
      await assertJson(response, 403, { error: "Invalid signature" });
    });
  }
  await test.step("a body changed after signing", async () => {
    const tampered = body.replace('"active"', '"canceled"');
    await assertJson(await t.handler(webhookRequest(tampered, good)), 403, {
      error: "Invalid signature",
    });
  });
  assert.deepEqual(await t.deliveries(), []);
  assert.equal(await t.row(), undefined);
});

Deno.test("polar-webhooks refuses over-long signed headers with 403 before verifying", async (test) => {
  await using t = await setup();
  const body = JSON.stringify({
    ...subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
    pad: "x".repeat(1000 * 1024),
  });
  const good = await signWebhook(body, t.secret);
  const entry = good["webhook-signature"];
  const cases: Record<string, [Record<string, string>, RegExp]> = {
    "7,500 signatures": [
      { ...good, "webhook-signature": Array(7500).fill(entry).join(" ") },
      /webhook-signature too long/,
    ],
    "three short signatures": [
      { ...good, "webhook-signature": ["v1,a", "v1,b", entry].join(" ") },
      /webhook-signature has 3 entries/,
    ],
    "a long webhook-id": [{ ...good, "webhook-id": "m".repeat(257) }, /webhook-id too long/],
    "a long webhook-timestamp": [
      { ...good, "webhook-timestamp": "1".repeat(21) },
      /webhook-timestamp too long/,
    ],
  };
  for (const [name, [headers, cause]] of Object.entries(cases)) {
    await test.step(name, async () => {
      t.logs.length = 0;
      await assertJson(await t.handler(webhookRequest(body, headers)), 403, {
        error: "Invalid signature",
      });
      assert.match(t.logs[0].cause ?? "", cause, "refused by the bounds, not by the verifier");
    });
  }
  await test.step("two signatures, as during a key rotation, still verify", async () => {
    const rotated = { ...good, "webhook-signature": `v1,${btoa("old key")} ${entry}` };
    assert.equal((await t.handler(webhookRequest(body, rotated))).status, 200);
  });
});

Deno.test("polar-webhooks answers 400 and writes nothing for a signed body that is not a valid event", async (test) => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const event = subscriptionEvent("subscription.updated", subscription);
  const withData = (data: Record<string, unknown>) =>
    JSON.stringify({ ...event, data: { ...subscription, ...data } });
  const cases: Record<string, string> = {
    "not JSON": "{",
    "an empty body": "",
    "an array": "[]",
    "an object without type": JSON.stringify({ timestamp: event.timestamp, data: {} }),
    "a type that is not a string": JSON.stringify({ ...event, type: 42 }),
    "no timestamp": JSON.stringify({ ...event, timestamp: undefined }),
    "a malformed timestamp": JSON.stringify({ ...event, timestamp: "yesterday" }),
    "no data": JSON.stringify({ ...event, data: null }),
    "a subscription without id": withData({ id: undefined }),
    "a subscription without status": withData({ status: null }),
    "a subscription without customer": withData({ customer: undefined }),
    "a customer_id that is not the customer's": withData({ customer_id: "cus_other" }),
    "a malformed current_period_end": withData({ current_period_end: "next month" }),
    "a non-boolean cancel_at_period_end": withData({ cancel_at_period_end: "yes" }),
    "a customer without id": JSON.stringify(
      customerEvent("customer.updated", { ...t.customer, id: "" }),
    ),
    "an external_id that is not a string": JSON.stringify(
      customerEvent("customer.updated", {
        ...t.customer,
        external_id: 42 as unknown as string,
      }),
    ),
  };
  for (const [name, body] of Object.entries(cases)) {
    await test.step(name, async () => {
      await assertJson(await t.send(body), 400, { error: "Invalid event" });
    });
  }
  assert.deepEqual(await t.deliveries(), []);
  assert.equal(await t.row(), undefined);
});

Deno.test("polar-webhooks answers 202 and only records an event type it does not use", async (test) => {
  await using t = await setup();
  const cases: Record<string, Record<string, unknown>> = {
    "a type the SDK knows": {
      type: "order.created",
      timestamp: t.clock.next(),
      api_version: "2026-10",
      data: { id: crypto.randomUUID(), customer_id: t.customer.id },
    },
    "a type newer than the SDK": {
      type: "subscription.teleported",
      timestamp: t.clock.next(),
      data: {},
    },
  };
  for (const [name, event] of Object.entries(cases)) {
    await test.step(name, async () => {
      const response = await t.send(JSON.stringify(event), { id: `msg_${event.type}` });
      await assertJson(response, 202, { outcome: "ignored" });
    });
  }
  assert.deepEqual(
    (await t.deliveries()).map(({ event_type, outcome }) => ({ event_type, outcome })),
    [
      { event_type: "order.created", outcome: "ignored" },
      { event_type: "subscription.teleported", outcome: "ignored" },
    ],
  );
  assert.equal(await t.row(), undefined);
});

Deno.test("polar-webhooks answers 405 with Allow for other methods and writes nothing", async () => {
  await using t = await setup();
  for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
    const response = await t.handler(webhookRequest("{}", {}, method));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("Allow"), "OPTIONS, POST");
    await response.body?.cancel();
  }
  assert.deepEqual(await t.deliveries(), []);
});

Deno.test("polar-webhooks answers 413 for a body over 1 MiB before reading it whole", async (test) => {
  await using t = await setup();
  const event = subscriptionEvent("subscription.active", t.subscription({ status: "active" }));
  const big = JSON.stringify({ ...event, pad: "x".repeat(MAX_WEBHOOK_BODY_BYTES) });
  const headers = await signWebhook(big, t.secret);
  await test.step("declared by Content-Length", async () => {
    const request = webhookRequest(big, {
      ...headers,
      "Content-Length": String(new TextEncoder().encode(big).byteLength),
    });
    await assertJson(await t.handler(request), 413, { error: "Request body too large" });
  });
  await test.step("streamed without a length, cut off at the limit", async () => {
    let pulled = 0;
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
        // An endless body: only the limit stops the reading.
      },
    });
    const response = await t.handler(webhookRequest(stream, headers));
    await assertJson(response, 413, { error: "Request body too large" });
    assert.ok(pulled <= MAX_WEBHOOK_BODY_BYTES + 2 * chunk.byteLength, `pulled ${pulled} bytes`);
  });
  assert.deepEqual(await t.deliveries(), []);
});

// ----- Polar's delivery model ---------------------------------------------------------------

Deno.test("polar-webhooks changes nothing on a redelivery of the same webhook-id", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const event = subscriptionEvent("subscription.updated", subscription);
  await assertJson(await t.send(event, { id: "msg_once" }), 200, { outcome: "applied" });
  const before = await t.row();
  // Even a redelivery whose body says something else changes nothing: the id is the event.
  const changed = subscriptionEvent(
    "subscription.updated",
    next(subscription, t.clock.next(), { status: "canceled" }),
  );
  await assertJson(await t.send(changed, { id: "msg_once" }), 200, { outcome: "duplicate" });
  await assertJson(await t.send(event, { id: "msg_once" }), 200, { outcome: "duplicate" });
  assert.deepEqual(await t.row(), before);
  assert.equal((await t.deliveries()).length, 1);
});

Deno.test("polar-webhooks treats the same event under a new webhook-id as stale", async () => {
  await using t = await setup();
  const event = subscriptionEvent("subscription.updated", t.subscription({ status: "active" }));
  await assertJson(await t.send(event), 200, { outcome: "applied" });
  const before = await t.row();
  await assertJson(await t.send(event), 200, { outcome: "stale" });
  assert.deepEqual(await t.row(), before, "not even updated_at moves");
  assert.deepEqual((await t.deliveries()).map((d) => d.outcome), ["applied", "stale"]);
});

Deno.test("polar-webhooks applies concurrent deliveries of one event once", async () => {
  await using t = await setup();
  const body = JSON.stringify(
    subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
  );
  const headers = await signWebhook(body, t.secret, { id: "msg_concurrent" });
  const responses = await Promise.all(
    Array.from({ length: 5 }, () => t.handler(webhookRequest(body, headers))),
  );
  const outcomes = await Promise.all(
    responses.map(async (response) => {
      assert.equal(response.status, 200);
      return (await response.json()).outcome;
    }),
  );
  assert.deepEqual(outcomes.sort(), [
    "applied",
    "duplicate",
    "duplicate",
    "duplicate",
    "duplicate",
  ]);
  assert.equal((await t.deliveries()).length, 1);
  assert.equal((await t.row()).status, "active");
});

Deno.test("polar-webhooks keeps subscription.active when subscription.created arrives after it", async () => {
  await using t = await setup();
  const created = subscriptionFixture(t.customer, { status: "incomplete", modified_at: null });
  const active = next(created, t.clock.next(), { status: "active" });
  await assertJson(await t.send(subscriptionEvent("subscription.active", active)), 200, {
    outcome: "applied",
  });
  // Polar stamps the late event later than the state it carries; its version is created_at.
  const late = subscriptionEvent("subscription.created", created, t.clock.next());
  await assertJson(await t.send(late), 200, { outcome: "stale" });
  const row = await t.row();
  assert.equal(row.status, "active");
  assert.equal(row.polar_modified_at?.toISOString(), active.modified_at);
});

Deno.test("polar-webhooks keeps the state at t2 when an update at t1 arrives after it", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const t1 = next(subscription, t.clock.next(), { cancel_at_period_end: true });
  const t2 = next(subscription, t.clock.next(), { cancel_at_period_end: false });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", t2)), 200, {
    outcome: "applied",
  });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", t1)), 200, {
    outcome: "stale",
  });
  const row = await t.row();
  assert.equal(row.cancel_at_period_end, false);
  assert.equal(row.polar_modified_at?.toISOString(), t2.modified_at);
});

Deno.test("polar-webhooks handles every subscription.* event of the 2026-10 API", async (test) => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const statusOf: Record<string, models.SubscriptionStatus> = {
    "subscription.past_due": "past_due",
    "subscription.paused": "paused",
    "subscription.revoked": "canceled",
    "subscription.canceled": "active",
  };
  for (const type of SUBSCRIPTION_EVENT_TYPES) {
    await test.step(type, async () => {
      const status = statusOf[type] ?? "active";
      const data = next(subscription, t.clock.next(), { status });
      await assertJson(await t.send(subscriptionEvent(type, data)), 200, { outcome: "applied" });
      assert.equal((await t.row()).status, status);
    });
  }
});

// ----- Polar's documented sequences ---------------------------------------------------------

/** Polar's events when a customer cancels at period end, in the order Polar sends them. */
function cancelAtPeriodEnd(t: Awaited<ReturnType<typeof setup>>) {
  const subscription = t.subscription({ status: "active" });
  const canceledAt = t.clock.next();
  const canceling = next(subscription, canceledAt, {
    cancel_at_period_end: true,
    canceled_at: canceledAt,
    ends_at: subscription.current_period_end,
  });
  const endedAt = t.clock.next();
  const ended = next(canceling, endedAt, { status: "canceled", ended_at: endedAt });
  return {
    subscription,
    ended,
    events: [
      subscriptionEvent("subscription.active", subscription),
      subscriptionEvent("subscription.updated", canceling),
      subscriptionEvent("subscription.canceled", canceling),
      subscriptionEvent("subscription.updated", ended),
      subscriptionEvent("subscription.revoked", ended),
    ],
  };
}

Deno.test("polar-webhooks follows a cancellation at period end to its final state", async () => {
  await using t = await setup();
  const { events, ended } = cancelAtPeriodEnd(t);
  const outcomes = [];
  for (const event of events) outcomes.push((await (await t.send(event)).json()).outcome);
  assert.deepEqual(outcomes, ["applied", "applied", "stale", "applied", "stale"]);
  const row = await t.row();
  assert.equal(row.status, "canceled");
  assert.equal(row.cancel_at_period_end, true);
  assert.equal(row.canceled_at?.toISOString(), ended.canceled_at);
  assert.equal(row.ended_at?.toISOString(), ended.ended_at);
  assert.equal(row.polar_customer_id, t.customer.id, "the customer can still open the portal");
});

Deno.test("polar-webhooks reaches the same final state whatever the delivery order", async (test) => {
  const orders = [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [3, 0, 1, 2, 4], [1, 4, 0, 3, 2]];
  for (const order of orders) {
    await test.step(order.join(","), async () => {
      await using t = await setup();
      const { events, ended } = cancelAtPeriodEnd(t);
      for (const index of order) assert.equal((await t.send(events[index])).status, 200);
      const row = await t.row();
      assert.equal(row.status, "canceled");
      assert.equal(row.ended_at?.toISOString(), ended.ended_at);
      assert.equal(row.polar_modified_at?.toISOString(), ended.modified_at);
    });
  }
});

Deno.test("polar-webhooks keeps an immediate cancellation when an older update arrives late", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const revokedAt = t.clock.next();
  const revoked = next(subscription, revokedAt, {
    status: "canceled",
    canceled_at: revokedAt,
    ended_at: revokedAt,
    ends_at: revokedAt,
  });
  await t.send(subscriptionEvent("subscription.active", subscription));
  await assertJson(await t.send(subscriptionEvent("subscription.revoked", revoked)), 200, {
    outcome: "applied",
  });
  await assertJson(await t.send(subscriptionEvent("subscription.canceled", revoked)), 200, {
    outcome: "stale",
  });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", subscription)), 200, {
    outcome: "stale",
  });
  const row = await t.row();
  assert.equal(row.status, "canceled");
  assert.equal(row.ended_at?.toISOString(), revokedAt);
  assert.equal(row.polar_customer_id, t.customer.id);
});

Deno.test("polar-webhooks moves the period forward on a renewal and never back", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const renewedEnd = new Date(Date.parse(subscription.current_period_end) + 30 * 86400_000)
    .toISOString();
  const cycled = next(subscription, t.clock.next(), {
    current_period_start: subscription.current_period_end,
    current_period_end: renewedEnd,
  });
  await t.send(subscriptionEvent("subscription.active", subscription));
  await assertJson(await t.send(subscriptionEvent("subscription.cycled", cycled)), 200, {
    outcome: "applied",
  });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", cycled)), 200, {
    outcome: "stale",
  });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", subscription)), 200, {
    outcome: "stale",
  });
  assert.equal((await t.row()).current_period_end?.toISOString(), renewedEnd);
});

Deno.test("polar-webhooks undoes a pending cancellation on subscription.uncanceled", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  const canceledAt = t.clock.next();
  const canceling = next(subscription, canceledAt, {
    cancel_at_period_end: true,
    canceled_at: canceledAt,
  });
  const uncanceled = next(canceling, t.clock.next(), {
    cancel_at_period_end: false,
    canceled_at: null,
  });
  await t.send(subscriptionEvent("subscription.canceled", canceling));
  await assertJson(await t.send(subscriptionEvent("subscription.uncanceled", uncanceled)), 200, {
    outcome: "applied",
  });
  const row = await t.row();
  assert.equal(row.cancel_at_period_end, false);
  assert.equal(row.canceled_at, null);
});

Deno.test("polar-webhooks never lets an ended subscription replace a live one", async () => {
  await using t = await setup();
  const old = t.subscription({ status: "active" });
  const current = t.subscription({ status: "active" });
  const oldEnded = next(old, t.clock.next(), { status: "canceled", ended_at: t.clock.next() });
  await t.send(subscriptionEvent("subscription.active", current));
  // The old subscription's own row records its end; the summary keeps the live one.
  await assertJson(await t.send(subscriptionEvent("subscription.revoked", oldEnded)), 200, {
    outcome: "applied",
  });
  const row = await t.row();
  assert.equal(row.polar_subscription_id, current.id);
  assert.equal(row.status, "active");
  const [own] = await t.db.query<{ status: string }>(
    "select status from public.polar_subscriptions where id = $1",
    [old.id],
  );
  assert.equal(own.status, "canceled");
  await assertNewSubscriptionReplacesEnded(t, oldEnded);
});

/** A new live subscription does replace an ended one. */
async function assertNewSubscriptionReplacesEnded(
  t: Awaited<ReturnType<typeof setup>>,
  ended: models.Subscription,
) {
  const user = await insertUser(t.db);
  const customer = customerFixture({ externalId: user });
  const mine = { ...ended, id: crypto.randomUUID(), customer, customer_id: customer.id };
  await t.send(subscriptionEvent("subscription.revoked", mine));
  const renewed = subscriptionFixture(customer, { status: "active", modified_at: t.clock.next() });
  await assertJson(await t.send(subscriptionEvent("subscription.created", renewed)), 200, {
    outcome: "applied",
  });
  const row = await t.row(user);
  assert.equal(row.polar_subscription_id, renewed.id);
  assert.equal(row.status, "active");
}

// ----- Several subscriptions and Customer State ----------------------------------------------

Deno.test("polar-webhooks keeps every subscription; the summary shows a live one while there is one", async () => {
  await using t = await setup();
  const first = t.subscription({ status: "active" });
  const second = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.active", first));
  await t.send(subscriptionEvent("subscription.active", second));
  const secondEnded = next(second, t.clock.next(), {
    status: "canceled",
    ended_at: t.clock.next(),
  });
  await assertJson(await t.send(subscriptionEvent("subscription.revoked", secondEnded)), 200, {
    outcome: "applied",
  });
  const stored = await t.db.query<{ id: string; status: string }>(
    "select id, status from public.polar_subscriptions where user_id = $1 order by status",
    [t.userId],
  );
  assert.deepEqual(
    stored,
    [{ id: first.id, status: "active" }, { id: second.id, status: "canceled" }],
  );
  const row = await t.row();
  assert.equal(row.polar_subscription_id, first.id, "the live one, not the one that just ended");
  assert.equal(row.status, "active");
});

Deno.test("polar-webhooks applies a Customer State: grants and meters replaced, older snapshots stale", async () => {
  await using t = await setup();
  const active = t.subscription({ status: "active" });
  const grants = (...keys: string[]) =>
    keys.map((key) => benefitGrantModel({ benefit_id: `b-${key}`, benefit_metadata: { key } }));
  const meter = (balance: number) => ({
    id: crypto.randomUUID(),
    created_at: t.clock.next(),
    modified_at: null,
    meter_id: "meter_ai",
    consumed_units: 100 - balance,
    credited_units: 100,
    balance,
  });
  const older = customerStateEvent(
    customerStateModel(t.customer, { subscriptions: [active], grants: grants("basic") }),
    t.clock.next(),
  );
  const newer = customerStateEvent(
    customerStateModel(t.customer, {
      subscriptions: [active],
      grants: grants("pro", "beta"),
      meters: [meter(40)],
    }),
    t.clock.next(),
  );
  await assertJson(await t.send(newer), 200, { outcome: "applied" });
  await assertJson(await t.send(older), 200, { outcome: "stale" });
  const keys = await t.db.query<{ key: string }>(
    "select benefit_metadata ->> 'key' as key from public.polar_benefit_grants where user_id = $1 order by 1",
    [t.userId],
  );
  assert.deepEqual(keys.map((k) => k.key), ["beta", "pro"]);
  const meters = await t.db.query<{ meter_id: string; balance: string }>(
    "select meter_id, balance::text from public.polar_meters where user_id = $1",
    [t.userId],
  );
  assert.deepEqual(meters, [{ meter_id: "meter_ai", balance: "40" }]);
  assert.equal((await t.row()).status, "active", "a subscription listed by the snapshot");
});

Deno.test("polar-webhooks: an older snapshot cannot end a subscription that started after it", async () => {
  await using t = await setup();
  const before = customerStateEvent(customerStateModel(t.customer), t.clock.next());
  const started = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.active", started));
  await assertJson(await t.send(before), 200, { outcome: "applied" });
  assert.equal(await hasActiveSubscription(t), true);
  assert.equal((await t.row()).status, "active");
});

Deno.test("polar-webhooks: a newer snapshot ends a subscription whose ending events were lost", async () => {
  await using t = await setup();
  const lost = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.active", lost));
  await t.send(customerStateEvent(customerStateModel(t.customer), t.clock.next()));
  assert.equal(await hasActiveSubscription(t), false);
  const renewed = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.created", renewed));
  assert.equal(await hasActiveSubscription(t), true, "a subscription newer than the snapshot");
  assert.equal((await t.row()).polar_subscription_id, renewed.id);
});

/** `public.has_active_subscription()` as the test's user. */
async function hasActiveSubscription(t: Awaited<ReturnType<typeof setup>>): Promise<boolean> {
  const [row] = await t.db.query<{ active: boolean }>(
    "select public.has_active_subscription() as active",
    [],
    { role: "authenticated", claims: { sub: t.userId, role: "authenticated" } },
  );
  return row.active;
}

// ----- Customers and linking ----------------------------------------------------------------

Deno.test("polar-webhooks links a user on customer.created before any subscription", async () => {
  await using t = await setup();
  await assertJson(await t.send(customerEvent("customer.created", t.customer)), 200, {
    outcome: "applied",
  });
  const row = await t.row();
  assert.equal(row.polar_customer_id, t.customer.id);
  assert.equal(row.status, null);
  assert.equal(row.polar_subscription_id, null);
});

Deno.test("polar-webhooks clears polar_customer_id on customer.deleted and keeps the rest", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.active", subscription));
  const deletedAt = t.clock.next();
  const deleted = { ...t.customer, deleted_at: deletedAt, modified_at: deletedAt };
  await assertJson(await t.send(customerEvent("customer.deleted", deleted)), 200, {
    outcome: "applied",
  });
  let row = await t.row();
  assert.equal(row.polar_customer_id, null);
  assert.equal(row.polar_subscription_id, subscription.id);
  assert.equal(row.status, "active");

  // Late news about the customer from before the deletion does not bring the link back.
  await assertJson(await t.send(customerEvent("customer.created", t.customer)), 200, {
    outcome: "stale",
  });
  const lateSubscription = next(subscription, t.clock.next(), { status: "canceled" });
  await assertJson(await t.send(subscriptionEvent("subscription.revoked", lateSubscription)), 200, {
    outcome: "applied",
  });
  row = await t.row();
  assert.equal(row.polar_customer_id, null);
  assert.equal(row.status, "canceled", "the subscription's own clock still moves it");
});

Deno.test("polar-webhooks remembers a deletion that arrives before customer.created", async () => {
  await using t = await setup();
  const deletedAt = t.clock.next();
  await t.send(
    customerEvent("customer.deleted", { ...t.customer, deleted_at: deletedAt, modified_at: null }),
  );
  await assertJson(await t.send(customerEvent("customer.created", t.customer)), 200, {
    outcome: "stale",
  });
  assert.equal((await t.row()).polar_customer_id, null);
});

Deno.test("polar-webhooks does not clear a newer customer when an old one is deleted", async () => {
  await using t = await setup();
  const replacement = customerFixture({ externalId: t.userId });
  replacement.created_at = t.clock.next();
  await t.send(customerEvent("customer.created", replacement));
  const deletedAt = new Date(Date.parse(replacement.created_at) - 1000).toISOString();
  await assertJson(
    await t.send(customerEvent("customer.deleted", { ...t.customer, deleted_at: deletedAt })),
    200,
    { outcome: "stale" },
  );
  assert.equal((await t.row()).polar_customer_id, replacement.id);
});

Deno.test("polar-webhooks keeps customer and subscription clocks apart", async () => {
  await using t = await setup();
  const subscription = t.subscription({ status: "active" });
  await t.send(subscriptionEvent("subscription.active", subscription));
  // A customer edited far later than the subscription's next change...
  const later = new Date(Date.now() + 3600_000).toISOString();
  await assertJson(
    await t.send(customerEvent("customer.updated", { ...t.customer, modified_at: later })),
    200,
    { outcome: "applied" },
  );
  // ...does not make that change look stale, and the older customer snapshot it embeds does
  // not touch the link.
  const canceled = next(subscription, t.clock.next(), { cancel_at_period_end: true });
  await assertJson(await t.send(subscriptionEvent("subscription.updated", canceled)), 200, {
    outcome: "applied",
  });
  const row = await t.row();
  assert.equal(row.cancel_at_period_end, true);
  assert.equal(row.polar_customer_modified_at?.toISOString(), later);
});

Deno.test("polar-webhooks never links by metadata.user_id alone", async () => {
  await using t = await setup();
  const anonymous = customerFixture();
  const subscription = subscriptionFixture(anonymous, {
    status: "active",
    modified_at: t.clock.next(),
    metadata: { user_id: t.userId },
  });
  await assertJson(await t.send(subscriptionEvent("subscription.created", subscription)), 202, {
    outcome: "skipped",
    reason: "customer has no external_id",
  });
  assert.equal(await t.row(), undefined);
});

Deno.test("polar-webhooks skips an identity conflict and logs a warning", async () => {
  await using t = await setup();
  // Attack story 1: the victim's customer (external_id = victim), reached through a checkout
  // whose metadata names the attacker.
  const attacker = await insertUser(t.db);
  const subscription = t.subscription({ status: "active", metadata: { user_id: attacker } });
  await assertJson(await t.send(subscriptionEvent("subscription.created", subscription)), 202, {
    outcome: "skipped",
    reason: "identity conflict",
  });
  assert.equal(await t.row(attacker), undefined, "the attacker's row gets nothing");
  assert.equal(await t.row(), undefined, "nor is the conflicting event applied to the victim");
  const [line] = t.logs;
  assert.match(line.warning ?? "", new RegExp(`Polar customer ${t.customer.id}: .*external_id`));
  assert.equal(line.status, 202);
  // A metadata.user_id that differs from external_id only in case names the same user.
  const sameUser = t.subscription({
    status: "active",
    metadata: { user_id: t.userId.toUpperCase() },
  });
  await assertJson(await t.send(subscriptionEvent("subscription.active", sameUser)), 200, {
    outcome: "applied",
  });
});

Deno.test("polar-webhooks answers 202 and records the reason for a customer with no user", async (test) => {
  await using t = await setup();
  const cases: Record<string, [PolarEvent, string]> = {
    "no external_id and no metadata": [
      subscriptionEvent(
        "subscription.created",
        subscriptionFixture(customerFixture(), { status: "active" }),
      ),
      "customer has no external_id",
    ],
    "an external_id that is no user": [
      customerEvent("customer.created", customerFixture({ externalId: crypto.randomUUID() })),
      "no user matches external_id",
    ],
    "an external_id that is not a UUID": [
      customerEvent("customer.updated", customerFixture({ externalId: "user_42" })),
      "no user matches external_id",
    ],
    "no external_id and a metadata.user_id that is no user": [
      subscriptionEvent(
        "subscription.active",
        subscriptionFixture(customerFixture(), {
          status: "active",
          metadata: { user_id: crypto.randomUUID() },
        }),
      ),
      "customer has no external_id",
    ],
  };
  for (const [name, [event, reason]] of Object.entries(cases)) {
    await test.step(name, async () => {
      await assertJson(await t.send(event), 202, { outcome: "skipped", reason });
    });
  }
  const recorded = await t.deliveries();
  assert.deepEqual(
    recorded.map((d) => [d.outcome, d.reason]),
    Object.values(cases).map((
      [, reason],
    ) => ["skipped", reason]),
  );
  assert.deepEqual(await t.db.query("select * from public.user_subscriptions"), []);
  await test.step("a redelivery of a skipped event is a duplicate", async () => {
    const [event] = cases["no external_id and no metadata"];
    const body = JSON.stringify(event);
    const headers = await signWebhook(body, t.secret, { id: recorded[0].webhook_id });
    await assertJson(await t.handler(webhookRequest(body, headers)), 200, {
      outcome: "duplicate",
    });
  });
});

Deno.test("polar-webhooks skips a customer that another user's row holds", async () => {
  await using t = await setup();
  // A link an older version made from metadata.user_id.
  const other = await insertUser(t.db);
  await linkCustomer(t.db, other, t.customer.id);
  await assertJson(
    await t.send(subscriptionEvent("subscription.created", t.subscription({ status: "active" }))),
    202,
    { outcome: "skipped", reason: "customer is linked to another user" },
  );
  assert.equal(await t.row(), undefined);
  assert.equal((await t.row(other)).polar_subscription_id, null);
});

// ----- Failures ----------------------------------------------------------------------------

Deno.test("polar-webhooks answers 500 and records nothing when the database is unreachable", async (test) => {
  const state = { down: true };
  await using t = await setup({
    wrapFetch: (real) => (input, init) =>
      state.down
        ? Promise.reject(new TypeError("error sending request: connection refused"))
        : real(input, init),
  });
  const body = JSON.stringify(
    subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
  );
  const headers = await signWebhook(body, t.secret, { id: "msg_retry" });
  await test.step("down: 500, so Polar retries", async () => {
    await assertJson(await t.handler(webhookRequest(body, headers)), 500, {
      error: "Something went wrong",
    });
    assert.match(t.logs[0].cause ?? "", /connection refused/);
    assert.deepEqual(await t.deliveries(), []);
  });
  await test.step("back: Polar's retry of the same delivery applies it", async () => {
    state.down = false;
    await assertJson(await t.handler(webhookRequest(body, headers)), 200, { outcome: "applied" });
    assert.equal((await t.row()).status, "active");
  });
});

Deno.test("polar-webhooks answers 500 and records nothing when the database times out", async () => {
  const hang: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
    });
  await using t = await setup({ wrapFetch: () => hang, timeoutMs: 50 });
  const started = performance.now();
  const response = await t.send(
    subscriptionEvent("subscription.active", t.subscription({ status: "active" })),
  );
  await assertJson(response, 500, { error: "Something went wrong" });
  assert.ok(performance.now() - started < 2000, "bounded by the client's timeout");
  assert.deepEqual(await t.deliveries(), []);
});

Deno.test("polar-webhooks records nothing when the transaction fails midway, so a retry applies it", async () => {
  await using t = await setup();
  await t.db.exec(`
    create function public.fail_once() returns trigger language plpgsql as $$
    begin raise exception 'disk full'; end $$;
    create trigger fail_once before insert or update on public.user_subscriptions
      for each row execute function public.fail_once();
  `);
  const event = subscriptionEvent("subscription.active", t.subscription({ status: "active" }));
  const body = JSON.stringify(event);
  const headers = await signWebhook(body, t.secret, { id: "msg_midway" });
  await assertJson(await t.handler(webhookRequest(body, headers)), 500, {
    error: "Something went wrong",
  });
  assert.deepEqual(await t.deliveries(), [], "the claimed delivery rolled back with the rest");
  assert.equal(await t.row(), undefined);
  await t.db.exec("drop trigger fail_once on public.user_subscriptions");
  await assertJson(await t.handler(webhookRequest(body, headers)), 200, { outcome: "applied" });
});

Deno.test("polar-webhooks logs one line per request and never the secret, signature or body", async () => {
  await using t = await setup();
  const event = subscriptionEvent("subscription.active", t.subscription({ status: "active" }));
  const body = JSON.stringify(event);
  const headers = await signWebhook(body, t.secret);
  await t.handler(webhookRequest(body, headers));
  await t.handler(webhookRequest(body.replace("active", "paused"), headers));
  await t.send("{");
  assert.deepEqual(t.logs.map(({ status, outcome }) => [status, outcome]), [
    [200, "ok"],
    [403, "rejected"],
    [400, "rejected"],
  ]);
  assert.deepEqual(t.logs[0].detail, {
    event_type: "subscription.active",
    webhook_id: headers["webhook-id"],
    webhook_outcome: "applied",
  });
  const text = JSON.stringify(t.logs);
  assert.ok(!text.includes(t.secret.slice(6, 20)), "no secret");
  assert.ok(!text.includes(headers["webhook-signature"].slice(3, 20)), "no signature");
  assert.ok(!text.includes(t.customer.id), "no body");
});

// ----- Billing changes and the catalog ---------------------------------------------------------

/** The user's billing changes, as `kind polar_id` in the order they were recorded. */
async function changes(t: Awaited<ReturnType<typeof setup>>) {
  const rows = await t.db.query<{ kind: string; polar_id: string }>(
    "select kind, polar_id from public.polar_billing_changes where user_id = $1 order by id",
    [t.userId],
  );
  return rows.map(({ kind, polar_id }) => `${kind} ${polar_id}`);
}

Deno.test("polar-webhooks records each billing change once, whatever the order and however often Polar redelivers", async (test) => {
  const orders = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]];
  for (const order of orders) {
    await test.step(order.join(","), async () => {
      await using t = await setup();
      const { events, subscription } = cancelAtPeriodEnd(t);
      for (const index of order) {
        const id = `msg_${index}`;
        assert.equal((await t.send(events[index], { id })).status, 200);
        assert.equal((await t.send(events[index], { id })).status, 200, "a redelivery");
      }
      // The same events again under new webhook-ids (Polar's resend of an event).
      for (const event of events) await (await t.send(event)).body?.cancel();
      assert.deepEqual((await changes(t)).toSorted(), [
        `subscription_canceled ${subscription.id}`,
        `subscription_ended ${subscription.id}`,
        `subscription_started ${subscription.id}`,
      ]);
    });
  }
});

Deno.test("polar-webhooks records order.paid and order.refunded once each", async () => {
  await using t = await setup();
  const [, , pack] = standInProducts();
  const paid = orderModel(t.customer, { product: pack, amount: 500, modified_at: t.clock.next() });
  const refunded = {
    ...paid,
    status: "refunded" as const,
    refunded_amount: 500,
    modified_at: t.clock.next(),
  };
  const event = (type: "order.paid" | "order.refunded", data: typeof paid) =>
    ({ type, timestamp: data.modified_at!, api_version: "2026-10", data }) as PolarEvent;
  await assertJson(await t.send(event("order.paid", paid), { id: "msg_paid" }), 200, {
    outcome: "applied",
  });
  await assertJson(await t.send(event("order.paid", paid), { id: "msg_paid" }), 200, {
    outcome: "duplicate",
  });
  await assertJson(await t.send(event("order.refunded", refunded)), 200, { outcome: "applied" });
  await assertJson(await t.send(event("order.paid", paid)), 200, { outcome: "stale" });
  assert.deepEqual(await changes(t), [`order_paid ${paid.id}`, `order_refunded ${paid.id}`]);
  const [row] = await t.db.query<{ details: Record<string, unknown> }>(
    "select details from public.polar_billing_changes where kind = 'order_paid'",
  );
  assert.deepEqual(row.details, {
    product_id: pack.id,
    total_amount: 500,
    refunded_amount: 0,
    currency: "usd",
  });
});

Deno.test("polar-webhooks answers 400 for an order without its customer", async () => {
  await using t = await setup();
  const [, , pack] = standInProducts();
  const { customer: _, ...data } = orderModel(t.customer, { product: pack, amount: 500 });
  const response = await t.send(
    { type: "order.paid", timestamp: t.clock.next(), api_version: "2026-10", data } as never,
  );
  await assertJson(response, 400, { error: "Invalid event" });
  assert.deepEqual(await changes(t), []);
});

Deno.test("polar-webhooks keeps the catalog by product.* and benefit.* events, newest first", async () => {
  await using t = await setup();
  const [pro] = standInProducts();
  const at = (product: typeof pro, modified: string, fields: Partial<typeof pro> = {}) =>
    ({
      type: "product.updated",
      timestamp: modified,
      api_version: "2026-10",
      data: { ...product, ...fields, modified_at: modified },
    }) as PolarEvent;
  const t1 = t.clock.next();
  const t2 = t.clock.next();
  await assertJson(await t.send(at(pro, t2, { name: "Pro monthly" }), { id: "p2" }), 200, {
    outcome: "applied",
  });
  await assertJson(await t.send(at(pro, t2, { name: "Other" }), { id: "p2" }), 200, {
    outcome: "duplicate",
  });
  await assertJson(await t.send(at(pro, t1, { name: "Pro (old)" })), 200, { outcome: "stale" });
  const benefit = {
    ...proBenefitModel(),
    metadata: { key: "pro-plus" },
    modified_at: t.clock.next(),
  };
  await assertJson(
    await t.send(
      {
        type: "benefit.updated",
        timestamp: benefit.modified_at,
        api_version: "2026-10",
        data: benefit,
      } as PolarEvent,
    ),
    200,
    { outcome: "applied" },
  );
  const rows = await t.db.query<{ name: string; is_recurring: boolean; benefit_keys: string[] }>(
    "select name, is_recurring, benefit_keys from public.polar_products where id = $1",
    [pro.id],
  );
  assert.deepEqual(rows, [{ name: "Pro monthly", is_recurring: true, benefit_keys: ["pro-plus"] }]);
  assert.deepEqual(
    (await t.deliveries()).map(({ event_type, outcome }) => [event_type, outcome]),
    [["product.updated", "applied"], ["product.updated", "stale"], ["benefit.updated", "applied"]],
  );
});

// ----- Teams -------------------------------------------------------------------------------

Deno.test("polar-webhooks keeps a team's members, seats and grants: a claimed seat gives its member the key", async (test) => {
  await using t = await setup();
  const teamId = crypto.randomUUID();
  const other = await insertUser(t.db);
  const at = (minute: number) => `2026-11-02T00:${String(minute).padStart(2, "0")}:00Z`;
  const team = {
    id: crypto.randomUUID(),
    type: "team",
    external_id: teamId,
    email: "billing@example.com",
    created_at: at(0),
    modified_at: at(0),
    deleted_at: null,
  };
  const member = (id: string, userId: string | null, minute = 1) => ({
    id,
    customer_id: team.id,
    external_id: userId,
    role: "member",
    email: `${id}@example.com`,
    name: null,
    created_at: at(minute),
    modified_at: null,
  });
  // As Polar sends seats: revoking one clears its customer, member and email.
  const seat = (status: string, minute: number, memberId = "mem_1") => {
    const revoked = status === "revoked";
    return {
      id: "seat_1",
      customer_id: revoked ? null : team.id,
      member_id: revoked ? null : memberId,
      subscription_id: "sub_team",
      order_id: null,
      status,
      email: null,
      created_at: at(2),
      modified_at: at(minute),
      claimed_at: null,
      revoked_at: revoked ? at(minute) : null,
      seat_metadata: null,
    };
  };
  const event = (type: string, data: unknown) =>
    ({
      type,
      timestamp: at(30),
      data,
    }) as unknown as PolarEvent;
  const has = async (userId: string) => {
    await t.db.exec(
      `set role authenticated; select set_config('request.jwt.claims', '{"sub":"${userId}","role":"authenticated"}', false)`,
    );
    const [row] = await t.db.query<{ has: boolean }>("select public.has_entitlement('pro') as has");
    await t.db.exec("reset role; select set_config('request.jwt.claims', '', false)");
    return row.has;
  };

  await test.step("the team customer, its member, its subscription, a claimed seat and a grant", async () => {
    const subscription = {
      ...subscriptionFixture(customerFixture(), { status: "active" }),
      id: "sub_team",
      customer_id: team.id,
      customer: team,
      seats: 3,
      modified_at: at(2),
    };
    const grant = {
      id: "grant_1",
      customer_id: team.id,
      member_id: "mem_1",
      benefit_id: "ben_pro",
      subscription_id: "sub_team",
      is_granted: true,
      is_revoked: false,
      benefit: { id: "ben_pro", metadata: { key: "pro" } },
      created_at: at(3),
      modified_at: at(3),
    };
    for (
      const [type, data] of [
        ["customer.created", team],
        ["member.created", member("mem_1", t.userId)],
        ["subscription.active", subscription],
        ["customer_seat.claimed", seat("claimed", 3)],
        ["benefit_grant.created", grant],
      ] as const
    ) {
      await assertJson(await t.send(event(type, data)), 200, { outcome: "applied" });
    }
    assert.equal(await has(t.userId), true, "the member's claimed seat gives pro");
    assert.equal(await has(other), false, "another user holds nothing");
    assert.equal(await t.row(), undefined, "the user path saw nothing of the team's subscription");
  });

  await test.step("a redelivery changes nothing; an older revocation is stale", async () => {
    const claimed = event("customer_seat.claimed", seat("claimed", 3));
    await assertJson(await t.send(claimed, { id: "msg_seat" }), 200, { outcome: "stale" });
    await assertJson(await t.send(claimed, { id: "msg_seat" }), 200, { outcome: "duplicate" });
    await assertJson(await t.send(event("customer_seat.revoked", seat("revoked", 2))), 200, {
      outcome: "stale",
    });
    assert.equal(await has(t.userId), true);
  });

  await test.step("customer_seat.revoked takes the key away at once", async () => {
    await assertJson(await t.send(event("customer_seat.revoked", seat("revoked", 4))), 200, {
      outcome: "applied",
    });
    assert.equal(await has(t.userId), false);
  });

  await test.step("a seat of no team this project knows is recorded and ignored (202)", async () => {
    const stranger = { ...seat("claimed", 5), customer_id: crypto.randomUUID() };
    await assertJson(await t.send(event("customer_seat.claimed", stranger)), 202, {
      outcome: "ignored",
      reason: "unknown team customer",
    });
  });

  await test.step("a malformed team event is refused with 400 and records nothing", async () => {
    const before = (await t.deliveries()).length;
    for (
      const [type, data, error] of [
        ["customer_seat.claimed", { ...seat("claimed", 6), status: "taken" }, "Invalid event"],
        ["member.updated", { ...member("mem_2", other), role: "admin" }, "Invalid event"],
        ["member.updated", { ...member("mem_2", other), id: null }, "Invalid event"],
      ] as const
    ) {
      await assertJson(await t.send(event(type, data)), 400, { error });
    }
    assert.equal((await t.deliveries()).length, before);
  });
});
