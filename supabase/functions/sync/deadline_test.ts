/**
 * A user's sync under one deadline per request: the sync function's production dependencies (real
 * verifier, real RPCs through the Supabase stand-in on loopback, the real Polar SDK against a
 * loopback fake that hangs), with a short budget for the request.
 */
import assert from "node:assert/strict";
import { loadSyncFunctionConfig } from "../_polar/config.ts";
import { requestDeadline } from "../_polar/deadline.ts";
import type { RequestLog } from "../_polar/log.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { createSyncDependencies, createSyncHandler } from "./handler.ts";

/** The request's whole budget in these tests. */
const BUDGET_MS = 400;
/** Well under the SDK's own limit for a Polar call (3.5 s), well over the budget. */
const ANSWERED_WITHIN_MS = 2_000;

async function setup() {
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
    SITE_URL: "https://app.example.com",
  };
  const logs: RequestLog[] = [];
  const handler = createSyncHandler({
    ...createSyncDependencies(loadSyncFunctionConfig((name) => env[name])),
    log: (entry) => logs.push(entry),
  });
  // Linked first: sync asks Polar nothing for a user without a customer.
  const userId = await insertUser(supabase.db);
  const customer = polar.addCustomer({ externalId: userId });
  await linkCustomer(supabase.db, userId, customer.id);
  const token = await supabase.userToken(userId);
  const call = async () => {
    const request = new Request("http://localhost/functions/v1/sync", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    requestDeadline(request, BUDGET_MS);
    const started = performance.now();
    const response = await handler(request);
    return { response, ms: performance.now() - started };
  };
  return {
    call,
    logs,
    polar,
    async [Symbol.asyncDispose]() {
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

Deno.test("sync answers 500 within the request's deadline when Polar hangs", async () => {
  await using t = await setup();
  t.polar.mode = "hang";
  const { response, ms } = await t.call();
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "Something went wrong" });
  assert.ok(ms < ANSWERED_WITHIN_MS, `answered after ${Math.round(ms)} ms`);
  assert.equal(t.polar.requests.length, 1, "the one Polar call was made, and cut off");
  assert.match(t.logs[0].cause ?? "", /time|abort/i, "the SDK gave up at the deadline");
});

Deno.test("sync answers 200 within the same deadline when Polar is quick", async () => {
  await using t = await setup();
  const { response } = await t.call();
  assert.equal(response.status, 200);
  assert.equal((await response.json()).synced, true);
  assert.equal(t.polar.requests.length, 1);
});
