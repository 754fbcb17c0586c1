/**
 * The real `sync` function, started with `deno run` as a user would, on 127.0.0.1, against
 * loopback stand-ins of Supabase (Auth keys, PostgREST on PGlite) and Polar: what
 * `supabase.functions.invoke('sync')` sends, the operator's reconcile with the service key, the
 * answers' CORS, and logs without tokens or keys.
 */
import assert from "node:assert/strict";
import { benefitGrantModel, customerStateModel } from "../../../local/polar_models.ts";
import { insertUser, linkCustomer } from "./support/database.ts";
import { startFakePolar } from "./support/fake_polar.ts";
import { startFunction } from "./support/loopback.ts";
import { assertMisconfigured } from "./support/misconfigured.ts";
import { subscriptionFixture } from "./support/polar_events.ts";
import { createTestSupabase } from "./support/supabase_stand_in.ts";
import { serveOnLoopback } from "../../../local/loopback.ts";
import { createPolarStandIn, TEAM_PRODUCT_ID } from "../../../local/polar_stand_in.ts";

const SITE_URL = "http://127.0.0.1:3000";

async function setup() {
  const supabase = await createTestSupabase("loopback");
  const polar = await startFakePolar();
  const fn = await startFunction("sync", {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_sync_http",
    POLAR_API_URL: polar.url,
    SITE_URL,
  });
  const userId = await insertUser(supabase.db, "http-sync@example.com");
  const token = await supabase.userToken(userId, "http-sync@example.com");
  const customer = polar.addCustomer({ externalId: userId });
  await linkCustomer(supabase.db, userId, customer.id); // as checkout links it
  const subscription = subscriptionFixture(customer, { status: "active" });
  polar.states.set(
    customer.id,
    customerStateModel(customer, { subscriptions: [subscription], grants: [benefitGrantModel()] }),
  );
  return {
    supabase,
    polar,
    fn,
    token,
    async [Symbol.asyncDispose]() {
      await fn[Symbol.asyncDispose]();
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

/** What `supabase.functions.invoke('sync', { body })` sends from a browser. */
function invoke(url: string, bearer: string, body?: unknown) {
  return fetch(`${url}/`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${bearer}`,
      "Content-Type": "application/json",
      Origin: SITE_URL,
    },
    body: JSON.stringify(body ?? {}),
  });
}

Deno.test("sync over HTTP: the user's state, the operator's reconcile, CORS, no secret in logs", async (test) => {
  await using t = await setup();
  await test.step("a signed-in user gets their state, pulled from Polar", async () => {
    const response = await invoke(t.fn.url, t.token);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    const body = await response.json();
    assert.equal(body.synced, true);
    assert.deepEqual(body.state.entitlements, ["pro"]);
  });
  await test.step("the preflight is answered before any auth", async () => {
    const response = await fetch(`${t.fn.url}/`, {
      method: "OPTIONS",
      headers: { Origin: SITE_URL, "Access-Control-Request-Method": "POST" },
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    assert.match(response.headers.get("Access-Control-Allow-Methods") ?? "", /POST/);
  });
  await test.step("a user token cannot reconcile everyone", async () => {
    const response = await invoke(t.fn.url, t.token, { scope: "all" });
    assert.equal(response.status, 403);
    assert.deepEqual(await response.json(), { error: "Forbidden" });
  });
  await test.step("the service key reconciles and answers counts", async () => {
    const response = await invoke(t.fn.url, t.supabase.serviceRoleKey, { scope: "all" });
    const report = await response.json();
    assert.equal(response.status, 200, JSON.stringify(report));
    assert.equal(report.status, "done");
    assert.equal(report.checked, 1);
  });
  await test.step("the log has one line per request and no token or key", () => {
    const output = t.fn.output();
    // The readiness probe of startFunction adds a line of its own.
    const statuses = output.split("\n").filter((line) => line.includes('"function":"sync"'))
      .map((line) => JSON.parse(line).status);
    assert.deepEqual(statuses.slice(-4), [200, 204, 403, 200]);
    assert.ok(!output.includes(t.token.split(".")[2]), "no user token");
    assert.ok(!output.includes(t.supabase.serviceRoleKey.split(".")[2]), "no service key");
    assert.ok(!output.includes("polar_oat_sync_http"), "no Polar token");
  });
});

Deno.test("sync without a secret key names the variables at start-up, then answers JSON 500 with CORS", async () => {
  await assertMisconfigured("sync", {
    SUPABASE_URL: "http://127.0.0.1:1",
    SUPABASE_ANON_KEY: "x",
    POLAR_ACCESS_TOKEN: "polar_oat_x",
    SITE_URL,
  }, /SUPABASE_SECRET_KEYS, SUPABASE_SECRET_KEY or SUPABASE_SERVICE_ROLE_KEY is required/);
});

/**
 * The real `sync` against the local stack's Polar stand-in on loopback, its webhooks off (every
 * team event lost): the reconcile alone brings a team in, takes a revoked seat's access away and
 * deletes a team Polar deleted; the deletions pass revokes a deleted user's seat and deletes their
 * member, and keeps a team's only owner.
 */
async function setupTeams() {
  const supabase = await createTestSupabase("loopback");
  let handler: (request: Request) => Promise<Response> = () =>
    Promise.resolve(new Response(null, { status: 503 }));
  const server = await serveOnLoopback((request) => handler(request));
  const polar = createPolarStandIn({
    baseUrl: server.url,
    webhookUrl: "http://127.0.0.1:1/functions/v1/polar-webhooks",
    webhookSecret: "whsec_" + btoa("sync-http-teams-secret-0123"),
    webhooks: "off",
  });
  handler = polar.handler;
  const fn = await startFunction("sync", {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_sync_http",
    POLAR_API_URL: server.url,
    POLAR_SYNC_RATE_PER_MINUTE: "60000",
    SITE_URL,
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { Authorization: "Bearer polar_oat_sync_http", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  /** What a buyer's browser does on the stand-in's checkout page: pay. */
  const pay = async (clientSecret: string) => {
    const response = await fetch(`${server.url}/checkout/${clientSecret}/pay`, {
      method: "POST",
      body: new URLSearchParams({}),
      redirect: "manual",
    });
    await response.body?.cancel();
    assert.equal(response.status, 303);
  };
  const operator = async (scope: string) => {
    const response = await invoke(fn.url, supabase.serviceRoleKey, { scope });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  };
  const holds = async (userId: string, teamId: string) =>
    (await supabase.db.query<{ held: boolean }>(
      "select public.has_team_entitlement($1, 'pro') as held",
      [teamId],
      { role: "authenticated", claims: { sub: userId, role: "authenticated" } },
    ))[0].held;
  return {
    supabase,
    polar,
    fn,
    call,
    pay,
    operator,
    holds,
    async [Symbol.asyncDispose]() {
      await fn[Symbol.asyncDispose]();
      polar.close();
      await server.shutdown();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

Deno.test("sync over HTTP against the stand-in: a team reconciled with its webhooks lost, a deleted user's seat revoked", async (test) => {
  await using t = await setupTeams();
  const olive = await insertUser(t.supabase.db, "olive@team.test");
  const max = await insertUser(t.supabase.db, "max@team.test");
  const teamId = crypto.randomUUID();
  const created = await t.call("POST", "/v1/customers/", {
    type: "team",
    external_id: teamId,
    name: "Acme",
    owner: { email: "olive@team.test", external_id: olive, name: "Olive" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const customerId = created.body.id as string;
  const checkout = await t.call("POST", "/v1/checkouts/", {
    products: [TEAM_PRODUCT_ID],
    customer_id: customerId,
    seats: 3,
    success_url: `${SITE_URL}/done`,
  });
  assert.equal(checkout.status, 201, JSON.stringify(checkout.body));
  await t.pay(checkout.body.client_secret);
  const subscription = [...t.polar.subscriptions.values()].find((s) =>
    s.customer_id === customerId
  )!;
  const member = await t.call("POST", `/v1/customers/${customerId}/members`, {
    email: "max@team.test",
    external_id: max,
    role: "member",
  });
  assert.equal(member.status, 201, JSON.stringify(member.body));
  const seated = async (memberId: string) => {
    const seat = await t.call("POST", "/v1/customer-seats", {
      subscription_id: subscription.id,
      member_id: memberId,
      immediate_claim: true,
    });
    assert.equal(seat.status, 200, JSON.stringify(seat.body));
    return seat.body.id as string;
  };
  const maxSeat = await seated(member.body.id);
  const owner = t.polar.teamModel.memberByExternalId(customerId, olive)!;
  await seated(owner.id);

  await test.step("the reconcile stores the team, its members, seats and grants", async () => {
    assert.equal(await t.holds(max, teamId), false, "no webhook reached the database");
    const report = await t.operator("all");
    assert.equal(report.status, "done");
    assert.equal(report.teams, 1);
    assert.equal(report.failures, 0);
    assert.equal(await t.holds(max, teamId), true);
    assert.equal(await t.holds(olive, teamId), true);
  });

  await test.step("a seat revoked in Polar is revoked by the next reconcile", async () => {
    assert.equal((await t.call("DELETE", `/v1/customer-seats/${maxSeat}`)).status, 200);
    await t.operator("all");
    assert.equal(await t.holds(max, teamId), false);
    assert.equal(await t.holds(olive, teamId), true, "the owner keeps hers");
    await seated(member.body.id); // Polar reuses the revoked seat for Max again
    await t.operator("all");
    assert.equal(await t.holds(max, teamId), true);
  });

  await test.step("a user deleted before any reconcile saw their member: the reconcile queues it, the pass revokes", async () => {
    const ted = await insertUser(t.supabase.db, "ted@team.test");
    const tedMember = await t.call("POST", `/v1/customers/${customerId}/members`, {
      email: "ted@team.test",
      external_id: ted,
      role: "member",
    });
    const tedSeat = await seated(tedMember.body.id);
    await t.supabase.db.query("delete from auth.users where id = $1", [ted]);
    assert.equal((await t.operator("deletions")).teams.seats_revoked, 0, "nothing queued yet");
    const report = await t.operator("all");
    assert.equal(report.team_deletions_queued, 1);
    const pass = await t.operator("deletions");
    assert.deepEqual([pass.teams.seats_revoked, pass.teams.members_deleted], [1, 1]);
    assert.equal(t.polar.teamModel.seats.get(tedSeat)?.status, "revoked");
    assert.equal(t.polar.teamModel.memberByExternalId(customerId, ted), undefined);
  });

  await test.step("deleting Max revokes his seat and deletes his member in Polar", async () => {
    await t.supabase.db.query("delete from auth.users where id = $1", [max]);
    assert.equal(await t.holds(max, teamId), false);
    const report = await t.operator("deletions");
    assert.deepEqual(report.teams, {
      seats_revoked: 1,
      members_deleted: 1,
      absent: 0,
      owners_kept: 0,
      failed: 0,
    });
    assert.equal(t.polar.teamModel.memberByExternalId(customerId, max), undefined);
    assert.equal(t.polar.teamModel.seats.get(maxSeat)?.status, "revoked");
  });

  await test.step("deleting the only owner revokes her seat and keeps her member", async () => {
    await t.supabase.db.query("delete from auth.users where id = $1", [olive]);
    const report = await t.operator("deletions");
    assert.deepEqual(report.teams, {
      seats_revoked: 1,
      members_deleted: 0,
      absent: 0,
      owners_kept: 1,
      failed: 0,
    });
    assert.ok(t.polar.teamModel.memberByExternalId(customerId, olive), "Polar keeps its owner");
  });

  await test.step("a team deleted in Polar loses its rows at the next reconcile", async () => {
    assert.equal((await t.call("DELETE", `/v1/customers/external/${teamId}`)).status, 204);
    const report = await t.operator("all");
    assert.equal(report.teams_deleted, 1);
    const rows = await t.supabase.db.query("select 1 from public.polar_teams where team_id = $1", [
      teamId,
    ]);
    assert.equal(rows.length, 0);
  });
});
