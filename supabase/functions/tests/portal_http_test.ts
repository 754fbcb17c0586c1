/**
 * The real `portal` function, started with `deno run` as a user would, on 127.0.0.1, against
 * loopback stand-ins of Supabase (JWKS, PostgREST on PGlite) and Polar.
 */
import assert from "node:assert/strict";
import { insertUser, linkCustomer } from "./support/database.ts";
import { startFakePolar } from "./support/fake_polar.ts";
import { createTestKeys, userClaims } from "./support/keys.ts";
import { startFunction } from "./support/loopback.ts";
import { assertMisconfigured } from "./support/misconfigured.ts";
import { createTestSupabase } from "./support/supabase_stand_in.ts";
import { createHttpTeamWorld, SITE_URL as TEAM_SITE_URL } from "./support/team_http.ts";
import { NO_TEAM_BILLING_MESSAGE, NOT_A_MEMBER_MESSAGE } from "../portal/handler.ts";

const SITE_URL = "http://127.0.0.1:3000";

/** Starts the stand-ins and the portal; `env` adds variables, or removes them when `undefined`. */
async function setup(
  env: (supabase: { anonKey: string; jwks: unknown }) => Record<string, string | undefined> =
    () => ({}),
) {
  const supabase = await createTestSupabase("loopback");
  const { db, keys, issuer, upstream, anonKey } = supabase;
  const polar = await startFakePolar();
  const vars = {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: anonKey,
    POLAR_ACCESS_TOKEN: "polar_oat_test_token",
    POLAR_API_URL: polar.url,
    SITE_URL,
    ...env({ anonKey, jwks: keys.jwks }),
  };
  const portal = await startFunction(
    "portal",
    Object.fromEntries(
      Object.entries(vars).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
  );
  const userId = await insertUser(db);
  const customer = polar.addCustomer({ externalId: userId });
  await linkCustomer(db, userId, customer.id);
  const token = await supabase.userToken(userId);
  return {
    db,
    keys,
    issuer,
    polar,
    portal,
    upstream,
    userId,
    customer,
    token,
    anonKey,
    async [Symbol.asyncDispose]() {
      await portal[Symbol.asyncDispose]();
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

function invoke(url: string, token?: string, init: RequestInit = {}) {
  return fetch(`${url}/`, {
    method: "POST",
    ...init,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      Origin: SITE_URL,
      ...init.headers,
    },
  });
}

Deno.test("portal over HTTP answers a signed-in customer with Polar's portal URL", async () => {
  await using t = await setup();
  const response = await invoke(t.portal.url, t.token, {
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ return_url: `${SITE_URL}/account` }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  const { url } = await response.json();
  assert.match(
    url,
    /^https:\/\/sandbox\.polar\.sh\/acme\/portal\?customer_session_token=polar_cst_/,
  );

  const [call] = t.polar.requests;
  assert.equal(call.route, "POST /v1/customer-sessions/");
  assert.equal(call.headers.get("Authorization"), "Bearer polar_oat_test_token");
  assert.equal(call.headers.get("Polar-Version"), "2026-10");
  assert.deepEqual(call.body, { customer_id: t.customer.id, return_url: `${SITE_URL}/account` });
});

Deno.test("portal over HTTP makes two upstream round trips when warm", async () => {
  await using t = await setup();
  assert.equal((await invoke(t.portal.url, t.token)).status, 200);
  t.upstream.length = 0;
  t.polar.requests.length = 0;
  const response = await invoke(t.portal.url, t.token);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.deepEqual(t.upstream, ["/rest/v1/user_subscriptions"], "one database read, no Auth call");
  assert.equal(t.polar.requests.length, 1, "one Polar call");
});

Deno.test("portal over HTTP answers the contract's errors with CORS headers", async (test) => {
  await using t = await setup();
  const cases: [string, () => Promise<Response>, number, unknown][] = [
    ["no token", () => invoke(t.portal.url), 401, { error: "Unauthorized" }],
    ["the anon key", () => invoke(t.portal.url, t.anonKey), 401, { error: "Unauthorized" }],
    [
      "bad JSON",
      () =>
        invoke(t.portal.url, t.token, {
          headers: { "Content-Type": "application/json" },
          body: "{",
        }),
      400,
      { error: "Invalid JSON body" },
    ],
    [
      "hostile return_url",
      () =>
        invoke(t.portal.url, t.token, {
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ return_url: "https://evil.example/" }),
        }),
      400,
      { error: `Invalid return_url: expected a URL on ${SITE_URL}` },
    ],
    ["DELETE", () => invoke(t.portal.url, t.token, { method: "DELETE" }), 405, {
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
  await test.step("a customer Polar no longer knows", async () => {
    t.polar.customers.clear();
    const response = await invoke(t.portal.url, t.token);
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), { error: "No subscription found" });
  });
});

Deno.test("portal over HTTP answers 500 within the time budget when Polar fails", async (test) => {
  await using t = await setup();
  for (const mode of ["server_error", "rate_limited", "drop", "hang"] as const) {
    await test.step(mode, async () => {
      t.polar.mode = mode;
      const started = performance.now();
      const response = await invoke(t.portal.url, t.token);
      const elapsed = performance.now() - started;
      assert.equal(response.status, 500);
      assert.deepEqual(await response.json(), { error: "Something went wrong" });
      assert.ok(elapsed < 10_000, `answered in ${Math.round(elapsed)} ms`);
    });
  }
});

Deno.test("portal over HTTP: tokens with made-up kids cost at most one JWKS fetch and no Auth call", async () => {
  await using t = await setup();
  assert.equal((await invoke(t.portal.url, t.token)).status, 200, "warm: the keys are cached");
  t.upstream.length = 0;
  const forger = await createTestKeys();
  for (let i = 0; i < 20; i++) {
    const token = await forger.sign(userClaims({ issuer: t.issuer, sub: t.userId }), {
      kid: crypto.randomUUID(),
    });
    const response = await invoke(t.portal.url, token);
    assert.equal(response.status, 401);
    await response.body?.cancel();
  }
  const jwks = t.upstream.filter((path) => path.endsWith("/jwks.json")).length;
  assert.ok(jwks <= 1, `${jwks} JWKS fetches for 20 unknown kids`);
  assert.deepEqual(t.upstream.filter((path) => !path.endsWith("/jwks.json")), [], "no Auth call");
});

Deno.test("portal over HTTP with ALLOWED_ORIGINS answers CORS for those origins only", async (test) => {
  await using t = await setup(() => ({ ALLOWED_ORIGINS: "https://admin.example.com" }));
  const allowOrigin = async (origin: string, init: RequestInit = {}) => {
    const response = await invoke(t.portal.url, t.token, {
      ...init,
      headers: { ...init.headers, Origin: origin },
    });
    await response.body?.cancel();
    assert.equal(response.headers.get("Vary"), "Origin");
    return response.headers.get("Access-Control-Allow-Origin");
  };
  for (const method of ["POST", "OPTIONS"]) {
    await test.step(method, async () => {
      const preflight = method === "OPTIONS"
        ? { method, headers: { "Access-Control-Request-Method": "POST" } }
        : {};
      assert.equal(
        await allowOrigin("https://admin.example.com", preflight),
        "https://admin.example.com",
      );
      assert.equal(await allowOrigin(SITE_URL, preflight), SITE_URL);
      // An origin off the list gets the site's origin, which its browser refuses, never `*`.
      assert.equal(await allowOrigin("https://evil.example", preflight), SITE_URL);
    });
  }
});

Deno.test("portal over HTTP with SUPABASE_JWKS and the new keys never fetches the JWKS", async () => {
  await using t = await setup(({ anonKey, jwks }) => ({
    SUPABASE_ANON_KEY: undefined,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: anonKey }),
    SUPABASE_JWKS: JSON.stringify(jwks),
  }));
  const response = await invoke(t.portal.url, t.token);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.equal((await invoke(t.portal.url, t.anonKey)).status, 401);
  assert.deepEqual(t.upstream, ["/rest/v1/user_subscriptions"], "no JWKS fetch, no Auth call");
});

Deno.test("portal over HTTP logs one JSON line per request without the token", async () => {
  await using t = await setup();
  await (await invoke(t.portal.url, t.token)).body?.cancel();
  await (await invoke(t.portal.url, "x.y.z")).body?.cancel();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const lines = t.portal.output().trim().split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line)).filter((line) => line.method !== "OPTIONS");
  assert.deepEqual(lines.map((line) => [line.function, line.status]), [["portal", 200], [
    "portal",
    401,
  ]]);
  assert.ok(!t.portal.output().includes(t.token), "the token is not logged");
  assert.ok(!t.portal.output().includes("polar_oat_test_token"), "the Polar token is not logged");
});

Deno.test("portal without its variables logs one line naming every one, then answers JSON 500 with CORS", async () => {
  await assertMisconfigured(
    "portal",
    { SUPABASE_URL: "http://127.0.0.1:1", SITE_URL },
    /SUPABASE_PUBLISHABLE_KEYS, .* is required but none is set; POLAR_ACCESS_TOKEN is required/,
  );
});

Deno.test("portal over HTTP for a team opens the caller's own member session", async () => {
  await using t = await createHttpTeamWorld("portal");
  const response = await t.invoke("POST", t.users.olive.token, {
    team_id: t.teams.a.id,
    external_member_id: t.users.quinn.id,
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.match((await response.json()).url, /customer_session_token=/);
  const [call] = t.polar.requests;
  assert.equal(call.route, "POST /v1/customer-sessions/");
  assert.deepEqual(call.body, {
    external_customer_id: t.teams.a.id,
    external_member_id: t.users.olive.id,
    return_url: TEAM_SITE_URL,
  });
});

Deno.test("portal over HTTP for a team refuses another team's member, an unknown team and a bad team_id", async (test) => {
  await using t = await createHttpTeamWorld("portal");
  const cases: [string, () => Promise<Response>, number, string][] = [
    [
      "a member of team A asking for team B's portal",
      () => t.invoke("POST", t.users.olive.token, { team_id: t.teams.b.id }),
      403,
      NOT_A_MEMBER_MESSAGE,
    ],
    [
      "an app user in no team",
      () => t.invoke("GET", t.users.max.token, undefined, `?team_id=${t.teams.a.id}`),
      403,
      NOT_A_MEMBER_MESSAGE,
    ],
    [
      "a team Polar does not know",
      () => t.invoke("POST", t.users.olive.token, { team_id: crypto.randomUUID() }),
      404,
      NO_TEAM_BILLING_MESSAGE,
    ],
    [
      "a team_id that is no uuid",
      () => t.invoke("POST", t.users.olive.token, { team_id: "team-b" }),
      400,
      'Invalid team_id "team-b": expected a UUID',
    ],
  ];
  for (const [name, call, status, error] of cases) {
    await test.step(name, async () => {
      const response = await call();
      assert.equal(response.status, status);
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await response.json(), { error });
    });
  }
});
