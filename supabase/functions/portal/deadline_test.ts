/**
 * One deadline per request, over all of its upstream calls together: the portal's production
 * dependencies (real verifier, real PostgREST read on PGlite, the real Polar SDK against a
 * loopback fake), with each upstream slow in turn and a short budget for the request.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { requestDeadline } from "../_polar/deadline.ts";
import type { RequestLog } from "../_polar/log.ts";
import { insertUser, linkCustomer } from "../tests/support/database.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { userClaims } from "../tests/support/keys.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { createPortalDependencies, createPortalHandler } from "./handler.ts";

const SITE_URL = "https://app.example.com";
/** The request's whole budget in these tests. */
const BUDGET_MS = 400;
/** How late a slow upstream answers: far past the budget, far below the test runner's patience. */
const SLOW_MS = 5_000;

type Upstream = "jwks" | "auth" | "rest" | "polar";

async function setup(options: { slow?: Upstream; delays?: Partial<Record<Upstream, number>> }) {
  const stand = await createTestSupabase();
  const polar = await startFakePolar();
  const aborted: string[] = [];
  const legacy = options.slow === "auth";
  const legacySecret = crypto.getRandomValues(new Uint8Array(32));
  const delayFor = (path: string): number => {
    const kind: Upstream | undefined = path.endsWith("/jwks.json")
      ? "jwks"
      : path === "/auth/v1/user"
      ? "auth"
      : path.startsWith("/rest/v1/")
      ? "rest"
      : undefined;
    if (!kind) return 0;
    return options.slow === kind ? SLOW_MS : options.delays?.[kind] ?? 0;
  };
  // The stand-in's fetch, with the chosen upstream late; a late call notes when it is cut off.
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    const ms = delayFor(path);
    if (ms > 0) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          aborted.push(path);
          reject(init!.signal!.reason);
        };
        const timer = setTimeout(() => {
          init?.signal?.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        init?.signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    // A legacy-only project publishes no asymmetric key; Auth then checks HS256 tokens itself.
    if (legacy && path.endsWith("/jwks.json")) return Response.json({ keys: [] });
    return stand.fetch(input, init);
  };
  const logs: RequestLog[] = [];
  const deps = createPortalDependencies({
    supabaseUrl: stand.url,
    supabasePublishableKey: stand.anonKey,
    authIssuer: stand.issuer,
    supabaseJwks: undefined,
    polar: { accessToken: "polar_oat_test", server: "sandbox", apiUrl: polar.url },
    siteUrl: SITE_URL,
    allowedOrigins: [SITE_URL],
    restrictCorsOrigins: false,
    productIds: [],
  }, { fetch });
  const handler = createPortalHandler({ ...deps, log: (line) => logs.push(line) });
  const userId = await insertUser(stand.db);
  const customer = polar.addCustomer({ externalId: userId });
  await linkCustomer(stand.db, userId, customer.id);
  if (options.slow === "polar") polar.mode = "hang";
  const claims = userClaims({ issuer: stand.issuer, sub: userId });
  const token = legacy
    ? await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(legacySecret)
    : await stand.userToken(userId);
  const call = () => {
    const request = new Request("http://localhost/functions/v1/portal", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    requestDeadline(request, BUDGET_MS);
    return handler(request);
  };
  return {
    call,
    aborted,
    logs,
    polar,
    async [Symbol.asyncDispose]() {
      await polar[Symbol.asyncDispose]();
      await stand[Symbol.asyncDispose]();
    },
  };
}

const PATHS: Record<Exclude<Upstream, "polar">, string> = {
  jwks: "/auth/v1/.well-known/jwks.json",
  auth: "/auth/v1/user",
  rest: "/rest/v1/user_subscriptions",
};

for (const slow of ["jwks", "auth", "rest"] as const) {
  Deno.test(`portal answers 500 when ${slow} outlives the request's deadline`, async () => {
    await using t = await setup({ slow });
    const response = await t.call();
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "Something went wrong" });
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    assert.deepEqual(t.aborted, [PATHS[slow]], "the deadline cut the slow call off");
    assert.equal(t.polar.requests.length, 0, "nothing reached Polar");
  });
}

Deno.test("portal answers 500 when Polar outlives the request's deadline", async () => {
  await using t = await setup({ slow: "polar" });
  const response = await t.call();
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.equal(t.polar.requests.length, 1);
  assert.match(t.logs[0].cause ?? "", /time|abort/i, "the SDK gave up at the deadline");
});

Deno.test("portal's upstream calls share one deadline rather than one limit each", async () => {
  // Each call stays far under its own limit (3 s), but together they pass the request's budget.
  await using t = await setup({ delays: { jwks: BUDGET_MS * 0.6, rest: BUDGET_MS * 0.6 } });
  const response = await t.call();
  assert.equal(response.status, 500);
  assert.deepEqual(t.aborted, [PATHS.rest]);
  assert.equal(t.polar.requests.length, 0);
});

Deno.test("portal answers 200 when the upstreams are quick", async () => {
  await using t = await setup({});
  const response = await t.call();
  assert.equal(response.status, 200);
  assert.deepEqual(t.aborted, []);
});
