import assert from "node:assert/strict";
import { errors } from "@polar-sh/sdk/2026-10";
import { createCallerAccess } from "../_polar/caller.ts";
import type { RequestLog } from "../_polar/log.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { refusedAuthorizations } from "../tests/support/refused_tokens.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { userClaims } from "../tests/support/keys.ts";
import { createPortalHandler } from "./handler.ts";

const SUPABASE_URL = "http://supabase.test";
const ISSUER = `${SUPABASE_URL}/auth/v1`;
const SITE_URL = "https://app.example.com";
const ORIGINS = `${SITE_URL} or https://admin.example.com`;
const PORTAL_URL = "https://sandbox.polar.sh/acme/portal?customer_session_token=polar_cst_test";

/** A portal handler wired to real auth verification and RLS reads, with Polar replaced. */
async function setup(options: { polarError?: Error; restrictCors?: boolean } = {}) {
  const stand = await createTestSupabase();
  const { db, keys, anonKey, upstream } = stand;
  const polarCalls: { customerId: string; returnUrl: string }[] = [];
  const logs: RequestLog[] = [];
  const handler = createPortalHandler({
    config: {
      siteUrl: SITE_URL,
      allowedOrigins: [SITE_URL, "https://admin.example.com"],
      restrictCorsOrigins: options.restrictCors ?? false,
    },
    ...createCallerAccess({
      supabaseUrl: stand.url,
      supabasePublishableKey: anonKey,
      authIssuer: ISSUER,
      supabaseJwks: undefined,
    }, { fetch: stand.fetch }),
    createPortalUrl: (customerId, returnUrl) => {
      polarCalls.push({ customerId, returnUrl });
      return options.polarError ? Promise.reject(options.polarError) : Promise.resolve(PORTAL_URL);
    },
    // A user's own portal never asks for a member session (portal/team_test.ts tests it).
    createTeamPortalUrl: () => Promise.reject(new Error("not a team portal")),
    log: (entry) => logs.push(entry),
  });
  const userId = await insertUser(db);
  const customerId = crypto.randomUUID();
  await linkCustomer(db, userId, customerId);
  const token = await stand.userToken(userId);
  return {
    stand,
    db,
    keys,
    anonKey,
    handler,
    userId,
    customerId,
    token,
    polarCalls,
    logs,
    upstream,
    [Symbol.asyncDispose]: () => stand[Symbol.asyncDispose](),
  };
}

function portalRequest(init: RequestInit & { token?: string; query?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  if (typeof init.body === "string" && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  return new Request(`http://localhost/functions/v1/portal${init.query ?? ""}`, {
    method: "POST",
    ...init,
    headers,
  });
}

async function assertJson(response: Response, status: number, body: unknown) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Content-Type"), "application/json");
  assert.deepEqual(await response.json(), body);
}

Deno.test("portal handler answers 200 with the portal URL for a POST", async () => {
  await using t = await setup();
  const response = await t.handler(portalRequest({ token: t.token }));
  await assertJson(response, 200, { url: PORTAL_URL });
  assert.deepEqual(t.polarCalls, [{ customerId: t.customerId, returnUrl: SITE_URL }]);
});

Deno.test("portal handler answers 200 for a GET, as the seed's route does", async () => {
  await using t = await setup();
  const response = await t.handler(portalRequest({ method: "GET", token: t.token }));
  await assertJson(response, 200, { url: PORTAL_URL });
});

Deno.test("portal handler passes an allowed return_url from the body or the query", async () => {
  await using t = await setup();
  await t.handler(portalRequest({
    token: t.token,
    body: JSON.stringify({ return_url: "https://admin.example.com/billing?tab=1" }),
  }));
  await t.handler(portalRequest({
    method: "GET",
    token: t.token,
    query: `?return_url=${encodeURIComponent("/account")}`,
  }));
  assert.deepEqual(t.polarCalls.map((call) => call.returnUrl), [
    "https://admin.example.com/billing?tab=1",
    "https://app.example.com/account",
  ]);
});

Deno.test("portal handler's warm path makes one database round trip and none to Auth", async () => {
  await using t = await setup();
  await t.handler(portalRequest({ token: t.token }));
  t.upstream.length = 0;
  const response = await t.handler(portalRequest({ token: t.token }));
  assert.equal(response.status, 200);
  assert.deepEqual(t.upstream, ["/rest/v1/user_subscriptions"]);
  assert.equal(t.polarCalls.length, 2);
});

Deno.test("portal handler answers 400 for a malformed body", async (test) => {
  await using t = await setup();
  for (const body of ["{", '{"return_url":', "[]", "42", '"text"', "null", "[".repeat(10_000)]) {
    await test.step(JSON.stringify(body.slice(0, 20)), async () => {
      const response = await t.handler(portalRequest({ token: t.token, body }));
      await assertJson(response, 400, { error: "Invalid JSON body" });
    });
  }
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("portal handler answers 400 for a return_url off the allowed origins", async (test) => {
  await using t = await setup();
  const hostile = [
    "javascript:alert(1)",
    "//evil.example",
    "https://evil.example/",
    "https://app.example.com@evil.example/",
    "https://app.example.com.evil.example/",
    "https://app.example.com:8443/",
    "http://app.example.com/",
    "/\\evil.example",
    "https://evil.example%2F@app.example.com/",
    "https://app.example.com%40evil.example/",
    "data:text/html,hi",
    "",
    42,
    ["https://app.example.com/"],
    "https://app.example.com/" + "a".repeat(3000),
  ];
  for (const returnUrl of hostile) {
    await test.step(JSON.stringify(returnUrl).slice(0, 60), async () => {
      const response = await t.handler(portalRequest({
        token: t.token,
        body: JSON.stringify({ return_url: returnUrl }),
      }));
      await assertJson(response, 400, {
        error: `Invalid return_url: expected a URL on ${ORIGINS}`,
      });
    });
  }
  const viaQuery = await t.handler(portalRequest({
    method: "GET",
    token: t.token,
    query: "?return_url=https%3A%2F%2Fevil.example",
  }));
  await assertJson(viaQuery, 400, { error: `Invalid return_url: expected a URL on ${ORIGINS}` });
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("portal handler answers 401 for every token that is not a signed-in user's", async (test) => {
  await using t = await setup();
  const cases = await refusedAuthorizations(t.stand, t.userId);
  for (const [name, authorization] of Object.entries(cases)) {
    await test.step(name, async () => {
      const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
      const response = await t.handler(portalRequest({ headers }));
      await assertJson(response, 401, { error: "Unauthorized" });
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    });
  }
  assert.equal(t.polarCalls.length, 0);
  // The verifier refuses them itself: the database never sees one (PostgREST would refuse some).
  assert.deepEqual(t.upstream.filter((path) => !path.endsWith("/jwks.json")), []);
});

Deno.test("portal handler answers 404 when the user has no customer", async (test) => {
  await using t = await setup();
  await test.step("no row", async () => {
    const stranger = await insertUser(t.db);
    const token = await t.keys.sign(userClaims({ issuer: ISSUER, sub: stranger }));
    await assertJson(await t.handler(portalRequest({ token })), 404, {
      error: "No subscription found",
    });
  });
  await test.step("a row without polar_customer_id", async () => {
    const pending = await insertUser(t.db);
    await t.db.query("insert into public.user_subscriptions (user_id) values ($1)", [pending]);
    const token = await t.keys.sign(userClaims({ issuer: ISSUER, sub: pending }));
    await assertJson(await t.handler(portalRequest({ token })), 404, {
      error: "No subscription found",
    });
  });
  await test.step("a user id that is not in auth.users", async () => {
    const token = await t.keys.sign(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }));
    await assertJson(await t.handler(portalRequest({ token })), 404, {
      error: "No subscription found",
    });
  });
  assert.equal(t.polarCalls.length, 0, "another user's customer is never used");
});

Deno.test("portal handler answers 404 when Polar no longer knows the customer", async () => {
  const unknownCustomer = new errors.HTTPValidationError(422, {
    detail: [{
      loc: ["body", "customer_id"],
      msg: "Customer does not exist.",
      type: "value_error",
    }],
  });
  await using t = await setup({ polarError: unknownCustomer });
  await assertJson(await t.handler(portalRequest({ token: t.token })), 404, {
    error: "No subscription found",
  });
});

Deno.test("portal handler answers 405 with Allow for other methods", async (test) => {
  await using t = await setup();
  for (const method of ["PUT", "PATCH", "DELETE", "HEAD", "PROPFIND"]) {
    await test.step(method, async () => {
      const response = await t.handler(portalRequest({ method, token: t.token }));
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("Allow"), "OPTIONS, GET, POST");
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      if (method !== "HEAD") {
        assert.deepEqual(await response.json(), { error: "Method not allowed" });
      }
    });
  }
});

Deno.test("portal handler answers 500 without the cause when Polar fails", async () => {
  const polarError = new Error("Polar API returned a server error: 502 - upstream secret detail");
  await using t = await setup({ polarError });
  const response = await t.handler(portalRequest({ token: t.token }));
  await assertJson(response, 500, { error: "Something went wrong" });
  const [line] = t.logs;
  assert.equal(line.status, 500);
  assert.equal(line.outcome, "failed");
  assert.match(line.cause ?? "", /502/);
});

Deno.test("portal handler answers 500 when a Polar 422 is about something else", async () => {
  const otherValidation = new errors.HTTPValidationError(422, {
    detail: [{ loc: ["body", "return_url"], msg: "Invalid URL", type: "value_error" }],
  });
  await using t = await setup({ polarError: otherValidation });
  await assertJson(await t.handler(portalRequest({ token: t.token })), 500, {
    error: "Something went wrong",
  });
});

Deno.test("portal handler answers 500 when the database read fails", async () => {
  await using t = await setup();
  await t.db.exec("revoke select on public.user_subscriptions from authenticated");
  await assertJson(await t.handler(portalRequest({ token: t.token })), 500, {
    error: "Something went wrong",
  });
  assert.match(t.logs[0].cause ?? "", /permission denied/);
});

Deno.test("portal handler answers the preflight before any auth", async () => {
  await using t = await setup();
  const response = await t.handler(portalRequest({
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
});

Deno.test("portal handler answers only allowed origins when ALLOWED_ORIGINS restricts CORS", async () => {
  await using t = await setup({ restrictCors: true });
  const from = async (origin: string) =>
    (await t.handler(portalRequest({ token: t.token, headers: { Origin: origin } }))).headers;
  const allowed = await from("https://admin.example.com");
  assert.equal(allowed.get("Access-Control-Allow-Origin"), "https://admin.example.com");
  assert.equal(allowed.get("Vary"), "Origin");
  assert.equal((await from("https://evil.example")).get("Access-Control-Allow-Origin"), SITE_URL);
});

Deno.test("portal handler refuses oversized and non-JSON bodies", async () => {
  await using t = await setup();
  const big = JSON.stringify({ return_url: SITE_URL, pad: "x".repeat(70 * 1024) });
  await assertJson(await t.handler(portalRequest({ token: t.token, body: big })), 413, {
    error: "Request body too large",
  });
  const form = portalRequest({
    token: t.token,
    body: "return_url=https://app.example.com",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  await assertJson(await t.handler(form), 415, { error: "Content-Type must be application/json" });
  const jsonAsText = portalRequest({
    token: t.token,
    body: JSON.stringify({ return_url: "/account" }),
    headers: { "Content-Type": "text/plain;charset=UTF-8" },
  });
  await assertJson(await t.handler(jsonAsText), 415, {
    error: "Content-Type must be application/json",
  });
  assert.equal(t.polarCalls.length, 0);
});

Deno.test("portal handler logs one line per request and never the token", async () => {
  await using t = await setup();
  await t.handler(portalRequest({ token: t.token, body: JSON.stringify({ return_url: "/x" }) }));
  await t.handler(portalRequest({ token: t.token.slice(0, -4) + "AAAA" }));
  assert.equal(t.logs.length, 2);
  assert.deepEqual(
    t.logs.map(({ function: name, method, status, outcome }) => ({
      name,
      method,
      status,
      outcome,
    })),
    [
      { name: "portal", method: "POST", status: 200, outcome: "ok" },
      { name: "portal", method: "POST", status: 401, outcome: "rejected" },
    ],
  );
  const text = JSON.stringify(t.logs);
  assert.ok(!text.includes(t.token.split(".")[2].slice(0, 20)), "no token in the log");
  assert.ok(!text.includes("return_url"), "no body in the log");
  assert.equal(typeof t.logs[0].duration_ms, "number");
});
