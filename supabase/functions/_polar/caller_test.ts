import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { createTestKeys, userClaims } from "../tests/support/keys.ts";
import { fetchFrom } from "../tests/support/fetch.ts";
import { createCallerAccess } from "./caller.ts";
import { HttpError } from "./http_error.ts";

const URL_ = "http://supabase.test";
const ISSUER = `${URL_}/auth/v1`;
const JWKS_PATH = "/auth/v1/.well-known/jwks.json";

/**
 * An Auth whose JWKS answer the test sets (a key set, a malformed body, a status, or a dropped
 * connection), counting every request by path, and a clock the test moves.
 */
async function setup(options: { inline?: boolean; jwks?: unknown; realClock?: boolean } = {}) {
  const keys = await createTestKeys();
  const calls: string[] = [];
  let jwksAnswer: () => Response = () => Response.json(options.jwks ?? keys.jwks);
  let authUserStatus = 200;
  const api = (request: Request) => {
    const { pathname } = new URL(request.url);
    calls.push(pathname);
    if (pathname === JWKS_PATH) return Promise.resolve(jwksAnswer());
    if (pathname === "/auth/v1/user") {
      return Promise.resolve(Response.json({}, { status: authUserStatus }));
    }
    return Promise.resolve(Response.json([], { status: 200 }));
  };
  let clock = 1_000_000;
  // The key cache's clock, moved by the test (unless it asks for the real one); token expiry keeps
  // the wall clock.
  const access = createCallerAccess({
    supabaseUrl: URL_,
    supabasePublishableKey: "sb_publishable_test",
    authIssuer: ISSUER,
    supabaseJwks: options.inline ? keys.jwks as { keys: Record<string, unknown>[] } : undefined,
  }, {
    fetch: fetchFrom(api),
    signingKeys: {
      refreshIntervalMs: 10_000,
      maxAgeMs: 600_000,
      maxStaleMs: 3_600_000,
      now: options.realClock ? undefined : () => clock,
    },
  });
  const token = (claims: Record<string, unknown> = {}) =>
    keys.sign({ ...userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }), ...claims });
  const request = async (bearer?: string | Promise<string>) =>
    new Request(`${URL_}/functions/v1/portal`, {
      headers: { Authorization: `Bearer ${await (bearer ?? token())}` },
    });
  return {
    keys,
    calls,
    verifyUser: access.verifyUser,
    token,
    request,
    advance: (ms: number) => clock += ms,
    setJwks: (answer: () => Response) => jwksAnswer = answer,
    setAuthUserStatus: (status: number) => authUserStatus = status,
    jwksFetches: () => calls.filter((path) => path === JWKS_PATH).length,
  };
}

/** What verifyUser's failure becomes: 401 for an HttpError, 500 for anything else. */
async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    return error instanceof HttpError ? error.status : 500;
  }
}

const MALFORMED_JWKS: Record<string, () => Response> = {
  '{"keys":{}}': () => Response.json({ keys: {} }),
  '{"keys":[null]}': () => Response.json({ keys: [null] }),
  '"x"': () => Response.json("x"),
  "not JSON": () => new Response("<html>", { headers: { "Content-Type": "text/html" } }),
  "a 503": () => Response.json({ message: "unavailable" }, { status: 503 }),
  "a dropped connection": () => {
    throw new TypeError("connection reset");
  },
};

Deno.test("caller access verifies a token against SUPABASE_JWKS with no JWKS fetch", async () => {
  const t = await setup({ inline: true });
  const user = await t.verifyUser(await t.request());
  assert.match(user.id, /^[0-9a-f-]{36}$/);
  assert.ok(user.deadline, "the user carries the request's deadline");
  assert.deepEqual(t.calls, []);
  assert.equal(await statusOf(t.verifyUser(await t.request(t.token({ role: "anon" })))), 401);
  assert.deepEqual(t.calls, [], "refusing a token makes no call either");
});

Deno.test("caller access answers 500 for a broken JWKS and heals when it does", async (test) => {
  for (const [name, answer] of Object.entries(MALFORMED_JWKS)) {
    await test.step(name, async () => {
      const t = await setup();
      const healthy = t.keys.jwks;
      t.setJwks(answer);
      assert.equal(await statusOf(t.verifyUser(await t.request())), 500);
      assert.equal(await statusOf(t.verifyUser(await t.request())), 500);
      assert.equal(t.jwksFetches(), 1, "the failure is remembered for the refresh interval");
      t.setJwks(() => Response.json(healthy));
      t.advance(10_000);
      assert.equal(await statusOf(t.verifyUser(await t.request())), 200);
      assert.equal(t.jwksFetches(), 2);
    });
  }
});

Deno.test("caller access keeps good keys when a refresh brings a malformed JWKS", async () => {
  const t = await setup();
  assert.equal(await statusOf(t.verifyUser(await t.request())), 200);
  t.setJwks(MALFORMED_JWKS['{"keys":[null]}']);
  t.advance(600_000);
  assert.equal(await statusOf(t.verifyUser(await t.request())), 200);
  assert.equal(t.jwksFetches(), 2, "the stale keys were refreshed, and the bad answer ignored");
});

Deno.test("caller access fetches the JWKS at most once per interval for unknown kids", async () => {
  const t = await setup();
  await t.verifyUser(await t.request());
  t.advance(10_000);
  const other = await createTestKeys();
  for (let i = 0; i < 20; i++) {
    const forged = other.sign(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }), {
      kid: crypto.randomUUID(),
    });
    assert.equal(await statusOf(t.verifyUser(await t.request(forged))), 401);
  }
  assert.deepEqual(t.calls, [JWKS_PATH, JWKS_PATH], "one start-up fetch, one refresh, no Auth");
  t.advance(10_000);
  assert.equal(
    await statusOf(t.verifyUser(
      await t.request(other.sign(userClaims({
        issuer: ISSUER,
        sub: crypto.randomUUID(),
      }))),
    )),
    401,
  );
  assert.equal(t.jwksFetches(), 3, "the next interval allows one more");
});

Deno.test("caller access answers 500 for an unknown kid when the refresh it needs fails", async () => {
  const t = await setup();
  await t.verifyUser(await t.request());
  t.setJwks(MALFORMED_JWKS["a dropped connection"]);
  t.advance(10_000);
  const rotated = (await createTestKeys()).sign(
    userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }),
  );
  assert.equal(await statusOf(t.verifyUser(await t.request(rotated))), 500);
  assert.equal(await statusOf(t.verifyUser(await t.request())), 200, "known keys still work");
  assert.equal(await statusOf(t.verifyUser(await t.request(rotated))), 500, "no fetch, still 500");
  assert.equal(t.jwksFetches(), 2);
});

Deno.test("caller access picks up a rotated-in key with one refresh", async () => {
  const t = await setup();
  await t.verifyUser(await t.request());
  const next = await createTestKeys();
  t.setJwks(() => Response.json({ keys: [...t.keys.jwks.keys, ...next.jwks.keys] }));
  t.advance(10_000);
  const rotated = next.sign(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }));
  assert.equal(await statusOf(t.verifyUser(await t.request(rotated))), 200);
  assert.equal(t.jwksFetches(), 2);
});

Deno.test("caller access keeps users signed in while Auth is down, up to the stale limit", async () => {
  const t = await setup();
  await t.verifyUser(await t.request());
  t.setJwks(MALFORMED_JWKS["a dropped connection"]);
  t.advance(3_599_000);
  assert.equal(await statusOf(t.verifyUser(await t.request())), 200, "59:59 after the fetch");
  t.advance(1_000);
  assert.equal(await statusOf(t.verifyUser(await t.request())), 500, "an hour after the fetch");
});

Deno.test("caller access refuses what a signed-in user's token must not be", async (test) => {
  const t = await setup({ inline: true });
  const now = Math.floor(Date.now() / 1000);
  const cases: Record<string, Promise<string>> = {
    "nbf in the future": t.token({ nbf: now + 60 }),
    "a sub that is not a UUID": t.token({ sub: "not-a-uuid" }),
    "no exp": t.token({ exp: undefined }),
    "an exp that is not a number": t.token({ exp: String(now + 60) }),
    "an audience list without authenticated": t.token({ aud: ["other"] }),
  };
  for (const [name, bearer] of Object.entries(cases)) {
    await test.step(name, async () => {
      assert.equal(await statusOf(t.verifyUser(await t.request(bearer))), 401);
    });
  }
  await test.step("a token over 16 KiB", async () => {
    const big = await t.token({ pad: "x".repeat(16 * 1024) });
    assert.equal(await statusOf(t.verifyUser(await t.request(big))), 401);
  });
  assert.equal(
    await statusOf(
      t.verifyUser(await t.request(t.token({ nbf: now - 60, aud: ["authenticated"] }))),
    ),
    200,
  );
});

Deno.test("caller access verifies HS256 tokens with a published oct key, locally", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const kid = "legacy";
  const k = btoa(String.fromCharCode(...secret)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
  const t = await setup({ jwks: { keys: [{ kty: "oct", kid, alg: "HS256", k }] } });
  const hs = new SignJWT(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }))
    .setProtectedHeader({ alg: "HS256", kid, typ: "JWT" }).sign(secret);
  assert.equal(await statusOf(t.verifyUser(await t.request(hs))), 200);
  assert.deepEqual(t.calls, [JWKS_PATH]);
});

Deno.test("caller access asks Auth about HS256 tokens only on a legacy-only project", async (test) => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hs = () =>
    new SignJWT(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }))
      .setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
  await test.step("no asymmetric key published: Auth decides", async () => {
    const t = await setup({ jwks: { keys: [] } });
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 200);
    t.setAuthUserStatus(403);
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 401);
    t.setAuthUserStatus(500);
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 500);
    assert.deepEqual(t.calls, [JWKS_PATH, "/auth/v1/user", "/auth/v1/user", "/auth/v1/user"]);
  });
  await test.step("asymmetric keys published: 401, no call to Auth", async () => {
    const t = await setup();
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 401);
    assert.deepEqual(t.calls, [JWKS_PATH]);
  });
});

Deno.test("caller access with the real clock uses the same keys for every request", async () => {
  const t = await setup({ realClock: true });
  await t.verifyUser(await t.request());
  await t.verifyUser(await t.request());
  assert.equal(t.jwksFetches(), 1);
});

Deno.test("caller access never accepts an HS256 token that Auth did not answer 2xx for", async (test) => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hs = () =>
    new SignJWT(userClaims({ issuer: ISSUER, sub: crypto.randomUUID() }))
      .setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
  const t = await setup({ jwks: { keys: [] } });
  await test.step("Auth answers 200: accepted", async () => {
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 200);
    assert.deepEqual(t.calls, [JWKS_PATH, "/auth/v1/user"]);
  });
  // Not the user's fault (Auth limited or misrouted): 500, so nobody is signed out; never 200.
  for (const status of [429, 404, 400, 502]) {
    await test.step(`Auth answers ${status}: refused with 500`, async () => {
      t.setAuthUserStatus(status);
      const before = t.calls.length;
      assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 500);
      assert.deepEqual(t.calls.slice(before), ["/auth/v1/user"], "Auth was asked");
    });
  }
  await test.step("Auth answers 200 again: accepted", async () => {
    t.setAuthUserStatus(200);
    assert.equal(await statusOf(t.verifyUser(await t.request(hs()))), 200);
  });
});
