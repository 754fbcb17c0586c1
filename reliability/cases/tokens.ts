/**
 * Tokens an attacker (or a broken client) may send, each tried on the portal (`POST` and `GET`)
 * and on checkout. Only a token signed with the project's key, for the right issuer and audience,
 * role `authenticated`, unexpired, with a UUID `sub`, gets through.
 *
 * Decided here: a far-future `exp` with a valid signature is a valid token (the lifetime is Auth's
 * policy, and only Auth holds the key); an `aud` list that includes `authenticated` is accepted,
 * as JWT allows; a token without `kid` that the project's key did sign is accepted, because the
 * key set then has exactly one key for its algorithm, which `jose` uses, and it verifies.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { createTestKeys } from "../../local/keys.ts";
import { PRODUCT_ID, SITE_URL } from "../harness.ts";
import {
  bearer,
  type CaseContext,
  CHECKOUT_CREATED,
  ERRORS,
  type HttpCase,
  json,
  NO_BODY,
  PORTAL_URL,
} from "./http_case.ts";

/** Any customer id: the stranger's customer is created during the case. */
const ANY_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Deno's HTTP server answers a header section of 64 KiB or more itself: 400, no body, no CORS,
 * and the function never sees the request (Supabase's gateway has its own, similar limit).
 */
const RUNTIME_REFUSAL = { status: 400, body: NO_BODY, answeredBy: "runtime" } as const;

/** What a token gets. */
type Outcome = "accepted" | "refused" | "no_subscription" | "refused_by_runtime";

interface TokenCase {
  name: string;
  headers: (ctx: CaseContext) => Promise<Record<string, string>> | Record<string, string>;
  outcome: Outcome;
}

const SECONDS_PER_DAY = 24 * 3600;
/** 9999-12-31T23:59:59Z. */
const END_OF_TIME = 253402300799;
/** Past the 64 KiB of headers Deno's HTTP server reads: refused before the function runs. */
const HUGE_TOKEN_BYTES = 100 * 1024;
/** Past the 16 KiB the verifier reads, within what the HTTP server reads. */
const LONG_TOKEN_BYTES = 32 * 1024;

const now = () => Math.floor(Date.now() / 1000);

function base64url(value: string | Uint8Array): string {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** A JWT assembled by hand, for headers a signing library refuses to write. */
function rawJwt(header: unknown, payload: unknown, signature = ""): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${signature}`;
}

/** An HS256 token, signed with `secret` (which may be empty). */
function hs256(payload: unknown, secret: string): string {
  const unsigned = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${
    base64url(JSON.stringify(payload))
  }`;
  const signature = createHmac("sha256", secret).update(unsigned).digest();
  return `${unsigned}.${base64url(new Uint8Array(signature))}`;
}

/** The member's claims, as Auth would issue them. */
async function memberClaims(ctx: CaseContext): Promise<Record<string, unknown>> {
  const [, payload] = ctx.member.token.split(".");
  return await Promise.resolve(
    JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))),
  );
}

/** A header value made of the UTF-8 bytes of `text`, as they arrive on the wire. */
function utf8Bytes(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

const withClaims = (overrides: Record<string, unknown>) => async (ctx: CaseContext) =>
  bearer(await ctx.h.userToken(ctx.member.id, overrides));

const TOKENS: TokenCase[] = [
  { name: "a valid token", headers: (ctx) => bearer(ctx.member.token), outcome: "accepted" },
  { name: "no Authorization header", headers: () => ({}), outcome: "refused" },
  {
    name: "an empty bearer token",
    headers: () => ({ Authorization: "Bearer " }),
    outcome: "refused",
  },
  {
    name: "Basic credentials",
    headers: () => ({ Authorization: `Basic ${btoa("user:password")}` }),
    outcome: "refused",
  },
  {
    name: "the token without the Bearer scheme",
    headers: (ctx) => ({ Authorization: ctx.member.token }),
    outcome: "refused",
  },
  { name: "the anon key", headers: (ctx) => bearer(ctx.h.anonKey), outcome: "refused" },
  {
    name: "a service_role key",
    headers: async (ctx) =>
      bearer(
        await ctx.h.keys.sign({
          iss: ctx.h.issuer,
          role: "service_role",
          iat: now(),
          exp: now() + SECONDS_PER_DAY,
        }),
      ),
    outcome: "refused",
  },
  {
    name: "alg none without a signature",
    headers: async (ctx) => bearer(rawJwt({ alg: "none", typ: "JWT" }, await memberClaims(ctx))),
    outcome: "refused",
  },
  {
    name: "alg none carrying the project's kid",
    headers: async (ctx) =>
      bearer(rawJwt({ alg: "none", typ: "JWT", kid: ctx.h.keys.kid }, await memberClaims(ctx))),
    outcome: "refused",
  },
  {
    name: "HS256 signed with the anon key",
    headers: async (ctx) => bearer(hs256(await memberClaims(ctx), ctx.h.anonKey)),
    outcome: "refused",
  },
  {
    name: "HS256 signed with an empty secret",
    headers: async (ctx) => bearer(hs256(await memberClaims(ctx), "")),
    outcome: "refused",
  },
  {
    name: "RS256 in the header over the project's ES256 key",
    headers: async (ctx) => {
      const [, payload, signature] = ctx.member.token.split(".");
      const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: ctx.h.keys.kid }));
      return await Promise.resolve(bearer(`${header}.${payload}.${signature}`));
    },
    outcome: "refused",
  },
  {
    name: "an unknown kid",
    headers: (ctx) => ctx.h.keys.sign(userPayload(ctx), { kid: crypto.randomUUID() }).then(bearer),
    outcome: "refused",
  },
  {
    name: "a kid with path traversal",
    headers: (ctx) =>
      ctx.h.keys.sign(userPayload(ctx), { kid: "../../../../etc/passwd" }).then(bearer),
    outcome: "refused",
  },
  {
    name: "a kid with SQL in it",
    headers: (ctx) =>
      ctx.h.keys.sign(userPayload(ctx), { kid: "' OR '1'='1'; drop table auth.users; --" }).then(
        bearer,
      ),
    outcome: "refused",
  },
  {
    name: "a kid that is a URL",
    headers: (ctx) =>
      ctx.h.keys.sign(userPayload(ctx), { kid: "https://evil.example/jwks.json" }).then(bearer),
    outcome: "refused",
  },
  {
    name: "no kid, signed with the project's key (checked by Auth)",
    headers: (ctx) => ctx.h.keys.sign(userPayload(ctx), { kid: undefined }).then(bearer),
    outcome: "accepted",
  },
  {
    name: "another key with the project's kid",
    headers: async (ctx) => {
      const other = await createTestKeys();
      return bearer(await other.sign(userPayload(ctx), { kid: ctx.h.keys.kid }));
    },
    outcome: "refused",
  },
  {
    name: "a tampered signature",
    headers: (ctx) => {
      const [header, payload, signature] = ctx.member.token.split(".");
      const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1);
      return bearer(`${header}.${payload}.${flipped}`);
    },
    outcome: "refused",
  },
  {
    name: "a payload swapped under a valid signature",
    headers: (ctx) => {
      const [header, , signature] = ctx.member.token.split(".");
      const [, strangerPayload] = ctx.stranger.token.split(".");
      return bearer(`${header}.${strangerPayload}.${signature}`);
    },
    outcome: "refused",
  },
  {
    name: "a wrong issuer",
    headers: withClaims({ iss: "https://evil.example/auth/v1" }),
    outcome: "refused",
  },
  { name: "no issuer", headers: withClaims({ iss: undefined }), outcome: "refused" },
  { name: "audience anon", headers: withClaims({ aud: "anon" }), outcome: "refused" },
  { name: "no audience", headers: withClaims({ aud: undefined }), outcome: "refused" },
  {
    name: "an audience list that includes authenticated",
    headers: withClaims({ aud: ["authenticated", "other"] }),
    outcome: "accepted",
  },
  { name: "role service_role", headers: withClaims({ role: "service_role" }), outcome: "refused" },
  { name: "role anon", headers: withClaims({ role: "anon" }), outcome: "refused" },
  { name: "no role", headers: withClaims({ role: undefined }), outcome: "refused" },
  {
    name: "role supabase_admin",
    headers: withClaims({ role: "supabase_admin" }),
    outcome: "refused",
  },
  { name: "exp a minute ago", headers: withClaims({ exp: now() - 60 }), outcome: "refused" },
  { name: "exp at the epoch", headers: withClaims({ exp: 1 }), outcome: "refused" },
  { name: "no exp", headers: withClaims({ exp: undefined }), outcome: "refused" },
  {
    name: "exp as a string",
    headers: withClaims({ exp: String(END_OF_TIME) }),
    outcome: "refused",
  },
  {
    name: "exp in the year 9999 with a valid signature",
    headers: withClaims({ exp: END_OF_TIME }),
    outcome: "accepted",
  },
  {
    name: "nbf a day ahead",
    headers: withClaims({ nbf: now() + SECONDS_PER_DAY }),
    outcome: "refused",
  },
  { name: "no sub", headers: withClaims({ sub: undefined }), outcome: "refused" },
  { name: "an empty sub", headers: withClaims({ sub: "" }), outcome: "refused" },
  { name: "a sub that is not a UUID", headers: withClaims({ sub: "admin" }), outcome: "refused" },
  {
    name: "a sub with SQL in it",
    headers: withClaims({ sub: "00000000-0000-0000-0000-000000000000' or '1'='1" }),
    outcome: "refused",
  },
  {
    name: "a valid token of a user without a subscription",
    headers: (ctx) => bearer(ctx.stranger.token),
    outcome: "no_subscription",
  },
  {
    name: "a 32 KB token of garbage",
    headers: () => bearer(`${"a".repeat(LONG_TOKEN_BYTES)}.${"b".repeat(8)}.${"c".repeat(8)}`),
    outcome: "refused",
  },
  {
    name: "a 32 KB token with a valid signature",
    headers: withClaims({ padding: "p".repeat(LONG_TOKEN_BYTES) }),
    outcome: "refused",
  },
  {
    name: "a 100 KB token of garbage (refused by the HTTP server)",
    headers: () => bearer(`${"a".repeat(HUGE_TOKEN_BYTES)}.${"b".repeat(8)}.${"c".repeat(8)}`),
    outcome: "refused_by_runtime",
  },
  {
    name: "a 100 KB token with a valid signature (refused by the HTTP server)",
    headers: withClaims({ padding: "p".repeat(HUGE_TOKEN_BYTES) }),
    outcome: "refused_by_runtime",
  },
  {
    name: "a token of non-ASCII UTF-8",
    headers: () => ({ Authorization: utf8Bytes("Bearer ключ.токен.подпись🔑") }),
    outcome: "refused",
  },
  {
    name: "a token with Latin-1 bytes",
    headers: (ctx) => ({ Authorization: `Bearer ${ctx.member.token.slice(0, -2)}é` }),
    outcome: "refused",
  },
  { name: "two parts", headers: () => bearer("eyJhbGciOiJFUzI1NiJ9.e30"), outcome: "refused" },
  {
    name: "four parts",
    headers: (ctx) => bearer(`${ctx.member.token}.extra`),
    outcome: "refused",
  },
  { name: "parts that are not JSON", headers: () => bearer("abc.def.ghi"), outcome: "refused" },
  {
    name: "a header that is JSON null",
    headers: () => bearer(`${base64url("null")}.${base64url("{}")}.`),
    outcome: "refused",
  },
  {
    name: "two Authorization values",
    headers: (ctx) => ({ Authorization: `Bearer ${ctx.member.token}, Bearer ${ctx.h.anonKey}` }),
    outcome: "refused",
  },
];

function userPayload(ctx: CaseContext): Record<string, unknown> {
  return {
    iss: ctx.h.issuer,
    aud: "authenticated",
    role: "authenticated",
    sub: ctx.member.id,
    iat: now(),
    exp: now() + SECONDS_PER_DAY,
  };
}

/**
 * Every token case on `POST /portal`, `GET /portal` and `POST /checkout`.
 *
 * @returns the cases
 * @example
 * ```ts
 * tokenCases().length; // 3 × the token table
 * ```
 */
export function tokenCases(): HttpCase[] {
  const expectations = {
    portal: {
      accepted: { status: 200, body: PORTAL_URL },
      refused: { status: 401, body: ERRORS.unauthorized },
      no_subscription: { status: 404, body: ERRORS.noSubscription },
      refused_by_runtime: RUNTIME_REFUSAL,
    },
    checkout: {
      accepted: { status: 200, body: CHECKOUT_CREATED },
      refused: { status: 401, body: ERRORS.unauthorized },
      // A signed-in user with no customer yet is exactly who checks out.
      no_subscription: { status: 200, body: CHECKOUT_CREATED },
      refused_by_runtime: RUNTIME_REFUSAL,
    },
  } as const;
  return TOKENS.flatMap((token): HttpCase[] => {
    const portal = expectations.portal[token.outcome];
    const checkout = expectations.checkout[token.outcome];
    const portalPolar = token.outcome === "accepted"
      ? (ctx: CaseContext) => ({ customer_id: ctx.member.customerId, return_url: SITE_URL })
      : undefined;
    return [
      {
        name: `portal POST: ${token.name}`,
        fn: "portal",
        send: async (ctx) => ({ headers: await token.headers(ctx) }),
        ...portal,
        polar: portalPolar,
      },
      {
        name: `portal GET: ${token.name}`,
        fn: "portal",
        send: async (ctx) => ({ method: "GET", headers: await token.headers(ctx) }),
        ...portal,
        polar: portalPolar,
      },
      {
        name: `checkout: ${token.name}`,
        fn: "checkout",
        send: async (ctx) => ({
          ...json({ product_id: PRODUCT_ID }),
          headers: { "Content-Type": "application/json", ...(await token.headers(ctx)) },
        }),
        ...checkout,
        // A stranger's first checkout creates their Polar customer and stores the link.
        writes: token.outcome === "no_subscription",
        polar: token.outcome === "refused" || token.outcome === "refused_by_runtime"
          ? undefined
          : (ctx) => ({
            products: [PRODUCT_ID],
            metadata: {
              user_id: token.outcome === "accepted" ? ctx.member.id : ctx.stranger.id,
            },
            customer_id: token.outcome === "accepted" ? ctx.member.customerId : ANY_UUID,
          }),
      },
    ];
  });
}
