import assert from "node:assert/strict";
import {
  benefitGrantModel,
  customerStateModel,
  DEMO_METER,
  demoMeterModel,
  webhookEndpointModel,
} from "../../../local/polar_models.ts";
import { loadSyncFunctionConfig } from "../_polar/config.ts";
import { constantTimeEqual } from "../_polar/constant_time.ts";
import type { OperatorCheck } from "../_polar/operator.ts";
import type { RequestLog } from "../_polar/log.ts";
import { applyPolarWebhook } from "../polar-webhooks/handler.ts";
import { createServerClient } from "../_polar/supabase.ts";
import { toWebhookDelivery } from "../_polar/polar_webhooks.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { customerStateEvent, subscriptionFixture } from "../tests/support/polar_events.ts";
import { TEST_SYNC_SECRET } from "../tests/support/refused_tokens.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { createSyncDependencies, createSyncHandler } from "./handler.ts";
import { NO_CUSTOMER_MESSAGE } from "./user_sync.ts";
import { productModel } from "../../../local/polar_products.ts";

const SITE_URL = "https://app.example.com";
/** The schedule's secret, the one the user-facing functions' tests show they refuse. */
const SYNC_SECRET = TEST_SYNC_SECRET;
/** The team part of a deletions pass with no team rows. */
const NO_TEAM_DELETIONS = {
  seats_revoked: 0,
  members_deleted: 0,
  absent: 0,
  owners_kept: 0,
  failed: 0,
};

/**
 * The sync handler with its production wiring (real SDK calls, real RPCs through the Supabase
 * stand-in on loopback, real token verification), against the loopback Polar fake.
 */
async function setup(
  options: {
    reconcileBudgetMs?: number;
    reconcilePageSize?: number;
    reconcileBatchSize?: number;
    env?: Record<string, string>;
  } = {},
) {
  const supabase = await createTestSupabase("loopback");
  const polar = await startFakePolar();
  const env: Record<string, string> = {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_sync",
    POLAR_API_URL: polar.url,
    POLAR_SYNC_RATE_PER_MINUTE: "60000",
    POLAR_USER_SYNC_RATE_PER_MINUTE: "60000",
    POLAR_SYNC_SECRET: SYNC_SECRET,
    SITE_URL,
    ...options.env,
  };
  const logs: RequestLog[] = [];
  const handler = createSyncHandler({
    ...createSyncDependencies(loadSyncFunctionConfig((name) => env[name]), {
      reconcileBudgetMs: options.reconcileBudgetMs,
      reconcilePageSize: options.reconcilePageSize,
      reconcileBatchSize: options.reconcileBatchSize,
    }),
    log: (entry) => logs.push(entry),
  });
  const userId = await insertUser(supabase.db, "sync@example.com");
  const token = await supabase.userToken(userId, "sync@example.com");
  const sendWith = (headers: Record<string, string>, body?: unknown, method = "POST") =>
    handler(
      new Request("http://localhost/functions/v1/sync", {
        method,
        headers: {
          ...headers,
          ...(body !== undefined && { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  const send = (bearer: string | undefined, body?: unknown, method = "POST") =>
    sendWith(bearer ? { Authorization: `Bearer ${bearer}` } : {}, body, method);
  /** A Polar customer for a user, linked as checkout links it, with an active subscription and
   * the "pro" grant (in its Customer State, and in the organization-wide lists). */
  const subscribe = async (user: string) => {
    const customer = polar.addCustomer({ externalId: user });
    await linkCustomer(supabase.db, user, customer.id);
    const subscription = subscriptionFixture(customer, {
      status: "active",
      modified_at: new Date(Date.now() - 60_000).toISOString(),
    });
    polar.subscriptions.set(subscription.id, subscription);
    polar.states.set(
      customer.id,
      customerStateModel(customer, {
        subscriptions: [subscription],
        grants: [benefitGrantModel()],
      }),
    );
    return { customer, subscription };
  };
  const polarRoutes = () => polar.requests.map((r) => r.route);
  const linkOf = async (user: string) =>
    (await supabase.db.query<{ id: string | null }>(
      "select polar_customer_id as id from public.user_subscriptions where user_id = $1",
      [user],
    ))[0]?.id ?? null;
  return {
    supabase,
    polar,
    db: supabase.db,
    env,
    logs,
    userId,
    token,
    send,
    sendWith,
    subscribe,
    polarRoutes,
    linkOf,
    async [Symbol.asyncDispose]() {
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

async function json(response: Response, status: number) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  return body;
}

// ----- The signed-in user ----------------------------------------------------------------------

Deno.test("sync pulls the caller's Customer State, applies it and answers it", async () => {
  await using t = await setup();
  const { customer, subscription } = await t.subscribe(t.userId);
  const body = await json(await t.send(t.token), 200);
  assert.equal(body.synced, true);
  assert.equal(body.state.polar_customer_id, customer.id);
  assert.deepEqual(body.state.entitlements, ["pro"]);
  assert.equal(body.state.has_active_subscription, true);
  assert.equal(body.state.subscriptions[0].id, subscription.id);
  assert.deepEqual(t.polarRoutes(), [`GET /v1/customers/external/${t.userId}/state`]);
});

Deno.test("sync calls Polar at most once per user within the interval", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  const answers = await Promise.all([t.send(t.token), t.send(t.token), t.send(t.token)]);
  const bodies = await Promise.all(answers.map((answer) => json(answer, 200)));
  assert.deepEqual(bodies.map((b) => b.synced).sort(), [false, false, true]);
  assert.equal(t.polar.requests.length, 1, "one Polar call for three requests");
  const other = await insertUser(t.db);
  await t.subscribe(other);
  const otherToken = await t.supabase.userToken(other);
  assert.equal((await json(await t.send(otherToken), 200)).synced, true, "the limit is per user");
});

Deno.test("sync fetches a subscription the snapshot leaves out, to store how it ended", async () => {
  await using t = await setup();
  const { customer, subscription } = await t.subscribe(t.userId);
  await json(await t.send(t.token), 200);
  // Polar ended it; its webhooks were lost. The state no longer lists it.
  const ended = {
    ...subscription,
    status: "canceled" as const,
    ended_at: new Date().toISOString(),
    modified_at: new Date().toISOString(),
  };
  t.polar.subscriptions.set(ended.id, ended);
  t.polar.states.set(customer.id, customerStateModel(customer));
  await t.db.query("update public.user_subscriptions set polar_synced_at = null");
  t.polar.requests.length = 0;
  const body = await json(await t.send(t.token), 200);
  assert.deepEqual(t.polarRoutes(), [
    `GET /v1/customers/external/${t.userId}/state`,
    `GET /v1/subscriptions/${subscription.id}`,
  ]);
  assert.equal(body.state.subscriptions[0].status, "canceled");
  assert.equal(body.state.has_active_subscription, false);
  assert.deepEqual(body.state.entitlements, []);
});

Deno.test("sync answers a user without a linked customer from the database, without calling Polar", async () => {
  await using t = await setup();
  // Polar has a customer for the user, but nothing here links it: checkout links first, so this
  // is an account that never subscribed, and it must not spend the organization's calls.
  t.polar.addCustomer({ externalId: t.userId });
  const body = await json(await t.send(t.token, {}), 200);
  assert.equal(body.synced, false);
  assert.equal(body.message, NO_CUSTOMER_MESSAGE);
  assert.equal(body.state.polar_customer_id, null);
  assert.deepEqual(body.state.entitlements, []);
  assert.deepEqual(t.polarRoutes(), []);
});

Deno.test("users' syncs share one budget: past it they get the stored state marked stale", async () => {
  // One a minute with a burst of 5: five calls at once, then one a minute.
  await using t = await setup({ env: { POLAR_USER_SYNC_RATE_PER_MINUTE: "1" } });
  const users = [t.userId];
  for (let i = 0; i < 5; i++) users.push(await insertUser(t.db));
  for (const user of users) await t.subscribe(user);
  const tokens = await Promise.all(users.map((user) => t.supabase.userToken(user)));
  const bodies = [];
  for (const token of tokens) bodies.push(await json(await t.send(token), 200));
  assert.deepEqual(bodies.map((b) => b.synced), [true, true, true, true, true, false]);
  assert.deepEqual(bodies.map((b) => b.stale ?? false), [false, false, false, false, false, true]);
  assert.equal(t.polar.requests.length, 5, "the sixth account made no Polar call");
  const last = bodies[5];
  assert.equal(last.state.polar_customer_id, await t.linkOf(users[5]), "its stored state");
  assert.equal(last.message, undefined);
  // A minute passes, in the database's clock of the budget.
  await t.db.query("update polar.user_sync_budget set next_at = next_at - interval '1 minute'");
  const later = await json(await t.send(tokens[5]), 200);
  assert.equal(later.synced, true, "the budget refills at its pace");
  assert.equal(later.stale, undefined);
  await t.db.query("update public.user_subscriptions set polar_synced_at = null");
  assert.equal((await json(await t.send(tokens[0]), 200)).stale, true, "by one call a minute");
});

Deno.test("sync: a customer Polar deleted ends the link, its grants and its meters", async () => {
  await using t = await setup();
  const { customer } = await t.subscribe(t.userId);
  assert.deepEqual((await json(await t.send(t.token), 200)).state.entitlements, ["pro"]);
  t.polar.customers.delete(customer.id);
  await t.db.query("update public.user_subscriptions set polar_synced_at = null");
  const body = await json(await t.send(t.token), 200);
  assert.equal(body.state.polar_customer_id, null);
  assert.deepEqual(body.state.entitlements, []);
  assert.equal(body.state.has_active_subscription, false);
  assert.deepEqual(t.polarRoutes().slice(1), [
    `GET /v1/customers/external/${t.userId}/state`,
    `GET /v1/customers/${customer.id}/state`,
  ], "asked by external id, then by the stored customer id, before unlinking");
  const [left] = await t.db.query<{ grants: number }>(
    "select count(*)::int as grants from public.polar_benefit_grants",
  );
  assert.equal(left.grants, 0);
});

Deno.test("sync applies a legacy link's state through the stored link, and it grants nothing", async () => {
  await using t = await setup();
  // The previous version linked this customer from metadata.user_id; it has no external_id.
  const customer = t.polar.addCustomer();
  await t.db.query(
    "insert into public.user_subscriptions (user_id, polar_customer_id) values ($1, $2)",
    [t.userId, customer.id],
  );
  const subscription = subscriptionFixture(customer, { status: "active" });
  t.polar.states.set(
    customer.id,
    customerStateModel(customer, { subscriptions: [subscription], grants: [benefitGrantModel()] }),
  );
  const body = await json(await t.send(t.token), 200);
  assert.equal(body.synced, true);
  assert.equal(body.state.polar_customer_id, customer.id, "never silently unlinked");
  assert.equal(body.state.subscriptions[0].id, subscription.id, "its state is stored");
  assert.equal(
    body.state.has_active_subscription,
    false,
    "but an unverified link counts for nothing",
  );
  assert.deepEqual(body.state.entitlements, []);
});

Deno.test("sync: a pulled snapshot never overwrites a newer webhook snapshot, nor the reverse", async (test) => {
  await using t = await setup();
  const { customer } = await t.subscribe(t.userId);
  const admin = createServerClient(t.supabase.url, t.supabase.serviceRoleKey);
  const webhookSnapshot = (key: string, at: number) =>
    applyPolarWebhook(
      admin,
      toWebhookDelivery(
        `msg_${crypto.randomUUID()}`,
        customerStateEvent(
          customerStateModel(customer, {
            grants: [benefitGrantModel({ benefit_id: `b-${key}`, benefit_metadata: { key } })],
          }),
          new Date(at).toISOString(),
        ),
      ),
    );
  const keys = async () =>
    (await t.db.query<{ key: string }>(
      "select benefit_metadata ->> 'key' as key from public.polar_benefit_grants",
    )).map((row) => row.key);
  await test.step("a webhook snapshot built after the pull stays", async () => {
    await webhookSnapshot("beta", Date.now() + 60_000);
    await json(await t.send(t.token), 200);
    assert.deepEqual(await keys(), ["beta"]);
  });
  await test.step("a webhook snapshot built before the pull is stale", async () => {
    await t.db.query(
      "update public.user_subscriptions set polar_synced_at = null, polar_state_at = null",
    );
    await json(await t.send(t.token), 200);
    assert.deepEqual(await keys(), ["pro"]);
    assert.deepEqual(await webhookSnapshot("old", Date.now() - 60_000), { outcome: "stale" });
    assert.deepEqual(await keys(), ["pro"]);
  });
});

Deno.test("sync answers every refusal with JSON and CORS, and calls Polar for none", async (test) => {
  await using t = await setup();
  const cases: [string, () => Promise<Response>, number, unknown][] = [
    ["no token", () => t.send(undefined), 401, { error: "Unauthorized" }],
    ["the anon key", () => t.send(t.supabase.anonKey), 401, { error: "Unauthorized" }],
    ["a forged token", () => t.send(`${t.token.slice(0, -4)}AAAA`), 401, { error: "Unauthorized" }],
    ["a user asking for everyone", () => t.send(t.token, { scope: "all" }), 403, {
      error: "Forbidden",
    }],
    ["a user asking for deletions", () => t.send(t.token, { scope: "deletions" }), 403, {
      error: "Forbidden",
    }],
    ["a user asking for the usage flush", () => t.send(t.token, { scope: "usage" }), 403, {
      error: "Forbidden",
    }],
    ["a user asking for the doctor", () => t.send(t.token, { scope: "doctor" }), 403, {
      error: "Forbidden",
    }],
    ["an unknown scope", () => t.send(t.token, { scope: "everyone" }), 400, {
      error:
        'Invalid scope "everyone": expected "me", "all", "deletions", "usage", "catalog" or "doctor"',
    }],
    ["the service key without a scope", () => t.send(t.supabase.serviceRoleKey), 400, {
      error:
        'The service key syncs "all", "deletions", "usage", "catalog" or "doctor"; send a user\'s token to sync that user',
    }],
    ["GET", () => t.send(t.token, undefined, "GET"), 405, { error: "Method not allowed" }],
  ];
  for (const [name, send, status, body] of cases) {
    await test.step(name, async () => {
      const response = await send();
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await json(response, status), body);
    });
  }
  assert.equal(t.polar.requests.length, 0);
});

Deno.test("sync answers 500 without details when Polar fails, and logs no token", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  t.polar.mode = "server_error";
  assert.deepEqual(await json(await t.send(t.token), 500), { error: "Something went wrong" });
  const text = JSON.stringify(t.logs);
  assert.ok(t.logs[0].cause, "the cause is logged");
  assert.ok(!text.includes(t.token.split(".")[2]) && !text.includes(t.supabase.serviceRoleKey));
});

// ----- The operator ----------------------------------------------------------------------------

Deno.test("sync with the service key reconciles every user and reports counts", async () => {
  await using t = await setup();
  const users = [t.userId, await insertUser(t.db), await insertUser(t.db)];
  for (const user of users) await t.subscribe(user);
  await json(await t.send(t.token), 200); // the first user is already current
  t.polar.addCustomer({ externalId: crypto.randomUUID() }); // a deleted user's customer
  t.polar.addCustomer(); // from before the integration
  const gone = await insertUser(t.db);
  const goneCustomer = crypto.randomUUID();
  await linkCustomer(t.db, gone, goneCustomer); // Polar deleted it; the webhook was lost
  t.polar.webhookEndpoints.push(
    webhookEndpointModel({ url: "https://x/polar-webhooks", enabled: false }),
  );

  const report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(report.status, "done");
  assert.deepEqual(
    [
      report.checked,
      report.changed,
      report.unchanged,
      report.orphaned,
      report.no_external_id,
      report.missing,
      report.failures,
    ],
    [3, 2, 1, 1, 1, 1, 0],
  );
  assert.equal(report.webhooks_disabled, true, "the operator learns Polar disabled the endpoint");
  assert.deepEqual(
    t.polarRoutes().filter((route) => route.endsWith("/state")),
    [
      `GET /v1/customers/external/${t.userId}/state`, // the first user's own sync
      `GET /v1/customers/external/${gone}/state`,
      `GET /v1/customers/${goneCustomer}/state`,
    ],
    "no Customer State per subscriber: only the missing link is checked, by external id then id",
  );
  assert.deepEqual(report.unverified_links, []);
  assert.ok(!JSON.stringify(report).includes("polar_whs_"), "no endpoint secret in the report");
  const [{ n }] = await t.db.query<{ n: number }>(
    "select count(*)::int as n from public.polar_benefit_grants",
  );
  assert.equal(n, 3, "every subscriber holds their grant");
  const [unlinked] = await t.db.query<{ polar_customer_id: string | null }>(
    "select polar_customer_id from public.user_subscriptions where user_id = $1",
    [gone],
  );
  assert.equal(unlinked.polar_customer_id, null);
});

Deno.test("sync's reconcile saves its place when its budget is spent and resumes there", async () => {
  await using t = await setup({ reconcileBudgetMs: 0, reconcilePageSize: 1 });
  for (let i = 0; i < 3; i++) await t.subscribe(await insertUser(t.db));
  // A spent budget still does one page per call: three calls for three customers.
  const first = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(first.status, "partial");
  assert.equal(first.resumed, false);
  const idle = await json(
    await t.send(t.supabase.serviceRoleKey, { scope: "all", resume: true }),
    200,
  );
  assert.equal(idle.resumed, true, "resume-only continues the unfinished run");
  let last = idle;
  for (let i = 0; i < 30 && last.status !== "done"; i++) {
    last = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all", resume: true }), 200);
  }
  assert.equal(last.status, "done");
  assert.equal(last.checked, 3, "every user checked once over the calls");
  const after = await json(
    await t.send(t.supabase.serviceRoleKey, { scope: "all", resume: true }),
    200,
  );
  assert.equal(after.status, "idle", "nothing to resume once done");
});

Deno.test("deleting a user ends their billing in Polar through the outbox, retried until Polar confirms", async () => {
  await using t = await setup();
  const { customer } = await t.subscribe(t.userId);
  await json(await t.send(t.token), 200);
  await t.db.query("delete from auth.users where id = $1", [t.userId]);
  const [pending] = await t.db.query<{ user_id: string; polar_customer_id: string }>(
    "select user_id::text, polar_customer_id from polar.customer_deletions where completed_at is null",
  );
  assert.deepEqual(pending, { user_id: t.userId, polar_customer_id: customer.id });

  t.polar.mode = "server_error";
  assert.deepEqual(
    await json(await t.send(t.supabase.serviceRoleKey, { scope: "deletions" }), 200),
    {
      deleted: 0,
      absent: 0,
      failed: 1,
      teams: NO_TEAM_DELETIONS,
    },
  );
  assert.equal(customer.deleted_at, null, "nothing lost while Polar is down");
  t.polar.mode = "ok";
  assert.deepEqual(
    await json(await t.send(t.supabase.serviceRoleKey, { scope: "deletions" }), 200),
    {
      deleted: 1,
      absent: 0,
      failed: 0,
      teams: NO_TEAM_DELETIONS,
    },
  );
  assert.ok(customer.deleted_at, "Polar deleted the customer");
  const [row] = await t.db.query<{ attempts: number; done: boolean; last_error: string | null }>(
    "select attempts, completed_at is not null as done, last_error from polar.customer_deletions",
  );
  assert.deepEqual(row, { attempts: 2, done: true, last_error: null });
  assert.deepEqual(
    await json(await t.send(t.supabase.serviceRoleKey, { scope: "deletions" }), 200),
    {
      deleted: 0,
      absent: 0,
      failed: 0,
      teams: NO_TEAM_DELETIONS,
    },
  );
});

Deno.test("the outbox deletes by the stored customer id when Polar knows no customer by the external id", async () => {
  await using t = await setup();
  // The previous link-customer wrote the id in capitals: Polar's lookup by the real id 404s.
  const customer = t.polar.addCustomer({ externalId: t.userId.toUpperCase() });
  await linkCustomer(t.db, t.userId, customer.id);
  const absent = await insertUser(t.db); // deleted before ever having a customer
  await t.db.query("delete from auth.users where id = any($1)", [[t.userId, absent]]);
  t.polar.requests.length = 0;
  assert.deepEqual(
    await json(await t.send(t.supabase.serviceRoleKey, { scope: "deletions" }), 200),
    { deleted: 1, absent: 1, failed: 0, teams: NO_TEAM_DELETIONS },
  );
  assert.ok(customer.deleted_at, "the stored customer is deleted, not closed as absent");
  assert.deepEqual(
    t.polarRoutes().sort(),
    [
      `DELETE /v1/customers/${customer.id}`,
      `DELETE /v1/customers/external/${absent}`,
      `DELETE /v1/customers/external/${t.userId}`,
    ].sort(),
  );
});

Deno.test("a token whose sub is in capitals reaches Polar with the lower-case id", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  const token = await t.supabase.userToken(t.userId.toUpperCase(), "sync@example.com");
  assert.equal((await json(await t.send(token), 200)).synced, true);
  assert.deepEqual(t.polarRoutes(), [`GET /v1/customers/external/${t.userId}/state`]);
});

// ----- The schedule's sync secret --------------------------------------------------------------

Deno.test("sync with the sync secret as the bearer token reconciles and processes deletions", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  const report = await json(await t.send(SYNC_SECRET, { scope: "all" }), 200);
  assert.equal(report.status, "done");
  assert.equal(report.checked, 1);
  const resumed = await json(await t.send(SYNC_SECRET, { scope: "all", resume: true }), 200);
  assert.equal(resumed.status, "idle");
  assert.deepEqual(await json(await t.send(SYNC_SECRET, { scope: "deletions" }), 200), {
    deleted: 0,
    absent: 0,
    failed: 0,
    teams: NO_TEAM_DELETIONS,
  });
  assert.ok(!JSON.stringify(t.logs).includes(SYNC_SECRET), "the secret is never logged");
});

Deno.test("sync refuses a wrong sync secret, and the sync secret anywhere but the bearer token", async (test) => {
  await using t = await setup();
  const sameLength = `${SYNC_SECRET.slice(0, -1)}${SYNC_SECRET.endsWith("0") ? "1" : "0"}`;
  const cases: [string, () => Promise<Response>][] = [
    ["a wrong secret of the same length", () => t.send(sameLength, { scope: "all" })],
    ["the secret in apikey", () => t.sendWith({ apikey: SYNC_SECRET }, { scope: "all" })],
    [
      "the secret in apikey beside a user's token",
      () =>
        t.sendWith({ apikey: SYNC_SECRET, Authorization: `Bearer ${t.token}` }, {
          scope: "deletions",
        }),
    ],
  ];
  for (const [name, send] of cases) {
    await test.step(name, async () => {
      const response = await send();
      const body = await response.json();
      assert.ok(response.status === 401 || response.status === 403, `${response.status}`);
      assert.notEqual(body.status, "done");
    });
  }
  await test.step("the secret is no user's token: it never syncs a user", async () => {
    assert.deepEqual(await json(await t.send(SYNC_SECRET), 400), {
      error:
        'The service key syncs "all", "deletions", "usage", "catalog" or "doctor"; send a user\'s token to sync that user',
    });
  });
  assert.equal(t.polar.requests.length, 0, "no Polar call for any of them");
  assert.ok(!JSON.stringify(t.logs).includes(SYNC_SECRET), "the secret is never logged");
});

// ----- The usage flush -------------------------------------------------------------------------

/** The fake's meters stored, then usage recorded for the user (as the database owner, naming
 * the user): `units` of the demo sum meter and of a count meter per key. */
async function recordUsage(
  t: Awaited<ReturnType<typeof setup>>,
  uses: { meter: string; units: number; key: string }[],
) {
  await t.db.query("select public.store_polar_meters($1::jsonb)", [JSON.stringify(t.polar.meters)]);
  for (const use of uses) {
    await t.db.query('select public.record_usage($1, $2, $3, \'{"feature": "test"}\', $4)', [
      use.meter,
      use.units,
      use.key,
      t.userId,
    ]);
  }
}

const COUNT_METER = demoMeterModel({
  id: "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
  name: "calls",
  filter: {
    conjunction: "and",
    clauses: [{ property: "name", operator: "eq", value: "api_call" }],
  },
  aggregation: { func: "count" },
});

Deno.test("sync's usage flush sends one event per recorded row and count unit, once over two flushes", async () => {
  await using t = await setup();
  t.polar.meters.push(COUNT_METER);
  await recordUsage(t, [
    { meter: DEMO_METER.name, units: 10, key: "a" },
    { meter: DEMO_METER.name, units: 2.5, key: "b" },
    { meter: "calls", units: 3, key: "c" },
  ]);
  const first = await json(await t.send(t.supabase.serviceRoleKey, { scope: "usage" }), 200);
  assert.deepEqual(first, { sent: 5, duplicates: 0, failed: 0, pending: 0 });
  assert.deepEqual(t.polarRoutes(), ["GET /v1/meters/", "POST /v1/events/ingest"]);
  const second = await json(await t.send(SYNC_SECRET, { scope: "usage" }), 200);
  assert.deepEqual(second, { sent: 0, duplicates: 0, failed: 0, pending: 0 });
  const events = t.polar.events;
  assert.equal(events.length, 5);
  assert.equal(new Set(events.map((e) => e.external_id)).size, 5);
  const sums = events.filter((e) => e.name === DEMO_METER.eventName);
  assert.deepEqual(sums.map((e) => e.metadata).sort((x, y) => Number(x.units) - Number(y.units)), [
    { feature: "test", units: 2.5 },
    { feature: "test", units: 10 },
  ]);
  const counts = events.filter((e) => e.name === "api_call");
  assert.equal(counts.length, 3);
  assert.deepEqual(counts.map((e) => e.external_id?.split(":")[1]).sort(), ["1", "2", "3"]);
  assert.ok(events.every((e) => e.external_customer_id === t.userId && e.customer_id === null));
  const rows = await t.db.query<{ external_id: string; recorded_at: Date; delivered: boolean }>(
    `select external_id, recorded_at, delivered_at is not null as delivered,
       polar_refusal, claimed_until from public.polar_usage_events order by id`,
  );
  assert.deepEqual(rows.map((r) => r.delivered), [true, true, true]);
  assert.ok(
    counts.every((e) => e.external_id?.startsWith(`${rows[2].external_id}:`)),
    "a count row's events carry its external_id with a suffix",
  );
  assert.equal(sums.find((e) => e.metadata.units === 10)!.external_id, rows[0].external_id);
  assert.equal(
    sums.find((e) => e.metadata.units === 10)!.timestamp,
    new Date(rows[0].recorded_at).toISOString(),
  );
});

Deno.test("sync's usage flush leaves rows pending while Polar fails, then delivers them once", async () => {
  await using t = await setup();
  await recordUsage(t, [{ meter: DEMO_METER.name, units: 4, key: "a" }]);
  t.polar.mode = "server_error";
  const failed = await t.send(t.supabase.serviceRoleKey, { scope: "usage" });
  assert.equal(failed.status, 500, "the meters could not be refreshed");
  await failed.body?.cancel();
  const pending = await t.db.query<{ n: number }>(
    "select count(*)::int as n from public.polar_usage_events where delivered_at is null",
  );
  assert.equal(pending[0].n, 1);
  t.polar.mode = "ok";
  assert.deepEqual(await json(await t.send(t.supabase.serviceRoleKey, { scope: "usage" }), 200), {
    sent: 1,
    duplicates: 0,
    failed: 0,
    pending: 0,
  });
  assert.equal(t.polar.events.length, 1);
});

Deno.test("sync's usage flush stores Polar's 422 reason on the refused row only", async () => {
  await using t = await setup();
  await recordUsage(t, [
    { meter: DEMO_METER.name, units: 1, key: "a" },
    { meter: DEMO_METER.name, units: 2, key: "b" },
    { meter: DEMO_METER.name, units: 3, key: "c" },
  ]);
  // Polar refuses an event whose metadata is not flat: poison row b behind the functions' back.
  await t.db.query(
    `update public.polar_usage_events set metadata = '{"nested": {"x": 1}}' where idempotency_key = 'b'`,
  );
  assert.deepEqual(await json(await t.send(t.supabase.serviceRoleKey, { scope: "usage" }), 200), {
    sent: 2,
    duplicates: 0,
    failed: 1,
    pending: 0,
  });
  const rows = await t.db.query<{ key: string; delivered: boolean; polar_refusal: string | null }>(
    `select idempotency_key as key, delivered_at is not null as delivered, polar_refusal
     from public.polar_usage_events order by id`,
  );
  assert.deepEqual(rows, [
    { key: "a", delivered: true, polar_refusal: null },
    {
      key: "b",
      delivered: false,
      polar_refusal: "Metadata values must be strings, numbers or booleans",
    },
    { key: "c", delivered: true, polar_refusal: null },
  ]);
  assert.deepEqual(t.polar.events.map((e) => e.metadata.units).sort(), [1, 3]);
});

Deno.test("sync's reconcile names refused usage events and events pending for more than a day, in the report and one warning", async () => {
  await using t = await setup();
  await recordUsage(t, [
    { meter: DEMO_METER.name, units: 1, key: "refused" },
    { meter: DEMO_METER.name, units: 2, key: "over-a-day" },
    { meter: DEMO_METER.name, units: 3, key: "under-a-day" },
    { meter: DEMO_METER.name, units: 4, key: "delivered" },
  ]);
  await t.db.query(
    `update public.polar_usage_events set polar_refusal = 'Customer not found.'
     where idempotency_key = 'refused'`,
  );
  await t.db.query(
    `update public.polar_usage_events set recorded_at = now() - interval '1 day 1 minute'
     where idempotency_key in ('over-a-day', 'delivered')`,
  );
  await t.db.query(
    `update public.polar_usage_events set recorded_at = now() - interval '1 day' + interval '1 minute'
     where idempotency_key = 'under-a-day'`,
  );
  await t.db.query(
    `update public.polar_usage_events set delivered_at = now() where idempotency_key = 'delivered'`,
  );
  const externalId = async (key: string) =>
    (await t.db.query<{ external_id: string }>(
      "select external_id from public.polar_usage_events where idempotency_key = $1",
      [key],
    ))[0].external_id;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  let report;
  try {
    report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  } finally {
    console.warn = warn;
  }
  assert.equal(report.unsent_usage.refused, 1);
  assert.equal(report.unsent_usage.stale, 1);
  assert.equal(report.unsent_usage.older_than, "1 day");
  assert.deepEqual(
    report.unsent_usage.events.map((e: Record<string, unknown>) => [
      e.external_id,
      e.state,
      e.reason,
      e.user_id,
      e.meter,
      Number(e.units),
    ]),
    [
      [await externalId("refused"), "refused", "Customer not found.", t.userId, DEMO_METER.name, 1],
      [await externalId("over-a-day"), "pending", null, t.userId, DEMO_METER.name, 2],
    ],
    "the refused row and the one pending for more than a day; not the younger one, not the delivered one",
  );
  const lines = warnings.filter((line) => line.includes("Usage events not delivered to Polar"));
  assert.equal(lines.length, 1);
  assert.ok(lines[0].includes(`${await externalId("refused")} (refused: Customer not found.)`));
  assert.ok(lines[0].includes(`${await externalId("over-a-day")} (pending)`));
});

// ----- The operator: one worker per run, pages, staleness ------------------------------------

Deno.test("sync's reconcile answers 409 while another call holds the run, and calls Polar for nothing", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  await t.db.query("delete from auth.users where id = $1", [await insertUser(t.db)]);
  // Another worker holds the lease (the nightly run at 03:00, while the resume job fires).
  await t.db.query("select public.begin_polar_reconcile()");
  const busy = await t.send(t.supabase.serviceRoleKey, { scope: "all" });
  assert.deepEqual(await json(busy, 409), { error: "A reconcile run is in progress" });
  assert.equal(busy.headers.get("Access-Control-Allow-Origin"), "*");
  const resume = await t.send(t.supabase.serviceRoleKey, { scope: "all", resume: true });
  assert.deepEqual(await json(resume, 409), { error: "A reconcile run is in progress" });
  assert.deepEqual(t.polarRoutes(), [], "no Polar call");
  const [outbox] = await t.db.query<{ attempts: number }>(
    "select attempts from polar.customer_deletions",
  );
  assert.equal(outbox.attempts, 0, "and no pass over the deletion outbox");

  // The holder was killed: once its lease lapses, the next call takes the run over.
  await t.db.query(
    "update polar.reconcile_runs set lease_expires_at = now() - interval '1 second'",
  );
  const report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(report.status, "done");
  assert.equal(report.resumed, true, "the run is taken over, not started again");
  assert.equal(report.checked, 1);
});

Deno.test("sync's reconcile: of two calls at once, one works the run and one answers 409", async () => {
  await using t = await setup();
  await t.subscribe(t.userId);
  t.polar.delayMs = 100; // the first call is still working when the second arrives
  const answers = await Promise.all([
    t.send(t.supabase.serviceRoleKey, { scope: "all" }),
    t.send(t.supabase.serviceRoleKey, { scope: "all" }),
  ]);
  const statuses = answers.map((answer) => answer.status).sort();
  await Promise.all(answers.map((answer) => answer.body?.cancel()));
  assert.deepEqual(statuses, [200, 409]);
  const [{ lease }] = await t.db.query<{ lease: string | null }>(
    "select lease_token::text as lease from polar.reconcile_runs",
  );
  assert.equal(lease, null, "the lease is released when the call ends");
});

Deno.test("sync's reconcile reads organization-wide pages: its Polar calls grow with customers / 100", async () => {
  await using t = await setup();
  const users = 250;
  for (let i = 0; i < users; i++) {
    const user = await insertUser(t.db);
    const { customer } = await t.subscribe(user);
    const state = t.polar.states.get(customer.id)!;
    state.active_meters = [{
      id: crypto.randomUUID(),
      created_at: new Date().toISOString(),
      modified_at: null,
      meter_id: "m-api",
      consumed_units: i,
      credited_units: 1000,
      balance: 1000 - i,
    }];
  }
  const report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(report.status, "done");
  assert.deepEqual([report.checked, report.changed, report.failures], [users, users, 0]);
  assert.deepEqual([report.customers, report.subscriptions, report.grants, report.meters], [
    users,
    users,
    users,
    users,
  ]);
  const pages = Math.ceil(users / 100);
  // Four lists of 3 pages, the canceled subscriptions (1) and the webhook endpoints (1).
  assert.equal(report.polar_calls, 4 * pages + 2);
  assert.equal(t.polarRoutes().filter((route) => route.endsWith("/state")).length, 0);
  const [row] = await t.db.query<{ grants: number; meters: number; balance: string }>(
    `select (select count(*)::int from public.polar_benefit_grants) as grants,
       (select count(*)::int from public.polar_meters) as meters,
       (select sum(balance)::text from public.polar_meters) as balance`,
  );
  assert.deepEqual(row, {
    grants: users,
    meters: users,
    balance: String(users * 1000 - (users * (users - 1)) / 2),
  });
});

Deno.test("sync's reconcile never overwrites a webhook snapshot newer than the run's start, for either of two users", async () => {
  await using t = await setup({ reconcileBudgetMs: 0, reconcilePageSize: 1 });
  const other = await insertUser(t.db);
  const mine = await t.subscribe(t.userId);
  const theirs = await t.subscribe(other);
  const admin = createServerClient(t.supabase.url, t.supabase.serviceRoleKey);
  const webhookSnapshot = (customer: typeof mine.customer, key: string, at: number) =>
    applyPolarWebhook(
      admin,
      toWebhookDelivery(
        `msg_${crypto.randomUUID()}`,
        customerStateEvent(
          customerStateModel(customer, {
            grants: [benefitGrantModel({ benefit_id: `b-${key}`, benefit_metadata: { key } })],
          }),
          new Date(at).toISOString(),
        ),
      ),
    );
  const keysOf = async (user: string) =>
    (await t.db.query<{ key: string }>(
      "select benefit_metadata ->> 'key' as key from public.polar_benefit_grants where user_id = $1",
      [user],
    )).map((row) => row.key);

  const first = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(first.status, "partial", "the run has started reading pages");
  // While the run reads, Polar sends my newer state; its webhook lands before the run applies.
  assert.deepEqual(await webhookSnapshot(mine.customer, "beta", Date.now() + 1000), {
    outcome: "applied",
  });
  let last = first;
  for (let i = 0; i < 30 && last.status !== "done"; i++) {
    last = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  }
  assert.equal(last.status, "done");
  assert.deepEqual(await keysOf(t.userId), ["beta"], "the newer webhook snapshot stays");
  assert.deepEqual(await keysOf(other), ["pro"], "the other user gets the run's snapshot");
  // A webhook snapshot built before the run started is stale against the run's.
  assert.deepEqual(
    await webhookSnapshot(theirs.customer, "old", Date.now() - 3600_000),
    { outcome: "stale" },
  );
  assert.deepEqual(await keysOf(other), ["pro"]);
});

Deno.test("sync's reconcile stores how subscriptions ended from one page of canceled ones, and pulls a past-due one's customer", async () => {
  await using t = await setup();
  const other = await insertUser(t.db);
  const mine = await t.subscribe(t.userId);
  const theirs = await t.subscribe(other);
  await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  // Behind the project's back: mine is canceled, theirs went past due; both states are empty.
  const now = new Date().toISOString();
  Object.assign(mine.subscription, { status: "canceled", ended_at: now, modified_at: now });
  Object.assign(theirs.subscription, { status: "past_due", modified_at: now });
  t.polar.states.set(mine.customer.id, customerStateModel(mine.customer));
  t.polar.states.set(theirs.customer.id, customerStateModel(theirs.customer));
  t.polar.requests.length = 0;

  const report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
  assert.equal(report.status, "done");
  assert.equal(report.ended, 2);
  assert.equal(report.subscriptions_changed, 2);
  const stored = await t.db.query<{ id: string; status: string }>(
    "select id, status from public.polar_subscriptions order by status",
  );
  assert.deepEqual(stored, [
    { id: mine.subscription.id, status: "canceled" },
    { id: theirs.subscription.id, status: "past_due" },
  ]);
  const routes = t.polarRoutes();
  assert.ok(!routes.includes(`GET /v1/subscriptions/${mine.subscription.id}`), "no call for mine");
  assert.ok(routes.includes(`GET /v1/customers/${theirs.customer.id}/state`), "theirs is pulled");
  assert.equal(
    t.polar.requests.filter((r) => r.route === "GET /v1/subscriptions/").length,
    2,
    "the active page and the canceled page",
  );
});

Deno.test("sync's reconcile names unverified links with the command that fixes each, in the report and one warning", async () => {
  await using t = await setup();
  // The previous version linked this customer from metadata.user_id: it has no external_id, so
  // nothing the reconcile reads can verify the link.
  const customer = t.polar.addCustomer();
  await t.db.query(
    "insert into public.user_subscriptions (user_id, polar_customer_id) values ($1, $2)",
    [t.userId, customer.id],
  );
  const subscription = subscriptionFixture(customer, { status: "active" });
  t.polar.subscriptions.set(subscription.id, subscription);
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  try {
    const report = await json(await t.send(t.supabase.serviceRoleKey, { scope: "all" }), 200);
    assert.deepEqual(report.unverified_links, [{
      user_id: t.userId,
      customer_id: customer.id,
      fix: `deno task link-customer --user ${t.userId} --customer ${customer.id}`,
    }]);
  } finally {
    console.warn = warn;
  }
  const lines = warnings.filter((line) => line.includes("Unverified Polar links"));
  assert.equal(lines.length, 1);
  assert.ok(lines[0].includes(`${t.userId} -> ${customer.id}`));
});

Deno.test("sync's production wiring compares the operator's credentials in constant time", () => {
  const deps = createSyncDependencies(loadSyncFunctionConfig((name) =>
    ({
      SUPABASE_URL: "http://supabase.test",
      SUPABASE_ANON_KEY: "anon",
      SUPABASE_SERVICE_ROLE_KEY: "service.role.key",
      POLAR_ACCESS_TOKEN: "polar_oat_sync",
      POLAR_SYNC_SECRET: SYNC_SECRET,
      SITE_URL,
    } as Record<string, string>)[name]
  ));
  assert.equal((deps.isOperator as OperatorCheck).equal, constantTimeEqual);
});

Deno.test("sync's catalog scope pulls every product into the price list, archived ones kept off it", async () => {
  await using t = await setup();
  const [pro, yearly, pack] = t.polar.products;
  t.polar.products.push(
    productModel({
      id: crypto.randomUUID(),
      name: "Legacy",
      interval: "month",
      priceCents: 500,
      isArchived: true,
    }),
  );
  const first = await json(await t.send(t.supabase.serviceRoleKey, { scope: "catalog" }), 200);
  assert.deepEqual(first, { products: 4, stored: 4, unchanged: 0 });
  assert.deepEqual(t.polarRoutes(), ["GET /v1/products/"]);
  const second = await json(await t.send(SYNC_SECRET, { scope: "catalog" }), 200);
  assert.deepEqual(second, { products: 4, stored: 0, unchanged: 4 }, "already current");
  await t.supabase.db.exec("set role anon");
  const listed = await t.supabase.db.query<
    { id: string; is_recurring: boolean; benefit_keys: string[] }
  >(
    "select id, is_recurring, benefit_keys from public.polar_products order by name",
  );
  await t.supabase.db.exec("reset role");
  assert.deepEqual(listed, [
    { id: pack.id, is_recurring: false, benefit_keys: [] },
    { id: pro.id, is_recurring: true, benefit_keys: ["pro"] },
    { id: yearly.id, is_recurring: true, benefit_keys: ["pro"] },
  ]);
  await json(await t.send(t.token, { scope: "catalog" }), 403);
});

Deno.test("sync's doctor scope answers the checks to the sync secret, and logs which failed", async () => {
  await using t = await setup();
  const response = await t.send(SYNC_SECRET, { scope: "doctor" });
  assert.equal(response.status, 200);
  const report = await response.json();
  assert.equal(typeof report.ok, "boolean");
  const names = report.checks.map((check: { name: string }) => check.name);
  assert.ok(names.includes("Migrations applied") && names.includes("Token issuer"), names);
  const migrations = report.checks.find((c: { name: string }) => c.name === "Migrations applied");
  assert.equal(migrations.ok, true, "the stand-in database has every migration");
  const line = t.logs.at(-1)!;
  assert.equal(line.detail?.scope, "doctor");
  assert.match(line.detail?.doctor ?? "", /^(all passed|failed: .+)$/);
});
