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
