/**
 * The real `checkout` function, started with `deno run` as a user would, on 127.0.0.1, against
 * loopback stand-ins of Supabase (JWKS, PostgREST on PGlite) and Polar.
 */
import assert from "node:assert/strict";
import { EMAIL_TAKEN_MESSAGE } from "../_polar/customer_link.ts";
import { ALREADY_SUBSCRIBED_MESSAGE } from "../_polar/subscription_rule.ts";
import { productModel } from "../../../local/polar_products.ts";
import { subscriptionModel } from "../../../local/polar_models.ts";
import { insertUser, linkCustomer } from "./support/database.ts";
import { startFakePolar } from "./support/fake_polar.ts";
import { startFunction } from "./support/loopback.ts";
import { assertMisconfigured } from "./support/misconfigured.ts";
import { createTestSupabase } from "./support/supabase_stand_in.ts";
import { createHttpTeamWorld } from "./support/team_http.ts";
import { TEAM_ID_IS_USER_MESSAGE } from "../_polar/team_customer.ts";
import { MAY_NOT_BUY_SEATS_MESSAGE, TEAM_ALREADY_SUBSCRIBED_MESSAGE } from "../checkout/team.ts";

const SITE_URL = "http://127.0.0.1:3000";
const PRO = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";
const TEAM = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const OUTSIDER = "0b9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c";
const POLAR_TOKEN = "polar_oat_test_token";

async function setup(
  env: Record<string, string> = { POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS: "false" },
) {
  const supabase = await createTestSupabase("loopback");
  const { db, keys, issuer, upstream, anonKey } = supabase;
  const polar = await startFakePolar();
  const checkout = await startFunction("checkout", {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: POLAR_TOKEN,
    POLAR_API_URL: polar.url,
    POLAR_PRODUCT_IDS: `${PRO}, ${TEAM}`,
    SITE_URL,
    ...env,
  });
  const email = "ada@example.com";
  const userId = await insertUser(db, email);
  const token = await supabase.userToken(userId, email);
  return {
    db,
    keys,
    issuer,
    polar,
    checkout,
    upstream,
    userId,
    email,
    token,
    anonKey,
    async [Symbol.asyncDispose]() {
      await checkout[Symbol.asyncDispose]();
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

/** What `supabase.functions.invoke('checkout', { body })` sends. */
function invoke(url: string, token: string | undefined, body?: unknown, init: RequestInit = {}) {
  return fetch(`${url}/`, {
    method: "POST",
    ...(body !== undefined && { body: JSON.stringify(body) }),
    ...init,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      Origin: SITE_URL,
      ...init.headers,
    },
  });
}

Deno.test("checkout over HTTP creates the user's Polar customer, then a checkout locked to it", async () => {
  await using t = await setup();
  const response = await invoke(t.checkout.url, t.token, {
    product_id: PRO,
    // Fields that try to pick the customer are ignored.
    external_customer_id: crypto.randomUUID(),
    customer_email: "victim@example.com",
    metadata: { user_id: crypto.randomUUID() },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  const answer = await response.json();
  assert.deepEqual(Object.keys(answer).sort(), ["id", "url"]);
  assert.match(answer.url, /^https:\/\/sandbox\.polar\.sh\/checkout\/polar_c_[0-9a-f]{32}$/);

  const [lookup, create, call] = t.polar.requests;
  assert.equal(lookup.route, `GET /v1/customers/external/${t.userId}`);
  assert.equal(create.route, "POST /v1/customers/");
  assert.deepEqual(create.body, { external_id: t.userId, email: t.email });
  assert.equal(call.route, "POST /v1/checkouts/");
  for (const { headers } of t.polar.requests) {
    assert.equal(headers.get("Authorization"), `Bearer ${POLAR_TOKEN}`);
    assert.equal(headers.get("Polar-Version"), "2026-10");
  }
  assert.match(call.headers.get("Content-Type") ?? "", /^application\/json/);
  const [customer] = t.polar.customers.values();
  assert.deepEqual(call.body, {
    products: [PRO],
    success_url: `${SITE_URL}/?checkout_id={CHECKOUT_ID}`,
    metadata: { user_id: t.userId },
    customer_id: customer.id,
  });
  const [row] = await t.db.query<{ polar_customer_id: string }>(
    "select polar_customer_id from public.user_subscriptions where user_id = $1",
    [t.userId],
  );
  assert.equal(row.polar_customer_id, customer.id, "linked before any webhook");
});

Deno.test("checkout over HTTP names a returning customer by customer_id", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ externalId: t.userId, email: t.email });
  const response = await invoke(t.checkout.url, t.token, {
    products: [TEAM, PRO],
    success_url: "/welcome",
    return_url: `${SITE_URL}/pricing`,
  });
  assert.equal(response.status, 200);
  const { id, url } = await response.json();
  assert.equal(typeof id, "string");
  assert.equal(typeof url, "string");
  assert.deepEqual(t.polar.requests.at(-1)?.body, {
    products: [TEAM, PRO],
    success_url: `${SITE_URL}/welcome?checkout_id={CHECKOUT_ID}`,
    return_url: `${SITE_URL}/pricing`,
    metadata: { user_id: t.userId },
    customer_id: customer.id,
  });
});

Deno.test("checkout over HTTP makes three upstream round trips in sequence when warm", async () => {
  await using t = await setup();
  await (await invoke(t.checkout.url, t.token, { product_id: PRO })).body?.cancel();
  t.upstream.length = 0;
  t.polar.requests.length = 0;
  const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.deepEqual(
    t.upstream.toSorted(),
    ["/rest/v1/rpc/link_polar_customer", "/rest/v1/rpc/polar_checkout_guard"],
    "one link and the subscription rule's read beside the customer lookup, no Auth call",
  );
  assert.deepEqual(
    t.polar.requests.map((r) => r.route.replace(t.userId, "{user}")),
    ["GET /v1/customers/external/{user}", "POST /v1/checkouts/"],
    "the customer by external id, then the checkout",
  );
});

Deno.test("checkout over HTTP answers the contract's errors with CORS headers", async (test) => {
  await using t = await setup();
  const cases: [string, () => Promise<Response>, number, unknown][] = [
    ["no token", () => invoke(t.checkout.url, undefined, { product_id: PRO }), 401, {
      error: "Unauthorized",
    }],
    ["the anon key", () => invoke(t.checkout.url, t.anonKey, { product_id: PRO }), 401, {
      error: "Unauthorized",
    }],
    [
      "bad JSON",
      () =>
        invoke(t.checkout.url, t.token, undefined, {
          headers: { "Content-Type": "application/json" },
          body: "{",
        }),
      400,
      { error: "Invalid JSON body" },
    ],
    ["no product", () => invoke(t.checkout.url, t.token, {}), 400, {
      error: "Missing product_id or products",
    }],
    [
      "a product outside POLAR_PRODUCT_IDS",
      () => invoke(t.checkout.url, t.token, { product_id: OUTSIDER }),
      400,
      {
        error: `Unknown product_id "${OUTSIDER}"`,
      },
    ],
    [
      "hostile success_url",
      () =>
        invoke(t.checkout.url, t.token, {
          product_id: PRO,
          success_url: "https://evil.example/?checkout_id={CHECKOUT_ID}",
        }),
      400,
      { error: `Invalid success_url: expected a URL on ${SITE_URL}` },
    ],
    ["GET", () => invoke(t.checkout.url, t.token, undefined, { method: "GET" }), 405, {
      error: "Method not allowed",
    }],
  ];
  for (const [name, send, status, body] of cases) {
    await test.step(name, async () => {
      const response = await send();
      assert.equal(response.status, status);
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await response.json(), body);
    });
  }
  assert.equal(t.polar.requests.length, 0, "nothing invalid reaches Polar");

  await test.step("an email another Polar customer has", async () => {
    t.polar.addCustomer({ email: t.email });
    const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
    assert.equal(response.status, 409);
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    assert.deepEqual(await response.json(), { error: EMAIL_TAKEN_MESSAGE });
    assert.ok(!t.polar.requests.some((r) => r.route === "POST /v1/checkouts/"));
  });
});

Deno.test("checkout over HTTP answers 500 within the time budget when Polar fails", async (test) => {
  await using t = await setup();
  for (const mode of ["server_error", "rate_limited", "drop", "hang"] as const) {
    await test.step(mode, async () => {
      t.polar.mode = mode;
      const started = performance.now();
      const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
      const elapsed = performance.now() - started;
      assert.equal(response.status, 500);
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await response.json(), { error: "Something went wrong" });
      assert.ok(elapsed < 10_000, `answered in ${Math.round(elapsed)} ms`);
    });
  }
});

Deno.test("checkout over HTTP logs one JSON line per request without tokens or the body", async () => {
  await using t = await setup();
  await (await invoke(t.checkout.url, t.token, { product_id: PRO })).body?.cancel();
  await (await invoke(t.checkout.url, "x.y.z", { product_id: PRO })).body?.cancel();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const output = t.checkout.output();
  const lines = output.trim().split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line)).filter((line) => line.method !== "OPTIONS");
  assert.deepEqual(lines.map((line) => [line.function, line.status]), [
    ["checkout", 200],
    ["checkout", 401],
  ]);
  assert.ok(!output.includes(t.token), "the token is not logged");
  assert.ok(!output.includes(POLAR_TOKEN), "the Polar token is not logged");
  assert.ok(!output.includes(PRO) && !output.includes(t.email), "the body is not logged");
});

Deno.test("checkout with a malformed POLAR_PRODUCT_IDS names it at start-up, then answers JSON 500 with CORS", async () => {
  await assertMisconfigured("checkout", {
    SUPABASE_URL: "http://127.0.0.1:1",
    SUPABASE_ANON_KEY: "x",
    POLAR_ACCESS_TOKEN: "polar_oat_x",
    POLAR_PRODUCT_IDS: `${PRO},pro-monthly`,
    SITE_URL,
  }, /POLAR_PRODUCT_IDS has "pro-monthly"/);
});

// ----- One subscription unless the organization allows several -------------------------------

/** Gives the user a Polar customer with a live subscription to PRO, in Polar and the database. */
async function subscribed(t: Awaited<ReturnType<typeof setup>>, inDatabase = true) {
  const customer = t.polar.addCustomer({ externalId: t.userId, email: t.email });
  const subscription = subscriptionModel(customer, { status: "active", product_id: PRO });
  t.polar.subscriptions.set(subscription.id, subscription);
  t.polar.products.push(
    productModel({ id: PRO, name: "Pro", interval: "month", priceCents: 1000 }),
  );
  if (!inDatabase) return;
  await linkCustomer(t.db, t.userId, customer.id);
  await t.db.query(
    `insert into public.polar_subscriptions
       (id, user_id, polar_customer_id, product_id, status, in_latest_state, polar_modified_at)
     values ($1, $2, $3, $4, 'active', true, now())`,
    [subscription.id, t.userId, customer.id, PRO],
  );
}

Deno.test("checkout over HTTP answers 409 for a second subscription, reading Polar's setting once", async () => {
  await using t = await setup({});
  await subscribed(t);
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
    assert.equal(response.status, 409);
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    assert.deepEqual(await response.json(), { error: ALREADY_SUBSCRIBED_MESSAGE });
  }
  const routes = t.polar.requests.map((r) => r.route);
  assert.equal(routes.filter((r) => r === "GET /v1/organizations/").length, 1, "cached");
  assert.ok(routes.includes(`GET /v1/products/${PRO}`), "the catalog is empty: Polar is asked");
  assert.ok(!routes.includes("POST /v1/checkouts/"), "no checkout was created");
});

Deno.test("checkout over HTTP lets a subscriber subscribe again when Polar's organization allows it", async () => {
  await using t = await setup({});
  await subscribed(t);
  t.polar.allowMultipleSubscriptions = true;
  const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

Deno.test("checkout over HTTP answers Polar's own 403 for a second subscription with the same 409", async () => {
  // The database has not heard of the subscription yet; Polar refuses it (its rule at creation).
  await using t = await setup({});
  await subscribed(t, false);
  t.polar.refuseSecondSubscriptionAtCreation = true;
  const response = await invoke(t.checkout.url, t.token, { product_id: PRO });
  assert.equal(response.status, 409);
  assert.deepEqual(await response.json(), { error: ALREADY_SUBSCRIBED_MESSAGE });
  assert.ok(t.polar.requests.some((r) => r.route === "POST /v1/checkouts/"));
});

Deno.test("checkout over HTTP for a team creates the team customer with the caller as owner, then checks out by customer_id with seats", async () => {
  await using t = await createHttpTeamWorld("checkout", {
    POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS: "false",
  });
  const teamId = crypto.randomUUID();
  await t.letBill(teamId, t.users.max.id);
  const response = await t.invoke("POST", t.users.max.token, {
    product_id: t.polar.teamProduct.id,
    team_id: teamId,
    seats: 3,
    customer_id: t.teams.a.customer.id,
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.match((await response.json()).url, /^https?:\/\//);
  const team = [...t.polar.teams.values()].find((c) => c.external_id === teamId)!;
  const create = t.polar.requests.find((r) => r.route === "POST /v1/customers/")!;
  assert.deepEqual(create.body, {
    type: "team",
    external_id: teamId,
    owner: { email: t.users.max.email, external_id: t.users.max.id },
  });
  const checkout = t.polar.requests.find((r) => r.route === "POST /v1/checkouts/")!;
  assert.equal(checkout.body.customer_id, team.id);
  assert.equal(checkout.body.seats, 3);
  const [stored] = await t.supabase.db.query<{ polar_customer_id: string; role: string }>(
    `select t.polar_customer_id, m.role from public.polar_teams as t
     join public.polar_team_members as m using (team_id) where t.team_id = $1 and m.user_id = $2`,
    [teamId, t.users.max.id],
  );
  assert.deepEqual(stored, { polar_customer_id: team.id, role: "owner" });
});

Deno.test("checkout over HTTP for a team refuses, with words and no Polar write, each thing the contract refuses", async (test) => {
  await using t = await createHttpTeamWorld("checkout", {
    POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS: "false",
  });
  const product = t.polar.teamProduct.id;
  const individual = crypto.randomUUID();
  await t.letBill(individual, t.users.max.id);
  t.polar.addCustomer({ externalId: individual });
  const fresh = crypto.randomUUID();
  await t.letBill(fresh, t.users.max.id);
  const cases: [string, unknown, string, number, string][] = [
    [
      "seats without a team",
      { product_id: product, seats: 2 },
      t.users.max.token,
      400,
      "seats needs a team_id",
    ],
    [
      "a team_id that is no uuid",
      { product_id: product, team_id: "acme", seats: 2 },
      t.users.max.token,
      400,
      'Invalid team_id "acme": expected a UUID',
    ],
    [
      "1001 seats",
      { product_id: product, team_id: fresh, seats: 1001 },
      t.users.max.token,
      400,
      "Invalid seats 1001: expected a whole number from 1 to 1000",
    ],
    [
      "a member of no team buying for team A",
      { product_id: product, team_id: t.teams.a.id, seats: 2 },
      t.users.max.token,
      403,
      MAY_NOT_BUY_SEATS_MESSAGE,
    ],
    [
      "team B's biller buying for team A",
      { product_id: product, team_id: t.teams.a.id, seats: 2 },
      t.users.quinn.token,
      403,
      MAY_NOT_BUY_SEATS_MESSAGE,
    ],
    [
      "team A's biller while A is subscribed",
      { product_id: product, team_id: t.teams.a.id, seats: 2 },
      t.users.olive.token,
      409,
      TEAM_ALREADY_SUBSCRIBED_MESSAGE,
    ],
    [
      "a team id that is an individual customer's",
      { product_id: product, team_id: individual, seats: 2 },
      t.users.max.token,
      409,
      TEAM_ID_IS_USER_MESSAGE,
    ],
  ];
  for (const [name, body, token, status, error] of cases) {
    await test.step(name, async () => {
      const before = await t.snapshot();
      t.polar.requests.length = 0;
      const response = await t.invoke("POST", token, body);
      assert.equal(response.status, status);
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await response.json(), { error });
      assert.deepEqual(t.polarWrites(), [], "no Polar write");
      assert.equal(await t.snapshot(), before, "nothing stored");
    });
  }
});
