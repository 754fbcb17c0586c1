import assert from "node:assert/strict";
import { PolarClientError } from "@polar-sh/sdk";
import { errors } from "@polar-sh/sdk/2026-10";
import { createCallerAccess } from "../_polar/caller.ts";
import {
  createCustomerResolver,
  createPolarCustomerApi,
  EMAIL_REQUIRED_MESSAGE,
  EMAIL_TAKEN_MESSAGE,
  linkPolarCustomer,
} from "../_polar/customer_link.ts";
import type { RequestLog } from "../_polar/log.ts";
import { createPolarClient } from "../_polar/polar.ts";
import { createServerClient } from "../_polar/supabase.ts";
import {
  ALREADY_SUBSCRIBED_MESSAGE,
  createCheckoutGuard,
  createProductRecurrence,
  createSubscriptionRule,
} from "../_polar/subscription_rule.ts";
import { productModel } from "../../../local/polar_products.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { refusedAuthorizations } from "../tests/support/refused_tokens.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { userClaims } from "../tests/support/keys.ts";
import { type CheckoutCreate, createCheckoutHandler } from "./handler.ts";

const SUPABASE_URL = "http://supabase.test";
const ISSUER = `${SUPABASE_URL}/auth/v1`;
const SITE_URL = "https://app.example.com";
const ORIGINS = `${SITE_URL} or https://admin.example.com`;
const PRO = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";
const TEAM = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const OUTSIDER = "0b9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c";
const PACK = "2f6e1d4c-3b2a-4f9e-8d7c-6b5a4f3e2d1c";
const CHECKOUT_ID = "5b3a9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d";
const CHECKOUT_URL = "https://sandbox.polar.sh/checkout/polar_c_test";
const DEFAULT_SUCCESS_URL = `${SITE_URL}/?checkout_id={CHECKOUT_ID}`;

interface SetupOptions {
  polarError?: Error;
  allowMultipleSubscriptions?: boolean;
  productIds?: string[];
  restrictCors?: boolean;
}

/**
 * A checkout handler wired to real auth verification, the real link write and the SDK's customer
 * calls against the loopback Polar fake; the checkout itself is captured.
 */
async function setup(options: SetupOptions = {}) {
  const stand = await createTestSupabase();
  const polar = await startFakePolar();
  const { db, keys, anonKey, upstream } = stand;
  const admin = createServerClient(stand.url, stand.serviceRoleKey, { fetch: stand.fetch });
  const polarClient = createPolarClient({
    accessToken: "polar_oat_test",
    server: "sandbox",
    apiUrl: polar.url,
  });
  const polarCalls: CheckoutCreate[] = [];
  const logs: RequestLog[] = [];
  const handler = createCheckoutHandler({
    config: {
      siteUrl: SITE_URL,
      allowedOrigins: [SITE_URL, "https://admin.example.com"],
      restrictCorsOrigins: options.restrictCors ?? false,
      productIds: options.productIds ?? [PRO, TEAM],
    },
    verifyUser: createCallerAccess(
      {
        supabaseUrl: stand.url,
        supabasePublishableKey: anonKey,
        authIssuer: ISSUER,
        supabaseJwks: undefined,
      },
      { fetch: stand.fetch },
    ).verifyUser,
    resolveCustomerId: createCustomerResolver({
      polar: createPolarCustomerApi(polarClient),
      link: (userId, customer) => linkPolarCustomer(admin, userId, customer),
    }),
    createCheckout: (body) => {
      // A deep copy, so a later change to the body by the handler would not go unnoticed.
      polarCalls.push(structuredClone(body));
      return options.polarError
        ? Promise.reject(options.polarError)
        : Promise.resolve({ id: CHECKOUT_ID, url: CHECKOUT_URL });
    },
    enforceSubscriptionRule: createSubscriptionRule({
      allowsMultipleSubscriptions: () =>
        Promise.resolve(options.allowMultipleSubscriptions ?? false),
      checkoutGuard: createCheckoutGuard(admin),
      productIsRecurring: createProductRecurrence(polarClient),
    }),
    // A user's own checkout never reaches the team's part (checkout/team_test.ts tests it).
    team: {
      mayBillTeam: () => Promise.reject(new Error("not a team checkout")),
      billingState: () => Promise.reject(new Error("not a team checkout")),
      allowsMultipleSubscriptions: () => Promise.reject(new Error("not a team checkout")),
      resolveTeamCustomer: () => Promise.reject(new Error("not a team checkout")),
    },
    log: (entry) => logs.push(entry),
  });
  const email = "ada@example.com";
  const userId = await insertUser(db, email);
  const token = await stand.userToken(userId, email);
  const linkedCustomerId = async (user = userId) =>
    (await db.query<{ polar_customer_id: string | null }>(
      "select polar_customer_id from public.user_subscriptions where user_id = $1",
      [user],
    ))[0]?.polar_customer_id;
  return {
    stand,
    polar,
    linkedCustomerId,
    db,
    keys,
    anonKey,
    handler,
    userId,
    email,
    token,
    polarCalls,
    logs,
    upstream,
    [Symbol.asyncDispose]: async () => {
      await polar[Symbol.asyncDispose]();
      await stand[Symbol.asyncDispose]();
    },
  };
}

function checkoutRequest(
  init: Omit<RequestInit, "body"> & { token?: string; body?: unknown; raw?: string } = {},
) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
  if (body !== undefined && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  return new Request("http://localhost/functions/v1/checkout", {
    method: "POST",
    ...init,
    headers,
    body,
  });
}

async function assertJson(response: Response, status: number, body: unknown) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Content-Type"), "application/json");
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.deepEqual(await response.json(), body);
}

function polarValidationError(loc: (string | number)[], msg: string, input?: unknown) {
  return new errors.HTTPValidationError(422, {
    detail: [{ loc, msg, type: "value_error", input }],
  });
}

Deno.test("checkout handler creates the caller's Polar customer by external id, links it, then checks out by customer_id", async () => {
  await using t = await setup();
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  await assertJson(response, 200, { url: CHECKOUT_URL, id: CHECKOUT_ID });
  const [customer] = t.polar.customers.values();
  assert.equal(customer.external_id, t.userId);
  assert.equal(customer.email, t.email);
  assert.deepEqual(t.polar.requests.map((r) => r.route), [
    `GET /v1/customers/external/${t.userId}`,
    "POST /v1/customers/",
  ]);
  assert.deepEqual(t.polarCalls, [{
    products: [PRO],
    success_url: DEFAULT_SUCCESS_URL,
    metadata: { user_id: t.userId },
    customer_id: customer.id,
  }]);
  assert.equal(await t.linkedCustomerId(), customer.id, "the portal works before any webhook");
});

Deno.test("checkout handler offers every product of a products list, in order", async () => {
  await using t = await setup();
  const response = await t.handler(
    checkoutRequest({ token: t.token, body: { products: [TEAM, PRO] } }),
  );
  await assertJson(response, 200, { url: CHECKOUT_URL, id: CHECKOUT_ID });
  assert.deepEqual(t.polarCalls.map((call) => call.products), [[TEAM, PRO]]);
});

Deno.test("checkout handler uses the customer Polar already has for the user, without creating one", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ externalId: t.userId, email: t.email });
  await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  assert.ok(!t.polar.requests.some((r) => r.route === "POST /v1/customers/"));
  assert.deepEqual(t.polarCalls.map((call) => call.customer_id), [customer.id, customer.id]);
  assert.equal(await t.linkedCustomerId(), customer.id);
});

Deno.test("checkout handler replaces a stored link to a customer that is not the user's", async () => {
  await using t = await setup();
  // A link an older version made from metadata.user_id, to a customer with another external id.
  const foreign = t.polar.addCustomer({ externalId: crypto.randomUUID() });
  await linkCustomer(t.db, t.userId, foreign.id);
  await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  const own = [...t.polar.customers.values()].find((c) => c.external_id === t.userId);
  assert.ok(own);
  assert.equal(t.polarCalls[0].customer_id, own.id);
  assert.equal(await t.linkedCustomerId(), own.id);
});

Deno.test("checkout handler answers 409 and links nothing when another customer has the email", async () => {
  await using t = await setup();
  const holder = t.polar.addCustomer({ email: t.email.toUpperCase() });
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  await assertJson(response, 409, { error: EMAIL_TAKEN_MESSAGE });
  assert.equal(t.polarCalls.length, 0, "no checkout");
  assert.equal(await t.linkedCustomerId(), undefined, "no link");
  assert.equal(t.polar.customers.size, 1, "no customer created");
  assert.equal(holder.external_id, null, "the other customer is untouched");
  const [line] = t.logs;
  assert.equal(line.status, 409);
  assert.match(line.cause ?? "", new RegExp(holder.id), "the log names the other customer");
  assert.ok(!JSON.stringify(t.logs).toLowerCase().includes(t.email), "never the email");
});

Deno.test("checkout handler answers 403 for a token without an email when a customer must be created", async () => {
  await using t = await setup();
  const phoneUser = await insertUser(t.db);
  const token = await t.keys.sign({
    ...userClaims({ issuer: ISSUER, sub: phoneUser }),
    email: "",
    phone: "15555550100",
  });
  await assertJson(
    await t.handler(checkoutRequest({ token, body: { product_id: PRO } })),
    403,
    { error: EMAIL_REQUIRED_MESSAGE },
  );
  assert.equal(t.polarCalls.length, 0);
  assert.equal(t.polar.customers.size, 0);
  await t.polar.addCustomer({ externalId: phoneUser });
  await assertJson(
    await t.handler(checkoutRequest({ token, body: { product_id: PRO } })),
    200,
    { url: CHECKOUT_URL, id: CHECKOUT_ID },
  );
});

Deno.test("checkout handler ignores a body that tries to set another user's id, email or customer", async (test) => {
  await using t = await setup();
  const victim = await insertUser(t.db, "victim@example.com");
  const victimCustomer = t.polar.addCustomer({ externalId: victim, email: "victim@example.com" });
  await linkCustomer(t.db, victim, victimCustomer.id);
  const hostile = {
    external_customer_id: victim,
    customer_id: victimCustomer.id,
    customer_email: "victim@example.com",
    customer_external_id: victim,
    metadata: { user_id: victim },
    customer_metadata: { user_id: victim },
    user_id: victim,
    sub: victim,
    email: "victim@example.com",
  };
  const send = async (body: Record<string, unknown>) => {
    t.polarCalls.length = 0;
    const response = await t.handler(checkoutRequest({ token: t.token, body }));
    await assertJson(response, 200, { url: CHECKOUT_URL, id: CHECKOUT_ID });
    return t.polarCalls[0];
  };
  await test.step("the first checkout", async () => {
    assert.deepEqual(await send({ product_id: PRO, ...hostile }), await send({ product_id: PRO }));
  });
  await test.step("a returning customer", async () => {
    const honest = await send({ products: [PRO] });
    assert.deepEqual(await send({ products: [PRO], ...hostile }), honest);
    assert.notEqual(honest.customer_id, victimCustomer.id);
  });
  const sent = JSON.stringify([t.polarCalls, t.polar.requests.map((r) => r.body)]);
  assert.ok(!sent.includes(victim) && !sent.includes("victim@"), "nothing of the victim is sent");
  assert.equal(await t.linkedCustomerId(victim), victimCustomer.id, "the victim keeps their link");
});

Deno.test("checkout handler passes allowed success_url and return_url to Polar", async (test) => {
  await using t = await setup();
  const cases: [Record<string, unknown>, string, string | undefined][] = [
    [{ success_url: "/welcome" }, `${SITE_URL}/welcome?checkout_id={CHECKOUT_ID}`, undefined],
    [
      { success_url: "https://admin.example.com/done?plan=pro", return_url: "/pricing" },
      "https://admin.example.com/done?plan=pro&checkout_id={CHECKOUT_ID}",
      `${SITE_URL}/pricing`,
    ],
    [
      { success_url: `${SITE_URL}/done?id={CHECKOUT_ID}` },
      `${SITE_URL}/done?id={CHECKOUT_ID}`,
      undefined,
    ],
    [{ return_url: SITE_URL }, DEFAULT_SUCCESS_URL, `${SITE_URL}/`],
  ];
  for (const [urls, successUrl, returnUrl] of cases) {
    await test.step(JSON.stringify(urls), async () => {
      t.polarCalls.length = 0;
      const response = await t.handler(
        checkoutRequest({ token: t.token, body: { product_id: PRO, ...urls } }),
      );
      assert.equal(response.status, 200);
      assert.equal(t.polarCalls[0].success_url, successUrl);
      assert.equal(t.polarCalls[0].return_url, returnUrl);
      assert.equal("return_url" in t.polarCalls[0], returnUrl !== undefined);
    });
  }
});

Deno.test("checkout handler accepts any product UUID when POLAR_PRODUCT_IDS is not set", async () => {
  await using t = await setup({ productIds: [] });
  const response = await t.handler(
    checkoutRequest({ token: t.token, body: { product_id: OUTSIDER } }),
  );
  assert.equal(response.status, 200);
  assert.deepEqual(t.polarCalls[0].products, [OUTSIDER]);
});

Deno.test("checkout handler answers 400 for a product outside POLAR_PRODUCT_IDS", async () => {
  await using t = await setup();
  await assertJson(
    await t.handler(checkoutRequest({ token: t.token, body: { product_id: OUTSIDER } })),
    400,
    { error: `Unknown product_id "${OUTSIDER}"` },
  );
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler answers 400 naming what is wrong with the body", async (test) => {
  await using t = await setup();
  const cases: [string, unknown, string][] = [
    ["no product", {}, "Missing product_id or products"],
    ["both fields", { product_id: PRO, products: [TEAM] }, "Send product_id or products, not both"],
    [
      "a non-UUID",
      { product_id: "pro-monthly" },
      'Invalid product_id "pro-monthly": expected a UUID',
    ],
    ["an empty list", { products: [] }, "Invalid products: the list is empty"],
    [
      "eleven products",
      { products: Array.from({ length: 11 }, () => crypto.randomUUID()) },
      "Invalid products: at most 10 product ids",
    ],
    ["a duplicate", { products: [PRO, PRO] }, `Duplicate product id "${PRO}" in products`],
    ["outside the allowlist", { products: [PRO, OUTSIDER] }, `Unknown products[1] "${OUTSIDER}"`],
    [
      "a hostile success_url",
      { product_id: PRO, success_url: "https://evil.example/" },
      `Invalid success_url: expected a URL on ${ORIGINS}`,
    ],
    [
      "a hostile return_url",
      { product_id: PRO, return_url: "//evil.example" },
      `Invalid return_url: expected a URL on ${ORIGINS}`,
    ],
    [
      "a success_url with credentials",
      { product_id: PRO, success_url: "https://user:pass@app.example.com/" },
      `Invalid success_url: expected a URL on ${ORIGINS}`,
    ],
  ];
  for (const [name, body, error] of cases) {
    await test.step(name, async () => {
      await assertJson(await t.handler(checkoutRequest({ token: t.token, body })), 400, { error });
    });
  }
  await test.step("no body at all", async () => {
    await assertJson(await t.handler(checkoutRequest({ token: t.token })), 400, {
      error: "Missing product_id or products",
    });
  });
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler answers 400 for a malformed body", async (test) => {
  await using t = await setup();
  for (const raw of ["{", '{"product_id":', "[]", "42", '"text"', "null", "[".repeat(10_000)]) {
    await test.step(JSON.stringify(raw.slice(0, 20)), async () => {
      const response = await t.handler(checkoutRequest({ token: t.token, raw }));
      await assertJson(response, 400, { error: "Invalid JSON body" });
    });
  }
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler checks the token before reading the body", async () => {
  await using t = await setup();
  const response = await t.handler(checkoutRequest({ raw: "{" }));
  await assertJson(response, 401, { error: "Unauthorized" });
});

Deno.test("checkout handler answers 401 for every token that is not a signed-in user's", async (test) => {
  await using t = await setup();
  const cases = await refusedAuthorizations(t.stand, t.userId);
  for (const [name, authorization] of Object.entries(cases)) {
    await test.step(name, async () => {
      const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
      const response = await t.handler(checkoutRequest({ headers, body: { product_id: PRO } }));
      await assertJson(response, 401, { error: "Unauthorized" });
    });
  }
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler answers 405 with Allow for every method but POST", async (test) => {
  await using t = await setup();
  for (const method of ["GET", "PUT", "PATCH", "DELETE", "HEAD", "PROPFIND"]) {
    await test.step(method, async () => {
      const response = await t.handler(checkoutRequest({ method, token: t.token }));
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("Allow"), "OPTIONS, POST");
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      if (method !== "HEAD") {
        assert.deepEqual(await response.json(), { error: "Method not allowed" });
      }
    });
  }
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler answers 400 with Polar's reasons when Polar refuses the checkout", async (test) => {
  const cases: [string, Error, string][] = [
    [
      "an unknown product",
      polarValidationError(["body", "products", 0], "Product does not exist.", PRO),
      "Polar refused the checkout: products.0: Product does not exist",
    ],
    [
      "a stale customer",
      polarValidationError(["body", "customer_id"], "Customer does not exist.", "secret-ish"),
      "Polar refused the checkout: customer_id: Customer does not exist",
    ],
    [
      "two reasons",
      new errors.HTTPValidationError(422, {
        detail: [
          { loc: ["body", "products", 0], msg: "Product is archived.", type: "value_error" },
          { loc: ["body", "customer_email"], msg: "Invalid email", type: "value_error" },
        ],
      }),
      "Polar refused the checkout: products.0: Product is archived; customer_email: Invalid email",
    ],
    [
      "a 422 without details",
      // A 422 whose body is not the documented list of details still answers 400.
      new errors.HTTPValidationError(422, { detail: "Unprocessable" } as never),
      "Polar refused the checkout",
    ],
  ];
  for (const [name, polarError, message] of cases) {
    await test.step(name, async () => {
      await using t = await setup({ polarError });
      const response = await t.handler(
        checkoutRequest({ token: t.token, body: { product_id: PRO } }),
      );
      await assertJson(response, 400, { error: message });
      assert.equal(t.logs[0].status, 400);
      assert.ok(!JSON.stringify(t.logs).includes("ada@example.com"), "no email in the log");
      assert.ok(!JSON.stringify(t.logs).includes("secret-ish"), "no Polar input in the log");
    });
  }
});

Deno.test("checkout handler answers 500 without the cause when Polar fails otherwise", async (test) => {
  const cases: Record<string, Error> = {
    "a server error": new Error("Polar API returned a server error: 502 - upstream secret detail"),
    "a 403": new errors.NotPermitted(403, { error: "NotPermitted", detail: "Not permitted" }),
    "a timeout": new DOMException("Signal timed out.", "TimeoutError"),
  };
  for (const [name, polarError] of Object.entries(cases)) {
    await test.step(name, async () => {
      await using t = await setup({ polarError });
      const response = await t.handler(
        checkoutRequest({ token: t.token, body: { product_id: PRO } }),
      );
      await assertJson(response, 500, { error: "Something went wrong" });
      const [line] = t.logs;
      assert.equal(line.status, 500);
      assert.equal(line.outcome, "failed");
      assert.ok(line.cause, "the cause is logged");
    });
  }
});

Deno.test("checkout handler answers 500 and checks nothing out when the link cannot be written", async () => {
  await using t = await setup();
  await t.db.exec(
    "revoke execute on function public.link_polar_customer(uuid, text, text, timestamptz, boolean) from service_role",
  );
  await assertJson(
    await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } })),
    500,
    { error: "Something went wrong" },
  );
  assert.match(t.logs[0].cause ?? "", /42501: permission denied/, "the code and message logged");
  assert.equal(t.polarCalls.length, 0, "no checkout without a linked customer");
});

Deno.test("checkout handler's warm path makes two database calls, one beside Polar's, and none to Auth", async () => {
  await using t = await setup();
  await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  t.upstream.length = 0;
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  assert.equal(response.status, 200);
  assert.deepEqual(t.upstream.toSorted(), [
    "/rest/v1/rpc/link_polar_customer",
    "/rest/v1/rpc/polar_checkout_guard",
  ], "the rule's read runs beside the customer lookup");
  assert.equal(t.polarCalls.length, 2);
});

Deno.test("checkout handler answers the preflight before any auth", async () => {
  await using t = await setup();
  const response = await t.handler(checkoutRequest({
    method: "OPTIONS",
    headers: {
      Origin: SITE_URL,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization, x-client-info, apikey, content-type",
    },
  }));
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.match(response.headers.get("Access-Control-Allow-Headers") ?? "", /authorization/);
  assert.match(response.headers.get("Access-Control-Allow-Methods") ?? "", /POST/);
  assert.deepEqual(t.upstream, []);
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler answers only allowed origins when ALLOWED_ORIGINS restricts CORS", async () => {
  await using t = await setup({ restrictCors: true });
  const from = async (origin: string) =>
    (await t.handler(checkoutRequest({
      token: t.token,
      headers: { Origin: origin },
      body: { product_id: PRO },
    }))).headers;
  const allowed = await from("https://admin.example.com");
  assert.equal(allowed.get("Access-Control-Allow-Origin"), "https://admin.example.com");
  assert.equal(allowed.get("Vary"), "Origin");
  assert.equal((await from("https://evil.example")).get("Access-Control-Allow-Origin"), SITE_URL);
});

Deno.test("checkout handler refuses oversized and non-JSON bodies", async () => {
  await using t = await setup();
  const big = { product_id: PRO, pad: "x".repeat(70 * 1024) };
  await assertJson(await t.handler(checkoutRequest({ token: t.token, body: big })), 413, {
    error: "Request body too large",
  });
  const form = checkoutRequest({
    token: t.token,
    raw: `product_id=${PRO}`,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  await assertJson(await t.handler(form), 415, { error: "Content-Type must be application/json" });
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("checkout handler logs one line per request and never the token or the body", async () => {
  await using t = await setup();
  await t.handler(checkoutRequest({
    token: t.token,
    body: { product_id: PRO, success_url: "/welcome-page" },
  }));
  await t.handler(checkoutRequest({ token: t.token.slice(0, -4) + "AAAA", body: {} }));
  assert.deepEqual(
    t.logs.map(({ function: name, method, status, outcome }) => ({
      name,
      method,
      status,
      outcome,
    })),
    [
      { name: "checkout", method: "POST", status: 200, outcome: "ok" },
      { name: "checkout", method: "POST", status: 401, outcome: "rejected" },
    ],
  );
  const text = JSON.stringify(t.logs);
  assert.ok(!text.includes(t.token.split(".")[2].slice(0, 20)), "no token in the log");
  assert.ok(!text.includes("welcome-page") && !text.includes(PRO), "no body in the log");
  assert.ok(!text.includes(t.email), "no email in the log");
  assert.equal(typeof t.logs[0].duration_ms, "number");
});

// ----- One subscription unless the organization allows several -------------------------------

/** The user holds a live subscription to PRO; the catalog knows PRO as a plan, PACK as one-time. */
async function subscribe(
  t: Awaited<ReturnType<typeof setup>>,
  fields: { status?: string; endedAt?: string | null; userId?: string } = {},
) {
  const userId = fields.userId ?? t.userId;
  const customer = t.polar.customers.get(String(await t.linkedCustomerId(userId))) ??
    t.polar.addCustomer({ externalId: userId, email: userId === t.userId ? t.email : undefined });
  if ((await t.linkedCustomerId(userId)) === undefined) {
    await linkCustomer(t.db, userId, customer.id);
  }
  await t.db.query(
    `insert into public.polar_subscriptions
       (id, user_id, polar_customer_id, product_id, status, ended_at, in_latest_state, polar_modified_at)
     values ($1, $2, $3, $4, $5, $6, true, now())`,
    [
      `sub_${crypto.randomUUID()}`,
      userId,
      customer.id,
      PRO,
      fields.status ?? "active",
      fields.endedAt ?? null,
    ],
  );
  await t.db.query(
    `insert into public.polar_products (id, name, is_recurring, polar_modified_at)
     values ($1, 'Pro', true, now()), ($2, 'Credit pack', false, now())
     on conflict do nothing`,
    [PRO, PACK],
  );
  return customer;
}

Deno.test("checkout handler answers 409 with words a user can act on for a second subscription", async () => {
  await using t = await setup({ productIds: [PRO, TEAM, PACK] });
  await subscribe(t);
  for (const body of [{ product_id: PRO }, { products: [PACK, PRO] }]) {
    const response = await t.handler(checkoutRequest({ token: t.token, body }));
    await assertJson(response, 409, { error: ALREADY_SUBSCRIBED_MESSAGE });
  }
  assert.equal(
    ALREADY_SUBSCRIBED_MESSAGE,
    "You already have an active subscription. Manage it from the billing portal.",
  );
  assert.equal(t.polarCalls.length, 0, "no checkout reached Polar");
  assert.deepEqual(t.logs.map((l) => [l.status, l.outcome]), [[409, "rejected"], [
    409,
    "rejected",
  ]]);
  assert.match(t.logs[0].cause ?? "", /sub_/, "the live subscription is named in the log only");
});

Deno.test("checkout handler never blocks a one-time product for a subscriber", async () => {
  await using t = await setup({ productIds: [PRO, TEAM, PACK] });
  await subscribe(t);
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PACK } }));
  await assertJson(response, 200, { url: CHECKOUT_URL, id: CHECKOUT_ID });
});

Deno.test("checkout handler lets a subscriber subscribe again when the organization allows several", async () => {
  await using t = await setup({ allowMultipleSubscriptions: true });
  await subscribe(t);
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  await assertJson(response, 200, { url: CHECKOUT_URL, id: CHECKOUT_ID });
});

Deno.test("checkout handler counts only live subscriptions of the caller", async (test) => {
  const cases: Record<string, { status?: string; endedAt?: string | null; blocked: boolean }> = {
    "active": { blocked: true },
    "trialing": { status: "trialing", blocked: true },
    "past_due (Polar still bills it)": { status: "past_due", blocked: true },
    "canceled and ended": { status: "canceled", endedAt: "2026-11-01T00:00:00Z", blocked: false },
    "incomplete (never paid)": { status: "incomplete", blocked: false },
  };
  for (const [name, fields] of Object.entries(cases)) {
    await test.step(name, async () => {
      await using t = await setup();
      await subscribe(t, fields);
      const response = await t.handler(
        checkoutRequest({ token: t.token, body: { product_id: PRO } }),
      );
      assert.equal(response.status, fields.blocked ? 409 : 200);
    });
  }
  await test.step("another user's live subscription", async () => {
    await using t = await setup();
    await subscribe(t, { userId: await insertUser(t.db) });
    const response = await t.handler(
      checkoutRequest({ token: t.token, body: { product_id: PRO } }),
    );
    assert.equal(response.status, 200);
  });
});

Deno.test("checkout handler asks Polar whether a product the catalog does not know recurs", async () => {
  await using t = await setup();
  await subscribe(t);
  t.polar.products.push(
    productModel({ id: TEAM, name: "Team", interval: "month", priceCents: 5000 }),
  );
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: TEAM } }));
  await assertJson(response, 409, { error: ALREADY_SUBSCRIBED_MESSAGE });
  assert.ok(t.polar.requests.some((r) => r.route === `GET /v1/products/${TEAM}`));
  t.polar.products.splice(-1, 1, productModel({ id: TEAM, name: "Team pack", priceCents: 5000 }));
  const oneTime = await t.handler(checkoutRequest({ token: t.token, body: { product_id: TEAM } }));
  assert.equal(oneTime.status, 200, "a one-time product Polar knows goes ahead");
});

Deno.test("checkout handler answers Polar's own refusal of a second subscription with the same 409", async () => {
  // What the SDK throws for Polar's 403: a PolarClientError holding the body's text.
  const refusal = new PolarClientError(
    403,
    JSON.stringify({
      error: "AlreadyActiveSubscriptionError",
      detail: "You already have an active subscription.",
    }),
  );
  await using t = await setup({ polarError: refusal });
  const response = await t.handler(checkoutRequest({ token: t.token, body: { product_id: PRO } }));
  await assertJson(response, 409, { error: ALREADY_SUBSCRIBED_MESSAGE });
  assert.equal(t.logs[0].outcome, "rejected", "a user's conflict, not a server fault");
});
