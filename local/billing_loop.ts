/**
 * The billing loop end to end over HTTP, as a user's app drives it with supabase-js, against a
 * running local stack: shared by `stack_e2e_test.ts` (this repository's functions) and the
 * install suite (the functions as installed into another project).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import type { KeyStyle, Stack } from "./stack.ts";

async function signUp(apiUrl: string, anonKey: string): Promise<SupabaseClient> {
  const client = createClient(apiUrl, anonKey, { auth: { persistSession: false } });
  const email = `e2e-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const { error } = await client.auth.signUp({ email, password: "correct-horse-battery" });
  if (error) throw error;
  return client;
}

async function readRow(client: SupabaseClient) {
  const { data, error } = await client.from("user_subscriptions")
    .select("polar_customer_id, status, cancel_at_period_end, current_period_end").maybeSingle();
  if (error) throw error;
  return data;
}

async function errorBody(error: unknown) {
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  return await error.context.json();
}

/** Submits a stand-in page's form, as its button does, and returns where it redirects. */
async function submit(url: string): Promise<string> {
  const response = await fetch(url, { method: "POST", redirect: "manual" });
  await response.body?.cancel();
  assert.equal(response.status, 303, `POST ${url}`);
  return response.headers.get("Location")!;
}

/**
 * The billing loop as an app drives it with supabase-js, as test steps against a running stack
 * (started with the Polar stand-in, its meter recompute delay short): sign up, checkout, pay,
 * webhooks, credits, portal, cancel, what other users, anon and the secret key see, the sync
 * secret's reconcile, and the gateway's key check.
 *
 * @param test the test context, for its steps
 * @param stack the running stack
 * @param keyStyle the key the clients use: the same style the stack gave the functions
 * @example
 * ```ts
 * Deno.test("billing loop", async (t) => {
 *   await using stack = await startStack({ apiPort: 0, polarPort: 0, sitePort: 0 });
 *   await billingLoop(t, stack, "new");
 * });
 * ```
 */
export async function billingLoop(
  test: Deno.TestContext,
  stack: Stack,
  keyStyle: KeyStyle,
): Promise<void> {
  const { api_url: apiUrl, product_id: productId, site_url: siteUrl } = stack.info;
  const anonKey = keyStyle === "new" ? stack.info.publishable_key : stack.info.anon_key;
  const secretKey = keyStyle === "new" ? stack.info.secret_key : stack.info.service_role_key;
  const ada = await signUp(apiUrl, anonKey);
  const bob = await signUp(apiUrl, anonKey);

  await test.step("the price list is public: anon reads the stand-in's plans and credit pack", async () => {
    const anon = createClient(apiUrl, anonKey, { auth: { persistSession: false } });
    const { data, error } = await anon.from("polar_products")
      .select("name, is_recurring, recurring_interval, benefit_keys").order("name");
    assert.equal(error, null);
    assert.deepEqual(data, [
      { name: "Credit pack", is_recurring: false, recurring_interval: null, benefit_keys: [] },
      { name: "Pro", is_recurring: true, recurring_interval: "month", benefit_keys: ["pro"] },
      { name: "Pro yearly", is_recurring: true, recurring_interval: "year", benefit_keys: ["pro"] },
      { name: "Team", is_recurring: true, recurring_interval: "month", benefit_keys: ["pro"] },
    ]);
  });

  await test.step("before subscribing: no row, and the portal answers 404", async () => {
    assert.equal(await readRow(ada), null);
    const { error } = await ada.functions.invoke("portal");
    assert.deepEqual(await errorBody(error), { error: "No subscription found" });
  });

  let checkoutUrl = "";
  await test.step("checkout answers a URL on the Polar stand-in", async () => {
    const { data, error } = await ada.functions.invoke("checkout", {
      body: { product_id: productId },
    });
    assert.equal(error, null);
    assert.match(data.url, new RegExp(`^${stack.info.polar_api_url}/checkout/`));
    checkoutUrl = data.url;
  });

  await test.step("paying delivers webhooks that make the row active", async () => {
    const successUrl = await submit(`${checkoutUrl}/pay`);
    assert.ok(successUrl.startsWith(siteUrl), successUrl);
    assert.match(successUrl, /checkout_id=[0-9a-f-]{36}/);
    assert.deepEqual(
      stack.polar!.deliveries.map((delivery) => [delivery.type, delivery.status < 300]),
      [
        ["customer.created", true],
        ["customer.state_changed", true],
        ["subscription.created", true],
        ["subscription.active", true],
        ["order.paid", true],
        ["customer.state_changed", true],
      ],
    );
    const row = await readRow(ada);
    assert.equal(row?.status, "active");
    assert.equal(row?.cancel_at_period_end, false);
    assert.ok(row?.polar_customer_id);
  });

  await test.step("the payment's billing changes are recorded once each, readable by their user", async () => {
    const { data, error } = await ada.from("polar_billing_changes").select("kind").order("id");
    assert.equal(error, null);
    assert.deepEqual(data?.map((c) => c.kind).toSorted(), [
      "benefit_granted",
      "benefit_granted",
      "order_paid",
      "subscription_started",
    ], "the flag and the credits granted, the order paid, the subscription started");
    const { data: others } = await bob.from("polar_billing_changes").select("kind");
    assert.deepEqual(others, [], "another user reads none of them");
  });

  await test.step("a second subscription is refused with 409 before any checkout", async () => {
    const before = stack.polar!.apiRequests.filter((r) => r === "POST /v1/checkouts/").length;
    const { error } = await ada.functions.invoke("checkout", { body: { product_id: productId } });
    assert.deepEqual(await errorBody(error), {
      error: "You already have an active subscription. Manage it from the billing portal.",
    });
    assert.equal(
      stack.polar!.apiRequests.filter((r) => r === "POST /v1/checkouts/").length,
      before,
      "Polar saw no checkout",
    );
  });

  await test.step("the subscription's credits and a credit pack reach polar_meters after the recompute", async () => {
    const meters = async () => {
      const { data, error } = await ada.from("polar_meters").select("credited_units, balance");
      assert.equal(error, null);
      // numeric columns come back from PostgREST as strings.
      return data?.map((m) => ({
        credited_units: Number(m.credited_units),
        balance: Number(m.balance),
      }));
    };
    await stack.polar!.metersSettled();
    assert.deepEqual(await meters(), [{ credited_units: 100, balance: 100 }]);
    const { data, error } = await ada.functions.invoke("checkout", {
      body: { product_id: stack.info.credit_product_id },
    });
    assert.equal(error, null);
    await submit(`${data.url}/pay`);
    await stack.polar!.metersSettled();
    const credited = 100 + 500;
    assert.deepEqual(await meters(), [{ credited_units: credited, balance: credited }]);
    assert.equal((await readRow(ada))?.status, "active");
  });

  let portalUrl = "";
  await test.step("the portal answers the customer's portal URL", async () => {
    const { data, error } = await ada.functions.invoke("portal", {
      body: { return_url: `${siteUrl}/account` },
    });
    assert.equal(error, null);
    assert.match(data.url, new RegExp(`^${stack.info.polar_api_url}/portal/`));
    portalUrl = data.url;
    const page = await (await fetch(portalUrl)).text();
    assert.match(page, /active/);
    assert.match(page, new RegExp(`${siteUrl}/account`));
  });

  await test.step("canceling in the portal marks the row cancel at period end", async () => {
    await submit(`${portalUrl}/cancel`);
    const row = await readRow(ada);
    assert.equal(row?.status, "active");
    assert.equal(row?.cancel_at_period_end, true);
  });

  await test.step("another user sees none of it", async () => {
    assert.equal(await readRow(bob), null);
    const { data } = await bob.from("user_subscriptions").select("*");
    assert.deepEqual(data, []);
    const { error } = await bob.functions.invoke("portal");
    assert.deepEqual(await errorBody(error), { error: "No subscription found" });
  });

  await test.step("anon sees nothing", async () => {
    const anon = createClient(apiUrl, anonKey, { auth: { persistSession: false } });
    const { data, error } = await anon.from("user_subscriptions").select("*");
    assert.equal(data, null);
    assert.equal(error?.code, "42501");
  });

  await test.step("the secret key reads as the service role", async () => {
    const admin = createClient(apiUrl, secretKey, { auth: { persistSession: false } });
    const adaId = (await ada.auth.getSession()).data.session!.user.id;
    // RLS does not apply: the row is read by its user id, not through Ada's token.
    const { data, error } = await admin.from("user_subscriptions").select("status")
      .eq("user_id", adaId);
    assert.equal(error, null);
    assert.deepEqual(data, [{ status: "active" }]);
  });

  await test.step("the sync secret reconciles, as docs/sync.md's curl does; the portal refuses it", async () => {
    const headers = {
      Authorization: `Bearer ${stack.info.sync_secret}`,
      "Content-Type": "application/json",
    };
    const reconcile = await fetch(`${apiUrl}/functions/v1/sync`, {
      method: "POST",
      headers,
      body: JSON.stringify({ scope: "all" }),
    });
    const report = await reconcile.json();
    assert.equal(reconcile.status, 200, JSON.stringify(report));
    assert.equal(report.status, "done");
    const portal = await fetch(`${apiUrl}/functions/v1/portal`, { method: "POST", headers });
    assert.equal(portal.status, 401);
    await portal.body?.cancel();
  });

  await test.step("the gateway refuses an unknown sb_ key", async () => {
    const response = await fetch(`${apiUrl}/rest/v1/user_subscriptions`, {
      headers: { apikey: "sb_publishable_not-this-project" },
    });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).message, "Invalid API key");
  });
}
