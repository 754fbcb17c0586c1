/**
 * Hardening (issue 17) on PostgreSQL 15, through the local stack's real functions and the Polar
 * stand-in, as the attacks were reproduced:
 *
 * - G1: a database the first release left, with buyers it linked by `metadata.user_id` to
 *   customers without `external_id`, is upgraded by the stack's migrations. Their links grant
 *   nothing, are listed for link-customer, still hear their ending events, and count again once
 *   the operator runs link-customer.
 * - G2: a customer deleted in Polar takes its grants with it, by webhook or, when the webhooks
 *   were lost, by the user's own sync.
 * - G3: a soft delete through the Auth admin API ends the user's access at once and their Polar
 *   customer through the outbox.
 * - G4: 60 accounts (40 without a subscription) calling `sync` in a loop spend no more than the
 *   users' share of Polar's rate limit, the free ones nothing, and checkout still works.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/hardening_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Database } from "../local/database.ts";
import { createPasswordUser } from "../local/auth.ts";
import {
  benefitGrantModel,
  customerModel,
  listedBenefitGrantModel,
  subscriptionModel,
} from "../local/polar_models.ts";
import { startStack } from "../local/stack.ts";
import { createLinkCustomerDependencies, linkExistingCustomer } from "../ops/link_customer.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";

/** The last migration of the first release: buyers were linked by metadata.user_id then. */
const FIRST_RELEASE = "20261124000200";
/** What the users' syncs may spend: production's share (20% of 500 a minute). */
const USER_SYNC_PER_MINUTE = 100;
const PASSWORD = "correct-horse-battery";

/** The gates, asked as the user. */
async function gates(db: Database, userId: string) {
  const [row] = await db.query<{ active: boolean; pro: boolean }>(
    "select public.has_active_subscription() as active, public.has_entitlement('pro') as pro",
    [],
    { role: "authenticated", claims: { sub: userId, role: "authenticated" } },
  );
  return row;
}

/** A buyer the first release linked by metadata.user_id: the customer has no external_id. */
async function legacyBuyer(
  db: Database,
  polar: { customers: Map<string, unknown> },
  email: string,
) {
  const userId = await createPasswordUser(db, email, PASSWORD);
  const customer = customerModel({ externalId: null, email });
  const subscription = subscriptionModel(customer, {
    status: "active",
    modified_at: new Date(Date.now() - 86_400_000).toISOString(),
  });
  await db.query(
    "select public.apply_polar_webhook($1, 'subscription.active', now(), $2::jsonb)",
    [`msg_${crypto.randomUUID()}`, {
      customer_id: customer.id,
      external_id: null,
      metadata_user_id: userId,
      customer_version: customer.created_at,
      customer_deleted: false,
      subscription: {
        id: subscription.id,
        status: "active",
        product_id: subscription.product_id,
        current_period_end: subscription.current_period_end,
        cancel_at_period_end: false,
        canceled_at: null,
        ended_at: null,
        version: subscription.modified_at,
      },
    }],
  );
  polar.customers.set(customer.id, customer);
  return { userId, customer, subscription };
}

Deno.test("hardening: legacy links, gone customers, soft deletes and the users' sync budget", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl(), { until: FIRST_RELEASE });
  // Polar's side of the legacy buyers exists before the upgrade; the stand-in is filled in below.
  const pending = { customers: new Map<string, unknown>() };
  const leo = await legacyBuyer(fresh.db, pending, "leo@example.com");
  const lea = await legacyBuyer(fresh.db, pending, "lea@example.com");
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
    polarUserSyncRatePerMinute: USER_SYNC_PER_MINUTE,
  });
  const polar = stack.polar!;
  for (const buyer of [leo, lea]) {
    polar.customers.set(buyer.customer.id, buyer.customer);
    polar.subscriptions.set(buyer.subscription.id, buyer.subscription);
    // The demo product's benefit, granted while the subscription is live.
    const grant = listedBenefitGrantModel(buyer.customer, benefitGrantModel(), {
      subscription_id: buyer.subscription.id,
    });
    polar.grants.set(grant.id, grant);
  }
  const { api_url: api, anon_key: anonKey, product_id: productId, secret_key: secretKey } =
    stack.info;
  const db = stack.db;

  const call = async (path: string, bearer: string, body: unknown = {}, method = "POST") => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  };
  const signIn = async (email: string) => {
    const response = await fetch(`${api}/auth/v1/token?grant_type=password`, {
      method: "POST",
      headers: { apikey: anonKey, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    return (await response.json()).access_token as string;
  };
  const signUp = async (label: string) => {
    const email = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const response = await fetch(`${api}/auth/v1/signup`, {
      method: "POST",
      headers: { apikey: anonKey, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    const { access_token: token, user } = await response.json();
    return { id: user.id as string, token: token as string };
  };
  const submit = async (url: string) => {
    const response = await fetch(url, { method: "POST", redirect: "manual" });
    await response.body?.cancel();
    assert.equal(response.status, 303, url);
  };
  const subscribe = async (user: { token: string }) => {
    const checkout = await call("/functions/v1/checkout", user.token, { product_id: productId });
    assert.equal(checkout.status, 200, JSON.stringify(checkout.body));
    await submit(`${checkout.body.url}/pay`);
  };
  const deleteInPolar = async (customerId: string) => {
    const response = await fetch(`${stack.info.polar_api_url}/v1/customers/${customerId}`, {
      method: "DELETE",
      headers: { Authorization: "Bearer polar_oat_operator" },
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
  };
  const linkOf = async (userId: string) =>
    (await db.query<{ id: string | null; verified: boolean }>(
      "select polar_customer_id as id, polar_customer_verified as verified from public.user_subscriptions where user_id = $1",
      [userId],
    ))[0];
  const grantsOf = async (userId: string) =>
    (await db.query<{ n: number }>(
      "select count(*)::int as n from public.polar_benefit_grants where user_id = $1",
      [userId],
    ))[0].n;

  await runCases(t, "hardening", [{
    name:
      "G1: after the upgrade a legacy link grants nothing, is listed by name, and hears its ending events",
  }], async () => {
    assert.deepEqual(await gates(db, leo.userId), { active: false, pro: false });
    const listed = await db.query<{ user_id: string; polar_customer_id: string }>(
      "select user_id::text, polar_customer_id from public.polar_unverified_links() order by 1",
    );
    assert.deepEqual(
      listed,
      [leo, lea].map((b) => ({ user_id: b.userId, polar_customer_id: b.customer.id }))
        .sort((a, b) => a.user_id.localeCompare(b.user_id)),
    );
    const sync = await call("/functions/v1/sync", await signIn("leo@example.com"));
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    assert.equal(sync.body.state.polar_customer_id, leo.customer.id, "never silently unlinked");
    assert.equal(sync.body.state.has_active_subscription, false);
    const reconcile = await call("/functions/v1/sync", secretKey, { scope: "all" });
    assert.equal(reconcile.status, 200, JSON.stringify(reconcile.body));
    assert.deepEqual(
      reconcile.body.unverified_links.map((link: { user_id: string; fix: string }) => link.fix)
        .sort(),
      [leo, lea].map((b) =>
        `deno task link-customer --user ${b.userId} --customer ${b.customer.id}`
      )
        .sort(),
      "the reconcile names each legacy link with the command that fixes it",
    );
    assert.equal((await linkOf(leo.userId)).id, leo.customer.id, "and unlinks none");
    assert.deepEqual(await gates(db, leo.userId), { active: false, pro: false });
    await deleteInPolar(lea.customer.id);
    const row = await linkOf(lea.userId);
    assert.equal(row.id, null, "Lea's customer.deleted reached her stored link");
    const [ended] = await db.query<{ status: string }>(
      "select status from public.polar_subscriptions where id = $1",
      [lea.subscription.id],
    );
    assert.equal(ended.status, "canceled", "and so did subscription.revoked");
  });

  await runCases(t, "hardening", [{
    name: "G1: link-customer verifies a legacy link, and the gates count it again",
  }], async () => {
    const env: Record<string, string> = {
      SUPABASE_URL: api,
      SUPABASE_SECRET_KEY: secretKey,
      POLAR_ACCESS_TOKEN: "polar_oat_operator",
      POLAR_API_URL: stack.info.polar_api_url,
    };
    const report = await linkExistingCustomer(
      createLinkCustomerDependencies((name) => env[name]),
      leo.userId,
      leo.customer.id,
    );
    // Setting the external_id makes Polar send customer.updated, which carries it and so
    // verifies the link before link-customer stores it: the store itself changes nothing.
    assert.deepEqual(report, { outcome: "unchanged", setExternalId: true });
    // The grants Leo's earlier pull stored through the unverified link count now.
    assert.deepEqual(await gates(db, leo.userId), { active: true, pro: true });
    assert.equal(polar.customers.get(leo.customer.id)?.external_id, leo.userId);
  });

  await runCases(t, "hardening", [{
    name: "G2: a customer deleted in Polar takes its grants, by webhook or by the user's sync",
  }], async () => {
    const mia = await signUp("mia");
    const max = await signUp("max");
    await subscribe(mia);
    await subscribe(max);
    assert.deepEqual(await gates(db, mia.id), { active: true, pro: true });
    const miaCustomer = (await linkOf(mia.id)).id!;
    await deleteInPolar(miaCustomer);
    assert.deepEqual(await gates(db, mia.id), { active: false, pro: false }, "by webhook");
    assert.equal(await grantsOf(mia.id), 0);
    assert.deepEqual(await gates(db, max.id), { active: true, pro: true }, "Max keeps his");
    polar.dropWebhook = () => true;
    try {
      await deleteInPolar((await linkOf(max.id)).id!);
    } finally {
      polar.dropWebhook = () => false;
    }
    assert.deepEqual(await gates(db, max.id), { active: true, pro: true }, "no webhook came");
    const sync = await call("/functions/v1/sync", max.token);
    assert.equal(sync.status, 200);
    assert.equal(sync.body.state.polar_customer_id, null);
    assert.deepEqual(await gates(db, max.id), { active: false, pro: false }, "by the user's sync");
    assert.equal(await grantsOf(max.id), 0);
  });

  await runCases(t, "hardening", [{
    name: "G3: a soft delete ends access at once and the Polar customer through the outbox",
  }], async () => {
    const ned = await signUp("ned");
    await subscribe(ned);
    const customerId = (await linkOf(ned.id)).id!;
    const deleted = await fetch(`${api}/auth/v1/admin/users/${ned.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${secretKey}`, apikey: secretKey },
      body: JSON.stringify({ should_soft_delete: true }),
    });
    await deleted.body?.cancel();
    assert.equal(deleted.status, 200);
    const [kept] = await db.query<{ deleted: boolean }>(
      "select deleted_at is not null as deleted from auth.users where id = $1",
      [ned.id],
    );
    assert.equal(kept.deleted, true, "a soft delete keeps the row");
    assert.deepEqual(await gates(db, ned.id), { active: false, pro: false });
    const known = await db.query("select public.polar_known_users(array[$1])", [ned.id]);
    assert.equal(known.length, 0, "the reconcile no longer counts him");
    const outbox = await call("/functions/v1/sync", secretKey, { scope: "deletions" });
    assert.equal(outbox.body.deleted, 1, JSON.stringify(outbox.body));
    assert.ok(polar.customers.get(customerId)?.deleted_at, "Polar deleted his customer");
    const again = await call("/functions/v1/sync", secretKey, { scope: "deletions" });
    assert.deepEqual(again.body, {
      deleted: 0,
      absent: 0,
      failed: 0,
      teams: { seats_revoked: 0, members_deleted: 0, absent: 0, owners_kept: 0, failed: 0 },
    }, "once");
  });

  await runCases(t, "hardening", [{
    name:
      `G4: 60 accounts calling sync in a loop stay within ${USER_SYNC_PER_MINUTE} Polar calls a minute`,
  }], async () => {
    const paying = [];
    for (let i = 0; i < 20; i++) paying.push(await signUp(`paying-${i}`));
    await pool(paying, 4, subscribe);
    const free = [];
    for (let i = 0; i < 40; i++) free.push(await signUp(`free-${i}`));
    // What the users' budget spent before the storm (the checkouts' own syncs are none).
    await db.query("update polar.user_sync_budget set next_at = '-infinity'");
    const before = polar.apiRequests.length;
    const statuses = new Map<number, number>();
    let stale = 0;
    const seconds = 6;
    const started = performance.now();
    const until = started + seconds * 1000;
    await pool([...paying, ...free], 60, async (user) => {
      while (performance.now() < until) {
        const answer = await call("/functions/v1/sync", user.token);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.body?.stale) stale++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    const elapsed = (performance.now() - started) / 1000;
    const during = polar.apiRequests.slice(before);
    const checkoutAfter = await call("/functions/v1/checkout", free[0].token, {
      product_id: productId,
    });
    const allowed = 5 + Math.ceil((USER_SYNC_PER_MINUTE / 60) * elapsed);
    const requests = [...statuses.values()].reduce((a, b) => a + b, 0);
    await figure(
      "hardening: sync requests / Polar calls / allowed by the budget / seconds",
      `${requests} / ${during.length} / ${allowed} / ${elapsed.toFixed(1)}`,
    );
    await figure("hardening: answers marked stale", String(stale));
    assert.deepEqual([...statuses.keys()], [200], "every answer is a 200");
    assert.ok(during.length <= allowed, `${during.length} Polar calls > ${allowed}`);
    assert.ok(during.length >= 5, "the budget let some through");
    assert.ok(stale > 0, "and told the rest their state is the stored one");
    const freeIds = new Set(free.map((user) => user.id));
    assert.equal(
      during.filter((route) => [...freeIds].some((id) => route.includes(id))).length,
      0,
      "accounts without a customer made no Polar call",
    );
    assert.equal(checkoutAfter.status, 200, "checkout keeps its share");
  });
});
