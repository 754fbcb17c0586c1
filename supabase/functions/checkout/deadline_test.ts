/**
 * Checkout's upstream calls share the request's one deadline: the production dependencies (real
 * verifier, the real link write on PGlite through the loopback Supabase stand-in, the real Polar
 * SDK against the loopback fake), with Polar slow and a short budget for the request.
 */
import assert from "node:assert/strict";
import { loadCheckoutFunctionConfig } from "../_polar/config.ts";
import { requestDeadline } from "../_polar/deadline.ts";
import type { RequestLog } from "../_polar/log.ts";
import { insertUser } from "../tests/support/database.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { createCheckoutDependencies, createCheckoutHandler } from "./handler.ts";

const PRODUCT = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";
/** The request's whole budget in these tests. */
const BUDGET_MS = 600;

async function setup() {
  const supabase = await createTestSupabase("loopback");
  const polar = await startFakePolar();
  const env: Record<string, string> = {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_deadline",
    POLAR_API_URL: polar.url,
    SITE_URL: "https://app.example.com",
  };
  const logs: RequestLog[] = [];
  const handler = createCheckoutHandler({
    ...createCheckoutDependencies(loadCheckoutFunctionConfig((name) => env[name])),
    log: (line) => logs.push(line),
  });
  const userId = await insertUser(supabase.db, "deadline@example.com");
  const token = await supabase.userToken(userId, "deadline@example.com");
  const call = () => {
    const request = new Request("http://localhost/functions/v1/checkout", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ product_id: PRODUCT }),
    });
    requestDeadline(request, BUDGET_MS);
    return handler(request);
  };
  return {
    supabase,
    polar,
    logs,
    userId,
    call,
    async [Symbol.asyncDispose]() {
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

Deno.test("checkout's customer calls and checkout share one deadline rather than one limit each", async () => {
  await using t = await setup();
  // Each Polar call stays far under its own limit (3.5 s); the lookup and the creation together
  // pass the request's budget.
  t.polar.delayMs = BUDGET_MS * 0.6;
  const response = await t.call();
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "Something went wrong" });
  assert.deepEqual(
    // The organization's setting is read beside the customer lookup.
    t.polar.requests.map((r) => r.route).filter((route) =>
      !route.startsWith("GET /v1/organizations/")
    ),
    [`GET /v1/customers/external/${t.userId}`, "POST /v1/customers/"],
    "the deadline cut the creation off; no checkout was made",
  );
  assert.match(t.logs[0].cause ?? "", /time|abort/i);
  const linked = await t.supabase.db.query(
    "select 1 from public.user_subscriptions where user_id = $1 and polar_customer_id is not null",
    [t.userId],
  );
  assert.deepEqual(linked, [], "nothing linked");
});

Deno.test("checkout answers 200 within the deadline when the upstreams are quick", async () => {
  await using t = await setup();
  const response = await t.call();
  assert.equal(response.status, 200, JSON.stringify(await response.clone().json()));
  assert.deepEqual(t.polar.requests.map((r) => r.route).at(-1), "POST /v1/checkouts/");
});
