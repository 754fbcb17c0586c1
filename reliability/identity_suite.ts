/**
 * Identity under attack and under load, on the local stack (Supabase API stand-in, the real
 * functions, the Polar stand-in) over a fresh database of a PostgreSQL server (`DATABASE_URL`):
 *
 * - the two attack stories of the identity issue, replayed through the Polar stand-in's checkout
 *   page: a buyer who edits the email to a victim's, and a buyer who pays first with a victim's
 *   email. Each is replayed both through the `checkout` function and as a checkout made the old
 *   way (no `customer_id`), which only the webhooks' external_id rule then stops.
 * - 300 new subscribers whose four first events arrive at the same time: no answer but 2xx, and
 *   every row right at the end.
 * - `webhook-signature` with 7,500 entries on a 1 MiB body: refused before any HMAC, in about
 *   the time of a one-signature request.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/identity_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import type { Database } from "../local/database.ts";
import { startStack } from "../local/stack.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import {
  customerEvent,
  customerFixture,
  subscriptionEvent,
  subscriptionFixture,
} from "../supabase/functions/tests/support/polar_events.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";

const NEW_SUBSCRIBERS = 300;
/** Subscribers whose first events are in flight at once (4 events each). */
const SUBSCRIBERS_IN_FLIGHT = 8;
const HOSTILE_SIGNATURES = 7_500;
const HOSTILE_REQUESTS = 8;
const ONE_MIB = 1024 * 1024;

interface Row {
  user_id: string;
  polar_customer_id: string | null;
  polar_subscription_id: string | null;
  status: string | null;
}

Deno.test("identity: attack stories, first-event races and signature headers on PostgreSQL", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
  });
  const { api_url: api, anon_key: anonKey, product_id: productId } = stack.info;
  const polar = stack.polar!;
  const polarApi = stack.info.polar_api_url;

  const signUp = async (label: string) => {
    const email = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const response = await fetch(`${api}/auth/v1/signup`, {
      method: "POST",
      headers: { apikey: anonKey, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password: "correct-horse-battery" }),
    });
    const { access_token: token, user } = await response.json();
    return { id: user.id as string, email, token: token as string };
  };
  type User = Awaited<ReturnType<typeof signUp>>;
  const callFunction = (name: string, user: User, body: unknown = {}) =>
    fetch(`${api}/functions/v1/${name}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  /** Pays on the stand-in's checkout page, typing `email` into the form as a buyer can. */
  const pay = async (checkoutUrl: string, email?: string) => {
    const response = await fetch(`${checkoutUrl}/pay`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams(email ? { email } : {}),
    });
    await response.body?.cancel();
    assert.equal(response.status, 303, "paid");
  };
  const checkoutThroughFunction = async (user: User) => {
    const response = await callFunction("checkout", user, { product_id: productId });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    return body.url as string;
  };
  /** A checkout made as the old `checkout` did: no customer_id, so the email stays editable. */
  const checkoutTheOldWay = async (user: User) => {
    const response = await fetch(`${polarApi}/v1/checkouts/`, {
      method: "POST",
      headers: { Authorization: "Bearer polar_oat_old_flow", "Content-Type": "application/json" },
      body: JSON.stringify({
        products: [productId],
        success_url: `${SITE_URL}/?checkout_id={CHECKOUT_ID}`,
        external_customer_id: user.id,
        customer_email: user.email,
        metadata: { user_id: user.id },
      }),
    });
    assert.equal(response.status, 201);
    return (await response.json()).url as string;
  };
  const rowOf = async (user: User) =>
    (await stack.db.query<Row>(
      "select user_id, polar_customer_id, polar_subscription_id, status from public.user_subscriptions where user_id = $1",
      [user.id],
    ))[0];
  const customerOf = (user: User) =>
    [...polar.customers.values()].find((customer) => customer.external_id === user.id);
  const subscriptionsOf = (customerId: string | undefined) =>
    [...polar.subscriptions.values()].filter((s) => s.customer_id === customerId);
  /** The email the portal page shows the user: whose customer it opens. */
  const portalEmail = async (user: User) => {
    const response = await callFunction("portal", user);
    assert.equal(response.status, 200);
    const page = await (await fetch((await response.json()).url)).text();
    return page.match(/<h1>Customer portal<\/h1><p>([^<]*)<\/p>/)?.[1];
  };

  await runCases(t, "identity", [{
    name: "story 1: a buyer who edits the email to a victim's gets none of the victim's billing",
  }], async () => {
    const victim = await signUp("victim1");
    const attacker = await signUp("attacker1");
    await pay(await checkoutThroughFunction(victim));
    const victimBefore = await rowOf(victim);
    assert.equal(victimBefore.status, "active");

    // Through the checkout function: the checkout is locked to the attacker's own customer.
    await pay(await checkoutThroughFunction(attacker), victim.email);
    const attackerRow = await rowOf(attacker);
    assert.equal(attackerRow.polar_customer_id, customerOf(attacker)?.id, "the attacker's own");
    assert.notEqual(attackerRow.polar_customer_id, victimBefore.polar_customer_id);
    assert.equal(await portalEmail(attacker), attacker.email, "the attacker's portal is theirs");
    assert.equal(subscriptionsOf(victimBefore.polar_customer_id!).length, 1, "nothing new");

    // The old way: Polar reuses the victim's customer; external_id and metadata disagree.
    const skippedBefore = await conflicts(stack.db);
    const attackerSubscriptions = await storedSubscriptions(stack.db, attacker.id);
    await pay(await checkoutTheOldWay(attacker), victim.email);
    const landed = subscriptionsOf(victimBefore.polar_customer_id!);
    assert.equal(landed.length, 2, "Polar put it on the victim's customer");
    assert.deepEqual(await rowOf(attacker), attackerRow, "the attacker's row gets nothing");
    assert.deepEqual(
      await storedSubscriptions(stack.db, attacker.id),
      attackerSubscriptions,
      "nor any subscription",
    );
    // The victim keeps their customer and their subscription. (The subscription the attacker
    // paid for is on the victim's customer in Polar, so the victim's snapshot lists it too.)
    assert.equal((await rowOf(victim)).polar_customer_id, victimBefore.polar_customer_id);
    assert.ok(
      (await storedSubscriptions(stack.db, victim.id)).includes(
        victimBefore.polar_subscription_id!,
      ),
      "the victim's subscription stays the victim's",
    );
    assert.equal(await portalEmail(attacker), attacker.email);
    assert.equal(await portalEmail(victim), victim.email);
    assert.ok(await conflicts(stack.db) > skippedBefore, "recorded as identity conflicts");
  });

  await runCases(t, "identity", [{
    name:
      "story 2: a buyer who pays first with a victim's email cannot take the victim's later subscription",
  }], async () => {
    // Through the checkout function: the attacker's customer has the attacker's email.
    const victim = await signUp("victim2");
    const attacker = await signUp("attacker2");
    await pay(await checkoutThroughFunction(attacker), victim.email);
    assert.equal(customerOf(attacker)?.email, attacker.email, "the typed email changed nothing");
    await pay(await checkoutThroughFunction(victim));
    const victimRow = await rowOf(victim);
    assert.equal(victimRow.status, "active");
    assert.equal(victimRow.polar_customer_id, customerOf(victim)?.id);
    assert.equal(subscriptionsOf(customerOf(victim)?.id).length, 1);
    assert.equal(await portalEmail(victim), victim.email, "the victim's portal is the victim's");
    assert.notEqual((await rowOf(attacker)).polar_customer_id, victimRow.polar_customer_id);

    // The old way: a customer with the victim's email and the attacker's external_id exists.
    const lateVictim = await signUp("victim2b");
    const oldAttacker = await signUp("attacker2b");
    await pay(await checkoutTheOldWay(oldAttacker), lateVictim.email);
    const squatted = customerOf(oldAttacker)!;
    assert.equal(squatted.email, lateVictim.email);
    const refused = await callFunction("checkout", lateVictim, { product_id: productId });
    assert.equal(refused.status, 409);
    assert.match((await refused.json()).error, /already belongs to another billing account/);
    assert.equal((await rowOf(lateVictim))?.polar_customer_id ?? null, null, "nothing linked");
    assert.equal(customerOf(lateVictim), undefined, "no customer created");
    assert.equal((await rowOf(oldAttacker)).polar_customer_id, squatted.id, "unchanged");
  });

  await runCases(t, "identity", [{
    name:
      `race: ${NEW_SUBSCRIBERS} new subscribers x 4 concurrent first events answer 2xx, rows right`,
  }], async () => {
    const subscribers = [];
    for (let i = 0; i < NEW_SUBSCRIBERS; i++) {
      const userId = crypto.randomUUID();
      await stack.db.query("insert into auth.users (id, email) values ($1, $2)", [
        userId,
        `race-${i}-${userId.slice(0, 8)}@example.com`,
      ]);
      subscribers.push(firstEvents(userId));
    }
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const started = performance.now();
    await pool(subscribers, SUBSCRIBERS_IN_FLIGHT, async (subscriber) => {
      await Promise.all(subscriber.events.map(async (body) => {
        const response = await fetch(`${api}/functions/v1/polar-webhooks`, {
          method: "POST",
          body,
          headers: {
            ...(await signWebhook(body, stack.info.polar_webhook_secret)),
            "Content-Type": "application/json",
          },
        });
        const answer = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 300) failures.push(`${response.status} ${answer.slice(0, 200)}`);
      }));
    });
    const seconds = (performance.now() - started) / 1000;
    const rows = await stack.db.query<Row & { polar_modified_at: Date }>(
      "select user_id, polar_customer_id, polar_subscription_id, status, polar_modified_at from public.user_subscriptions where user_id = any($1)",
      [subscribers.map((s) => s.userId)],
    );
    const wrong = subscribers.filter((s) => {
      const row = rows.find((r) => r.user_id === s.userId);
      return !row || row.polar_customer_id !== s.customerId ||
        row.polar_subscription_id !== s.subscriptionId || row.status !== "active" ||
        row.polar_modified_at.toISOString() !== s.lastVersion;
    });
    const answered = [...statuses].sort().map(([status, n]) => `${n}x${status}`).join(", ");
    await figure(
      "identity race: subscribers x events / answers / non-2xx / wrong rows",
      `${NEW_SUBSCRIBERS} x 4 / ${answered} / ${failures.length} / ${wrong.length}`,
    );
    await figure(
      "identity race: time",
      `${seconds.toFixed(1)} s, ${(NEW_SUBSCRIBERS * 4 / seconds).toFixed(0)} deliveries/s`,
    );
    assert.deepEqual(failures.slice(0, 5), [], "every first event answered 2xx");
    assert.equal(wrong.length, 0, "every row has its customer and its newest subscription state");
  });

  await runCases(t, "identity", [{
    name: `headers: ${HOSTILE_SIGNATURES} signatures on a 1 MiB body are refused before any HMAC`,
  }], async () => {
    const body = JSON.stringify({ type: "order.paid", pad: "x".repeat(ONE_MIB - 100) });
    const signed = await signWebhook(body, "whsec_not_the_endpoints_secret");
    const send = async (signature: string) => {
      const begin = performance.now();
      const response = await fetch(`${api}/functions/v1/polar-webhooks`, {
        method: "POST",
        body,
        headers: { ...signed, "webhook-signature": signature, "Content-Type": "application/json" },
      });
      await response.body?.cancel();
      return { status: response.status, ms: performance.now() - begin };
    };
    // Short entries that decode (each would cost an HMAC of the body), to stay under the 64 KiB
    // that Deno's server allows for all headers.
    const hostile = Array(HOSTILE_SIGNATURES).fill(`v1,${btoa("x")}`).join(" ");
    await send(signed["webhook-signature"]); // warm the function
    const one = [];
    for (let i = 0; i < 5; i++) one.push(await send(signed["webhook-signature"]));
    const many = [];
    for (let i = 0; i < 5; i++) many.push(await send(hostile));
    const started = performance.now();
    const burst = await Promise.all(
      Array.from({ length: HOSTILE_REQUESTS }, () => send(hostile)),
    );
    const burstMs = performance.now() - started;
    const median = (runs: { ms: number }[]) =>
      [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)].ms.toFixed(0);
    await figure(
      "identity headers: 403 for one bad signature / for 7,500 (median of 5, 1 MiB body)",
      `${median(one)} ms / ${median(many)} ms`,
    );
    await figure(
      `identity headers: ${HOSTILE_REQUESTS} hostile requests at once`,
      `${burstMs.toFixed(0)} ms in all`,
    );
    assert.deepEqual(
      [...new Set([...one, ...many, ...burst].map((run) => run.status))],
      [403],
      "all 403",
    );
  });
});

/** The ids of a user's stored subscriptions. */
async function storedSubscriptions(db: Database, userId: string): Promise<string[]> {
  return (await db.query<{ id: string }>(
    "select id from public.polar_subscriptions where user_id = $1 order by id",
    [userId],
  )).map((row) => row.id);
}

/** Deliveries recorded as identity conflicts so far. */
async function conflicts(db: Database): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    "select count(*)::int as n from polar.webhook_deliveries where reason = 'identity conflict'",
  );
  return row.n;
}

/** A new subscriber's first four events: customer, subscription created, active, updated. */
function firstEvents(userId: string) {
  const base = Date.now() - 60_000;
  const at = (second: number) => new Date(base + second * 1000).toISOString();
  const customer: models.CustomerIndividual = {
    ...customerFixture({ externalId: userId }),
    created_at: at(0),
  };
  const subscription = (fields: Partial<models.Subscription>) =>
    subscriptionFixture(customer, {
      id: subscriptionId,
      created_at: at(1),
      metadata: { user_id: userId },
      ...fields,
    });
  const subscriptionId = crypto.randomUUID();
  const events = [
    customerEvent("customer.created", customer, at(0)),
    subscriptionEvent(
      "subscription.created",
      subscription({ status: "incomplete", modified_at: null }),
      at(1),
    ),
    subscriptionEvent(
      "subscription.active",
      subscription({ status: "active", modified_at: at(2) }),
      at(2),
    ),
    subscriptionEvent(
      "subscription.updated",
      subscription({ status: "active", modified_at: at(3), current_period_end: at(3600) }),
      at(3),
    ),
  ];
  return {
    userId,
    customerId: customer.id,
    subscriptionId,
    lastVersion: new Date(at(3)).toISOString(),
    events: events.map((event) => JSON.stringify(event)),
  };
}
