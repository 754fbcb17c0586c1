/**
 * One adversarial request against a real function, and how to check its answer: the exact
 * status, the exact JSON body (a `RegExp` where a value is random), CORS headers on the user
 * functions, what Polar was asked, and that the database did not change unless the case says
 * it may.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FunctionName, Harness } from "../harness.ts";

/** The users and tokens every case may use. */
export interface CaseContext {
  /** The running functions and stand-ins. */
  h: Harness;
  /** A user linked to a Polar customer the fake knows. */
  member: { id: string; customerId: string; token: string };
  /** A signed-in user with no subscription row. */
  stranger: { id: string; token: string };
}

/** The request a case sends. */
export interface Sent {
  /** `POST` by default. */
  method?: string;
  /** Headers; a JSON content type is not added for you. */
  headers?: Record<string, string>;
  /** The body. */
  body?: BodyInit;
  /** A query string, with its `?`. */
  query?: string;
}

/** A value the answer must equal, where strings may be matched by a pattern. */
export type Expected = unknown;

/** The status and body of a response with no body (`HEAD`, `OPTIONS`). */
export const NO_BODY = Symbol("no body");

/** One case. */
export interface HttpCase {
  /** The behaviour, as a test step's name. */
  name: string;
  /** The function it calls. */
  fn: FunctionName;
  /** Work done before the database is fingerprinted (an earlier delivery, say). */
  prepare?: (ctx: CaseContext) => Promise<void>;
  /** Builds the request. */
  send: (ctx: CaseContext) => Sent | Promise<Sent>;
  /** The exact status. */
  status: number;
  /** The exact JSON body, or {@linkcode NO_BODY}. */
  body: Expected | typeof NO_BODY;
  /** Whether the database may change; by default it must not. */
  writes?: boolean;
  /** What the one Polar request must contain (a partial match); by default Polar is not called. */
  polar?: (ctx: CaseContext) => Record<string, unknown>;
  /** `runtime` when the HTTP server answers before the function runs (no JSON, no CORS). */
  answeredBy?: "function" | "runtime";
  /** More checks after the answer. */
  check?: (ctx: CaseContext, response: Response) => Promise<void>;
}

/** The header every answer of the user functions carries. */
const CORS_HEADER = "Access-Control-Allow-Origin";

/**
 * Sends a case's request and checks everything the case expects.
 *
 * @param ctx the harness and users
 * @param testCase the case
 * @example
 * ```ts
 * await runHttpCase(ctx, { name: "…", fn: "portal", send: () => ({}), status: 401, body });
 * ```
 */
export async function runHttpCase(ctx: CaseContext, testCase: HttpCase): Promise<void> {
  await testCase.prepare?.(ctx);
  const before = await ctx.h.fingerprint();
  const polarBefore = ctx.h.polar.requests.length;
  const sent = await testCase.send(ctx);
  const response = await fetch(`${ctx.h.functions[testCase.fn].url}/${sent.query ?? ""}`, {
    method: sent.method ?? "POST",
    headers: sent.headers,
    body: sent.body,
  });
  const text = await response.text();
  assert.equal(response.status, testCase.status, `status; body: ${text.slice(0, 300)}`);
  if (testCase.body === NO_BODY) {
    assert.equal(text, "", "no body");
  } else {
    assert.equal(response.headers.get("Content-Type"), "application/json");
    assertMatches(JSON.parse(text), testCase.body);
  }
  if (testCase.answeredBy === "runtime") {
    assert.equal(
      response.headers.get(CORS_HEADER),
      null,
      "answered by the runtime, not the function",
    );
  } else if (testCase.fn === "polar-webhooks") {
    assert.equal(response.headers.get(CORS_HEADER), null, "no CORS on the webhook endpoint");
  } else {
    assert.equal(response.headers.get(CORS_HEADER), "*", "CORS headers on every answer");
  }
  const polarCalls = ctx.h.polar.requests.slice(polarBefore);
  if (testCase.polar) {
    // Checkout first finds (or creates) the caller's customer by external id and, once per
    // worker, reads the organization's allow_multiple_subscriptions; the call the case describes
    // is the last one, and only those may come before it.
    const last = polarCalls.at(-1);
    assert.ok(last, "Polar is called");
    const before = polarCalls.slice(0, -1).map((call) => call.route);
    const allowed = testCase.fn === "checkout"
      ? /^((GET|POST) \/v1\/customers\/|GET \/v1\/organizations\/$)/
      : /^$/;
    assert.ok(before.every((route) => allowed.test(route)), `calls before: ${before}`);
    assertMatches(last.body, testCase.polar(ctx), { partial: true });
  } else {
    assert.equal(polarCalls.length, 0, "Polar is not called");
  }
  if (!testCase.writes) assert.equal(await ctx.h.fingerprint(), before, "database unchanged");
  await testCase.check?.(ctx, response);
}

/**
 * Asserts that `actual` equals `expected`, where a `RegExp` in `expected` matches a string.
 *
 * @param actual the value
 * @param expected the expectation
 * @param options `partial`: objects may have more keys than expected
 * @param path where in the value, for the message
 * @example
 * ```ts
 * assertMatches({ url: "https://x/1" }, { url: /^https:\/\/x\// });
 * ```
 */
export function assertMatches(
  actual: unknown,
  expected: unknown,
  options: { partial?: boolean } = {},
  path = "body",
): void {
  if (expected instanceof RegExp) {
    assert.ok(
      typeof actual === "string" && expected.test(actual),
      `${path}: ${actual} ~ ${expected}`,
    );
    return;
  }
  if (typeof expected !== "object" || expected === null) {
    assert.deepEqual(actual, expected, path);
    return;
  }
  assert.equal(typeof actual, "object", `${path} is an object`);
  assert.ok(actual !== null, `${path} is not null`);
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path} is a list`);
    assert.equal(actual.length, expected.length, `${path}.length`);
    expected.forEach((item, i) => assertMatches(actual[i], item, options, `${path}[${i}]`));
    return;
  }
  const record = actual as Record<string, unknown>;
  if (!options.partial) {
    assert.deepEqual(Object.keys(record).sort(), Object.keys(expected).sort(), `${path} keys`);
  }
  for (const [key, value] of Object.entries(expected)) {
    assertMatches(record[key], value, options, `${path}.${key}`);
  }
}

/** A JSON request body with its content type. */
export function json(body: unknown, headers: Record<string, string> = {}): Sent {
  return {
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

/** The `Authorization` header of a token. */
export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** The portal's answer when a session was created. */
export const PORTAL_URL = {
  url:
    /^https:\/\/sandbox\.polar\.sh\/acme\/portal\?customer_session_token=polar_cst_[0-9a-f]{32}$/,
};

/** The checkout's answer when a checkout was created. */
export const CHECKOUT_CREATED = {
  url: /^https:\/\/sandbox\.polar\.sh\/checkout\/polar_c_[0-9a-f]{32}$/,
  id: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};

/** The contract's error bodies. */
export const ERRORS = {
  unauthorized: { error: "Unauthorized" },
  invalidJson: { error: "Invalid JSON body" },
  tooLarge: { error: "Request body too large" },
  unsupportedType: { error: "Content-Type must be application/json" },
  methodNotAllowed: { error: "Method not allowed" },
  noSubscription: { error: "No subscription found" },
  invalidSignature: { error: "Invalid signature" },
  invalidEvent: { error: "Invalid event" },
  internal: { error: "Something went wrong" },
} as const;
