/**
 * Deliveries to `polar-webhooks`: forged, replayed, mistimed, malformed, duplicated. Only a body
 * signed with the endpoint's secret, within five minutes of its timestamp, reaches the database,
 * and a `webhook-id` already recorded changes nothing, whatever body comes with it (the first
 * delivery of an id wins; Polar never reuses an id for another event).
 *
 * @module
 */
import assert from "node:assert/strict";
import { insertUser } from "../../supabase/functions/tests/support/database.ts";
import {
  customerFixture,
  subscriptionEvent,
  subscriptionFixture,
} from "../../supabase/functions/tests/support/polar_events.ts";
import { signWebhook, type SignWebhookOptions } from "../../local/webhook_signing.ts";
import { createWebhookSecret } from "../../local/webhook_signing.ts";
import { type CaseContext, ERRORS, type HttpCase, type Sent } from "./http_case.ts";

/** Polar's tolerance is five minutes either way; these are well outside and inside it. */
const OUTSIDE_TOLERANCE_SECONDS = 10 * 60;
const INSIDE_TOLERANCE_SECONDS = 4 * 60;
const TWO_MIB = 2 * 1024 * 1024;
const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const DEEP = 10_000;

/** A subscription event for a new user, with a version one `step` minutes from now. */
async function userEvent(
  ctx: CaseContext,
  fields: { status?: "active" | "canceled"; minutes?: number; userId?: string } = {},
) {
  const userId = fields.userId ?? await insertUser(ctx.h.db);
  const customer = customerFixture({ externalId: userId });
  const modifiedAt = new Date(Date.now() + (fields.minutes ?? 0) * 60_000).toISOString();
  const subscription = subscriptionFixture(customer, {
    status: fields.status ?? "active",
    modified_at: modifiedAt,
  });
  return {
    userId,
    customer,
    subscription,
    body: JSON.stringify(subscriptionEvent("subscription.updated", subscription)),
  };
}

async function signed(
  ctx: CaseContext,
  body: string,
  options: SignWebhookOptions & { secret?: string } = {},
): Promise<Record<string, string>> {
  return {
    ...(await signWebhook(body, options.secret ?? ctx.h.webhookSecret, options)),
    "Content-Type": "application/json",
  };
}

async function deliver(ctx: CaseContext, body: string, headers: Record<string, string>) {
  const response = await fetch(`${ctx.h.functions["polar-webhooks"].url}/`, {
    method: "POST",
    body,
    headers,
  });
  return { status: response.status, body: await response.json() };
}

async function rowOf(ctx: CaseContext, userId: string) {
  const [row] = await ctx.h.db.query<{ status: string; polar_customer_id: string }>(
    "select status, polar_customer_id from public.user_subscriptions where user_id = $1",
    [userId],
  );
  return row;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A case with its own state: `setup` runs in `prepare` (before the database is fingerprinted),
 * and `send` reads what it made.
 */
function stateful<S>(
  base: Omit<HttpCase, "fn" | "send" | "prepare" | "check">,
  setup: (ctx: CaseContext) => Promise<S>,
  send: (ctx: CaseContext, state: S) => Promise<Sent>,
  check?: (ctx: CaseContext, state: S) => Promise<void>,
): HttpCase {
  let state: S;
  return {
    ...base,
    fn: "polar-webhooks",
    prepare: async (ctx) => {
      state = await setup(ctx);
    },
    send: (ctx) => send(ctx, state),
    check: check && ((ctx) => check(ctx, state)),
  };
}

const forged = { status: 403, body: ERRORS.invalidSignature };
const invalidEvent = { status: 400, body: ERRORS.invalidEvent };
const applied = { status: 200, body: { outcome: "applied" }, writes: true };

/** A fresh event for a new user, sent with headers made by `headers`. */
const withEvent = (
  name: string,
  expected: Omit<HttpCase, "name" | "fn" | "send">,
  headers: (ctx: CaseContext, body: string) => Promise<Record<string, string>>,
  bodyOf: (body: string) => string = (body) => body,
) =>
  stateful(
    { name, ...expected },
    (ctx) => userEvent(ctx),
    async (ctx, event) => ({ body: bodyOf(event.body), headers: await headers(ctx, event.body) }),
    expected.status === 200
      ? async (ctx, event) => {
        assert.equal((await rowOf(ctx, event.userId))?.status, "active", "the row is written");
      }
      : undefined,
  );

/** A signed body that is not a subscription event. */
const signedBody = (name: string, expected: Omit<HttpCase, "name" | "fn" | "send">, body: string) =>
  stateful({ name, ...expected }, () => Promise.resolve(body), async (ctx) => ({
    body,
    headers: await signed(ctx, body),
  }));

/**
 * Every webhook case.
 *
 * @returns the cases
 * @example
 * ```ts
 * webhookCases().find((c) => c.name.includes("different body"))?.status; // 200 (duplicate)
 * ```
 */
export function webhookCases(): HttpCase[] {
  const pick = (headers: Record<string, string>, ...drop: string[]) =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => !drop.includes(name)));
  return [
    withEvent("a valid delivery is applied", applied, (ctx, body) => signed(ctx, body)),
    stateful(
      {
        name: "the same delivery again is a duplicate",
        status: 200,
        body: { outcome: "duplicate" },
      },
      async (ctx) => {
        const event = await userEvent(ctx);
        const headers = await signed(ctx, event.body);
        assert.deepEqual(await deliver(ctx, event.body, headers), {
          status: 200,
          body: { outcome: "applied" },
        });
        return { ...event, headers };
      },
      (_ctx, event) => Promise.resolve({ body: event.body, headers: event.headers }),
    ),
    stateful(
      {
        name: "a duplicate webhook-id with a different body changes nothing",
        status: 200,
        body: { outcome: "duplicate" },
      },
      async (ctx) => {
        const event = await userEvent(ctx);
        const id = `msg_${crypto.randomUUID()}`;
        assert.deepEqual(
          await deliver(ctx, event.body, await signed(ctx, event.body, { id })),
          { status: 200, body: { outcome: "applied" } },
        );
        const later = await userEvent(ctx, {
          userId: event.userId,
          status: "canceled",
          minutes: 5,
        });
        return { ...later, id };
      },
      async (ctx, later) => ({
        body: later.body,
        headers: await signed(ctx, later.body, { id: later.id }),
      }),
      async (ctx, later) => {
        assert.equal((await rowOf(ctx, later.userId)).status, "active", "the first body stands");
      },
    ),
    withEvent(
      "no webhook headers",
      forged,
      () => Promise.resolve({ "Content-Type": "application/json" }),
    ),
    withEvent(
      "no webhook-signature",
      forged,
      async (ctx, body) => pick(await signed(ctx, body), "webhook-signature"),
    ),
    withEvent(
      "no webhook-id",
      forged,
      async (ctx, body) => pick(await signed(ctx, body), "webhook-id"),
    ),
    withEvent(
      "no webhook-timestamp",
      forged,
      async (ctx, body) => pick(await signed(ctx, body), "webhook-timestamp"),
    ),
    withEvent(
      "signed with another secret",
      forged,
      (ctx, body) => signed(ctx, body, { secret: createWebhookSecret() }),
    ),
    withEvent("an empty v1 signature", forged, async (ctx, body) => ({
      ...(await signed(ctx, body)),
      "webhook-signature": "v1,",
    })),
    withEvent("a signature that is not base64", forged, async (ctx, body) => ({
      ...(await signed(ctx, body)),
      "webhook-signature": "v1,!!!not-base64!!!",
    })),
    withEvent("the right signature under the v1a scheme", forged, async (ctx, body) => {
      const headers = await signed(ctx, body);
      return {
        ...headers,
        "webhook-signature": headers["webhook-signature"].replace(/^v1,/, "v1a,"),
      };
    }),
    withEvent(
      "a valid signature over a different body",
      forged,
      (ctx) =>
        signed(
          ctx,
          JSON.stringify({ type: "order.paid", timestamp: new Date().toISOString(), data: {} }),
        ),
    ),
    withEvent(
      "a signed body with a trailing space",
      forged,
      (ctx, body) => signed(ctx, body),
      (body) => `${body} `,
    ),
    withEvent(
      "a timestamp ten minutes old",
      forged,
      (ctx, body) => signed(ctx, body, { timestamp: nowSeconds() - OUTSIDE_TOLERANCE_SECONDS }),
    ),
    withEvent(
      "a timestamp ten minutes ahead",
      forged,
      (ctx, body) => signed(ctx, body, { timestamp: nowSeconds() + OUTSIDE_TOLERANCE_SECONDS }),
    ),
    withEvent(
      "a timestamp four minutes old is within tolerance",
      applied,
      (ctx, body) => signed(ctx, body, { timestamp: nowSeconds() - INSIDE_TOLERANCE_SECONDS }),
    ),
    withEvent("a timestamp that is not a number", forged, async (ctx, body) => ({
      ...(await signed(ctx, body)),
      "webhook-timestamp": "yesterday",
    })),
    withEvent("a webhook-id changed after signing", forged, async (ctx, body) => ({
      ...(await signed(ctx, body)),
      "webhook-id": `msg_${crypto.randomUUID()}`,
    })),
    withEvent("several signatures, one of them valid", applied, async (ctx, body) => {
      const headers = await signed(ctx, body);
      return { ...headers, "webhook-signature": `v1,AAAA ${headers["webhook-signature"]}` };
    }),
    withEvent(
      "signed with the Standard Webhooks key encoding",
      applied,
      (ctx, body) => signed(ctx, body, { keyEncoding: "standard" }),
    ),
    withEvent("a valid signature sent as text/plain", applied, async (ctx, body) => ({
      ...(await signed(ctx, body)),
      "Content-Type": "text/plain",
    })),
    signedBody("a signed body that is not JSON", invalidEvent, "{not json"),
    signedBody("a signed JSON list", invalidEvent, "[]"),
    signedBody("a signed object without a type", invalidEvent, JSON.stringify({ data: {} })),
    signedBody(
      "a signed list nested 10,000 deep",
      invalidEvent,
      "[".repeat(DEEP) + "]".repeat(DEEP),
    ),
    signedBody(
      "an event type this project does not use is recorded",
      { status: 202, body: { outcome: "ignored" }, writes: true },
      JSON.stringify({
        type: "order.created",
        timestamp: new Date().toISOString(),
        data: { id: "o" },
      }),
    ),
    signedBody(
      "a type Polar may add later is recorded",
      { status: 202, body: { outcome: "ignored" }, writes: true },
      JSON.stringify({ type: "wallet.topped_up", timestamp: new Date().toISOString(), data: {} }),
    ),
    stateful(
      { name: "a subscription event without data.customer", ...invalidEvent },
      (ctx) => userEvent(ctx),
      async (ctx, event) => {
        const parsed = JSON.parse(event.body);
        delete parsed.data.customer;
        const body = JSON.stringify(parsed);
        return { body, headers: await signed(ctx, body) };
      },
    ),
    stateful(
      { name: "a subscription event with a malformed timestamp", ...invalidEvent },
      (ctx) => userEvent(ctx),
      async (ctx, event) => {
        const parsed = JSON.parse(event.body);
        parsed.data.modified_at = "yesterday";
        const body = JSON.stringify(parsed);
        return { body, headers: await signed(ctx, body) };
      },
    ),
    stateful(
      {
        name: "an older state after a newer one is stale",
        status: 200,
        body: { outcome: "stale" },
        writes: true,
      },
      async (ctx) => {
        const newer = await userEvent(ctx, { status: "canceled", minutes: 5 });
        assert.deepEqual(
          await deliver(ctx, newer.body, await signed(ctx, newer.body)),
          { status: 200, body: { outcome: "applied" } },
        );
        const older = subscriptionFixture(newer.customer, {
          id: newer.subscription.id,
          status: "active",
          modified_at: new Date().toISOString(),
        });
        return {
          ...newer,
          olderBody: JSON.stringify(subscriptionEvent("subscription.updated", older)),
        };
      },
      async (ctx, state) => ({
        body: state.olderBody,
        headers: await signed(ctx, state.olderBody),
      }),
      async (ctx, state) => {
        assert.equal((await rowOf(ctx, state.userId)).status, "canceled", "the newer state stands");
      },
    ),
    stateful(
      {
        name: "a customer linked to another user is skipped",
        status: 202,
        body: { outcome: "skipped", reason: "customer is linked to another user" },
        writes: true,
      },
      async (ctx) => {
        const first = await userEvent(ctx);
        assert.equal((await deliver(ctx, first.body, await signed(ctx, first.body))).status, 200);
        const otherUser = await insertUser(ctx.h.db);
        const hijack = subscriptionFixture(
          { ...first.customer, external_id: otherUser },
          { status: "active", modified_at: new Date(Date.now() + 60_000).toISOString() },
        );
        return {
          otherUser,
          body: JSON.stringify(subscriptionEvent("subscription.updated", hijack)),
        };
      },
      async (ctx, state) => ({ body: state.body, headers: await signed(ctx, state.body) }),
      async (ctx, state) => {
        assert.equal(await rowOf(ctx, state.otherUser), undefined, "the other user gets no row");
      },
    ),
    stateful(
      {
        name: "an external_id of no user is skipped",
        status: 202,
        body: { outcome: "skipped", reason: "no user matches external_id" },
        writes: true,
      },
      (ctx) => userEvent(ctx, { userId: crypto.randomUUID() }),
      async (ctx, event) => ({ body: event.body, headers: await signed(ctx, event.body) }),
    ),
    stateful(
      {
        name: "SQL in every id is stored as text",
        status: 202,
        body: { outcome: "skipped", reason: "customer has no external_id" },
        writes: true,
      },
      () => {
        const sql = "x'); drop table public.user_subscriptions; --";
        const customer = { ...customerFixture({}), id: sql };
        const subscription = subscriptionFixture(customer, { id: sql, status: "active" });
        return Promise.resolve(
          JSON.stringify(subscriptionEvent("subscription.updated", subscription)),
        );
      },
      async (ctx, body) => ({
        body,
        headers: await signed(ctx, body, { id: "msg_'; drop table polar.webhook_deliveries; --" }),
      }),
      async (ctx) => {
        const [row] = await ctx.h.db.query<{ n: number }>(
          "select count(*)::int as n from polar.webhook_deliveries where webhook_id like 'msg_''; drop%'",
        );
        assert.equal(row.n, 1, "the id is stored as it came");
      },
    ),
    signedBody(
      "2 MiB",
      { status: 413, body: ERRORS.tooLarge },
      JSON.stringify({ padding: "p".repeat(TWO_MIB) }),
    ),
    stateful(
      { name: "one byte over 1 MiB, streamed", status: 413, body: ERRORS.tooLarge },
      () => Promise.resolve("x".repeat(WEBHOOK_BODY_LIMIT + 1)),
      async (ctx, body) => ({
        body: ReadableStream.from([new TextEncoder().encode(body)]),
        headers: await signed(ctx, body),
      }),
    ),
  ];
}
