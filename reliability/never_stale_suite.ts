/**
 * Never stale: on the local stack over a fresh database of a PostgreSQL server (`DATABASE_URL`),
 * 200 users subscribe through checkout and the Polar stand-in while 30% of its webhooks are
 * dropped and the endpoint is disabled for a stretch (as Polar disables one after failures); some
 * then cancel at period end or end their subscription now. One reconcile run of the `sync`
 * function (the secret key, `{"scope":"all"}`) must bring every user to the stand-in's truth,
 * reading Polar's organization-wide pages (a handful of calls, not one per user). Two reconcile
 * calls at once: one works the run, the other answers 409 (the run's lease). Then a user deleted
 * through the Auth admin API has their Polar customer deleted by the outbox.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/never_stale_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Database } from "../local/database.ts";
import type { PolarStandIn } from "../local/polar_stand_in.ts";
import { startStack } from "../local/stack.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";
import { replayableRandom } from "./random.ts";

const USERS = 200;
const DROP_SHARE = 0.3;
/** Users (by index) who subscribe while the endpoint is disabled. */
const DISABLED_STRETCH = [80, 120];
const CONCURRENCY = 8;

/** What the stand-in says a user has: their customer, subscriptions and entitlement keys. */
function truthOf(polar: PolarStandIn, userId: string) {
  const customer = [...polar.customers.values()].find((c) => c.external_id === userId);
  const subscriptions = [...polar.subscriptions.values()]
    .filter((s) => s.customer_id === customer?.id)
    .map((s) => ({ id: s.id, status: s.status, cancel_at_period_end: s.cancel_at_period_end }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const live = subscriptions.some((s) => s.status === "active" || s.status === "trialing");
  return { customer: customer?.id ?? null, subscriptions, keys: live ? ["pro"] : [] };
}

/** The same, as the database stores it. */
async function storedOf(db: Database, userId: string) {
  const [link] = await db.query<{ polar_customer_id: string | null }>(
    "select polar_customer_id from public.user_subscriptions where user_id = $1",
    [userId],
  );
  const subscriptions = await db.query<
    { id: string; status: string; cancel_at_period_end: boolean }
  >(
    "select id, status, cancel_at_period_end from public.polar_subscriptions where user_id = $1 order by id",
    [userId],
  );
  const keys = (await db.query<{ key: string }>(
    // Entitlement keys only: the meter credit benefit has no key.
    "select distinct benefit_metadata ->> 'key' as key from public.polar_benefit_grants where user_id = $1 and benefit_metadata ? 'key' order by 1",
    [userId],
  )).map((row) => row.key);
  return { customer: link?.polar_customer_id ?? null, subscriptions, keys };
}

Deno.test("never stale: one reconcile run repairs what lost and blocked webhooks left wrong", async (t) => {
  const random = await replayableRandom("never stale: seed");
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
    // Credits settle at once, so "nothing changed" on the second run means nothing changed.
    polarMeterRecomputeDelayMs: 0,
  });
  const polar = stack.polar!;
  const { api_url: api, anon_key: anonKey, product_id: productId } = stack.info;
  // The project's secret key, as the schedule sends it (the functions get the new keys).
  const secretKey = stack.info.secret_key;
  const users: { id: string; email: string; token: string }[] = [];
  const mismatched = async (report = false) => {
    let count = 0;
    for (const user of users) {
      const stored = await storedOf(stack.db, user.id);
      const truth = truthOf(polar, user.id);
      if (JSON.stringify(stored) !== JSON.stringify(truth)) {
        if (++count <= 3 && report) console.error(JSON.stringify({ stored, truth }));
      }
    }
    return count;
  };
  const portal = async (user: { token: string }) => {
    const response = await fetch(`${api}/functions/v1/portal`, {
      method: "POST",
      headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "application/json" },
      body: "{}",
    });
    return (await response.json()).url as string;
  };
  const submit = async (url: string) => {
    const response = await fetch(url, { method: "POST", redirect: "manual" });
    await response.body?.cancel();
    assert.equal(response.status, 303, url);
  };

  await runCases(t, "never stale", [{
    name: `${USERS} users subscribe with ${
      DROP_SHARE * 100
    }% of webhooks dropped and the endpoint disabled for a stretch; one reconcile run repairs every user`,
  }], async () => {
    polar.dropWebhook = () => random() < DROP_SHARE;
    const indexes = Array.from({ length: USERS }, (_, i) => i);
    await pool(indexes, CONCURRENCY, async (i) => {
      const email = `stale-${i}-${crypto.randomUUID().slice(0, 6)}@example.com`;
      const signUp = await fetch(`${api}/auth/v1/signup`, {
        method: "POST",
        headers: { apikey: anonKey, "Content-Type": "application/json" },
        body: JSON.stringify({ email, password: "correct-horse-battery" }),
      });
      const { access_token: token, user } = await signUp.json();
      users[i] = { id: user.id, email, token };
      polar.webhooksEnabled = !(i >= DISABLED_STRETCH[0] && i < DISABLED_STRETCH[1]);
      const checkout = await fetch(`${api}/functions/v1/checkout`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ product_id: productId }),
      });
      const { url } = await checkout.json();
      await submit(`${url}/pay`);
      // A fifth cancel at period end, a tenth end their subscription now.
      if (i % 5 === 1) await submit(`${await portal(users[i])}/cancel`);
      if (i % 10 === 3) await submit(`${await portal(users[i])}/end`);
    });
    polar.webhooksEnabled = false; // Polar has disabled the endpoint when the operator runs sync
    polar.dropWebhook = () => false;
    const sent = polar.deliveries.filter((d) => d.sent).length;
    const before = await mismatched();

    const started = performance.now();
    const reports = [];
    for (let call = 0; call < 10; call++) {
      const response = await fetch(`${api}/functions/v1/sync`, {
        method: "POST",
        headers: { Authorization: `Bearer ${secretKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({ scope: "all" }),
      });
      const report = await response.json();
      assert.equal(response.status, 200, JSON.stringify(report));
      reports.push(report);
      if (report.status === "done") break;
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await mismatched(true);
    const last = reports.at(-1);
    const calls = reports.reduce((sum, report) => sum + report.polar_calls, 0);

    await figure(
      "never stale: webhooks sent / not sent (dropped or endpoint disabled)",
      `${sent} / ${polar.deliveries.length - sent}`,
    );
    await figure("never stale: users", String(USERS));
    await figure(
      "never stale: users whose stored state differs from Polar, before",
      String(before),
    );
    await figure("never stale: users whose stored state differs from Polar, after", String(after));
    await figure(
      "never stale: reconcile calls / Polar calls / time",
      `${reports.length} / ${calls} / ${seconds.toFixed(1)} s`,
    );
    await figure(
      "never stale: checked / changed / unchanged / failures",
      `${last.checked} / ${last.changed} / ${last.unchanged} / ${last.failures}`,
    );
    assert.ok(before > 0, "the lost webhooks left users wrong (else the test proves nothing)");
    assert.equal(last.status, "done");
    assert.equal(
      last.webhooks_disabled,
      true,
      "the run tells the operator the endpoint is disabled",
    );
    assert.equal(after, 0, "every user matches Polar after one run");
  });

  await runCases(t, "never stale", [{
    name:
      "two reconcile calls at once (the nightly run and the resume job): exactly one works the run, the other answers 409",
  }], async () => {
    const call = (body: Record<string, unknown>) =>
      fetch(`${api}/functions/v1/sync`, {
        method: "POST",
        headers: { Authorization: `Bearer ${secretKey}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, body: await response.json() }));
    const answers = await Promise.all([call({ scope: "all" }), call({ scope: "all" })]);
    answers.sort((a, b) => a.status - b.status);
    assert.deepEqual(answers.map((answer) => answer.status), [200, 409], JSON.stringify(answers));
    assert.equal(answers[0].body.status, "done");
    assert.deepEqual(answers[1].body, { error: "A reconcile run is in progress" });
    const [{ held }] = await stack.db.query<{ held: number }>(
      "select count(*)::int as held from polar.reconcile_runs where lease_token is not null",
    );
    assert.equal(held, 0, "the lease is released when the working call ends");
    await figure(
      "never stale: second run (nothing changed): Polar calls / changed",
      `${answers[0].body.polar_calls} / ${answers[0].body.changed}`,
    );
  });

  await runCases(t, "never stale", [{
    name: "a user deleted through the Auth admin API has their Polar customer deleted",
  }], async () => {
    const user = users[0];
    const customer = [...polar.customers.values()].find((c) => c.external_id === user.id)!;
    const deleted = await fetch(`${api}/auth/v1/admin/users/${user.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${secretKey}`, apikey: secretKey },
    });
    await deleted.body?.cancel();
    assert.equal(deleted.status, 200);
    const response = await fetch(`${api}/functions/v1/sync`, {
      method: "POST",
      headers: { Authorization: `Bearer ${secretKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ scope: "deletions" }),
    });
    assert.deepEqual(await response.json(), {
      deleted: 1,
      absent: 0,
      failed: 0,
      teams: { seats_revoked: 0, members_deleted: 0, absent: 0, owners_kept: 0, failed: 0 },
    });
    assert.ok(customer.deleted_at, "Polar deleted the customer");
    const live = [...polar.subscriptions.values()].filter((s) =>
      s.customer_id === customer.id && s.status === "active"
    );
    assert.deepEqual(live, [], "and ended its subscriptions");
  });
});
