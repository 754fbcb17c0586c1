/**
 * Request bodies and methods: malformed, oversized, deeply nested or mistyped bodies, and every
 * method the functions do not answer. Bodies are tried with a valid token, so that what refuses
 * them is the body reader, not auth.
 *
 * @module
 */
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
  type Sent,
} from "./http_case.ts";

/** Nesting depth of the deep bodies. */
const DEEP = 10_000;
/** 2 MiB: over every function's limit (64 KiB for user functions, 1 MiB for webhooks). */
const TWO_MIB = 2 * 1024 * 1024;
/** The user functions' limit, 64 KiB. */
const USER_BODY_LIMIT = 64 * 1024;

const deepArray = "[".repeat(DEEP) + "]".repeat(DEEP);
const deepObject = '{"a":'.repeat(DEEP) + "{}" + "}".repeat(DEEP);

/** A body of `bytes` bytes, streamed without `Content-Length`. */
function streamed(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const chunk = 64 * 1024;
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

/** A JSON object of exactly `bytes` bytes: `fields` and a padding string. */
function padded(bytes: number, fields: Record<string, unknown> = {}): string {
  const frame = JSON.stringify({ ...fields, padding: "" }).length;
  return JSON.stringify({ ...fields, padding: "p".repeat(bytes - frame) });
}

interface BodyCase {
  name: string;
  sent: (token: string) => Sent;
  portal: Pick<HttpCase, "status" | "body">;
  checkout: Pick<HttpCase, "status" | "body">;
}

const withToken = (token: string, sent: Sent): Sent => ({
  ...sent,
  headers: { ...sent.headers, ...bearer(token) },
});

const invalidJson = { status: 400, body: ERRORS.invalidJson };
const tooLarge = { status: 413, body: ERRORS.tooLarge };
const unsupported = { status: 415, body: ERRORS.unsupportedType };
const portalOk = { status: 200, body: PORTAL_URL };
const checkoutOk = { status: 200, body: CHECKOUT_CREATED };

/** Each body is sent with `product_id` where it can carry one, so checkout reaches the body. */
const BODIES: BodyCase[] = [
  {
    name: "truncated JSON",
    sent: (t) => withToken(t, json(`{"product_id":"${PRODUCT_ID}","return_url":"https://app.exa`)),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "a JSON array",
    sent: (t) => withToken(t, json([{ product_id: PRODUCT_ID }])),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "a JSON number",
    sent: (t) => withToken(t, json("42")),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "a JSON string",
    sent: (t) => withToken(t, json('"product_id"')),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "JSON null",
    sent: (t) => withToken(t, json("null")),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "JSON true",
    sent: (t) => withToken(t, json("true")),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "an array nested 10,000 deep",
    sent: (t) => withToken(t, json(deepArray)),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "an object nested 10,000 deep beside the real fields",
    sent: (t) => withToken(t, json(`{"product_id":"${PRODUCT_ID}","extra":${deepObject}}`)),
    portal: portalOk,
    checkout: checkoutOk,
  },
  {
    name: "a return_url nested 10,000 deep",
    sent: (t) => withToken(t, json(`{"product_id":"${PRODUCT_ID}","return_url":${deepObject}}`)),
    portal: { status: 400, body: { error: `Invalid return_url: expected a URL on ${SITE_URL}` } },
    checkout: { status: 400, body: { error: `Invalid return_url: expected a URL on ${SITE_URL}` } },
  },
  {
    name: "2 MiB with Content-Length",
    sent: (t) => withToken(t, json(padded(TWO_MIB, { product_id: PRODUCT_ID }))),
    portal: tooLarge,
    checkout: tooLarge,
  },
  {
    name: "2 MiB streamed without Content-Length",
    sent: (t) =>
      withToken(t, {
        headers: { "Content-Type": "application/json" },
        body: streamed(padded(TWO_MIB, { product_id: PRODUCT_ID })),
      }),
    portal: tooLarge,
    checkout: tooLarge,
  },
  {
    name: "one byte over 64 KiB",
    sent: (t) => withToken(t, json(padded(USER_BODY_LIMIT + 1, { product_id: PRODUCT_ID }))),
    portal: tooLarge,
    checkout: tooLarge,
  },
  {
    name: "exactly 64 KiB",
    sent: (t) => withToken(t, json(padded(USER_BODY_LIMIT, { product_id: PRODUCT_ID }))),
    portal: portalOk,
    checkout: checkoutOk,
  },
  {
    name: "JSON sent as text/plain",
    sent: (t) => withToken(t, json({ product_id: PRODUCT_ID }, { "Content-Type": "text/plain" })),
    portal: unsupported,
    checkout: unsupported,
  },
  {
    name: "a form",
    sent: (t) =>
      withToken(t, {
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: `product_id=${PRODUCT_ID}`,
      }),
    portal: unsupported,
    checkout: unsupported,
  },
  {
    name: "multipart form data",
    sent: (t) => {
      const form = new FormData();
      form.set("product_id", PRODUCT_ID);
      return withToken(t, { body: form });
    },
    portal: unsupported,
    checkout: unsupported,
  },
  {
    name: "JSON without a Content-Type",
    sent: (t) =>
      withToken(t, { body: new TextEncoder().encode(JSON.stringify({ product_id: PRODUCT_ID })) }),
    portal: portalOk,
    checkout: checkoutOk,
  },
  {
    name: "JSON with a charset",
    sent: (t) =>
      withToken(
        t,
        json({ product_id: PRODUCT_ID }, { "Content-Type": "application/json; charset=utf-8" }),
      ),
    portal: portalOk,
    checkout: checkoutOk,
  },
  {
    name: "invalid UTF-8",
    sent: (t) =>
      withToken(t, {
        headers: { "Content-Type": "application/json" },
        body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      }),
    portal: invalidJson,
    checkout: invalidJson,
  },
  {
    name: "an empty body",
    sent: (t) => withToken(t, json("")),
    portal: portalOk,
    checkout: { status: 400, body: { error: "Missing product_id or products" } },
  },
  {
    name: "fields hidden under __proto__",
    sent: (t) =>
      withToken(
        t,
        json(`{"__proto__":{"product_id":"${PRODUCT_ID}","return_url":"https://evil.example"}}`),
      ),
    portal: portalOk,
    checkout: { status: 400, body: { error: "Missing product_id or products" } },
  },
  {
    name: "a duplicate key: the last one counts",
    sent: (t) =>
      withToken(
        t,
        json(
          `{"product_id":"${PRODUCT_ID}","return_url":"https://evil.example/","return_url":"/ok"}`,
        ),
      ),
    portal: portalOk,
    checkout: checkoutOk,
  },
];

interface MethodCase {
  method: string;
  fn: HttpCase["fn"];
  allow: string;
}

const METHODS: MethodCase[] = [
  ...["PUT", "DELETE", "PATCH", "PROPFIND"].map((method) => ({
    method,
    fn: "portal" as const,
    allow: "OPTIONS, GET, POST",
  })),
  ...["GET", "PUT", "DELETE", "PATCH", "PROPFIND"].map((method) => ({
    method,
    fn: "checkout" as const,
    allow: "OPTIONS, POST",
  })),
  ...["GET", "PUT", "DELETE", "PATCH", "PROPFIND"].map((method) => ({
    method,
    fn: "polar-webhooks" as const,
    allow: "OPTIONS, POST",
  })),
];

/**
 * The body cases on the portal and checkout.
 *
 * @returns the cases
 * @example
 * ```ts
 * bodyCases().length; // 2 × the body table
 * ```
 */
export function bodyCases(): HttpCase[] {
  return BODIES.flatMap((body): HttpCase[] => [
    {
      name: `portal: ${body.name}`,
      fn: "portal",
      send: (ctx) => body.sent(ctx.member.token),
      ...body.portal,
      polar: body.portal.status === 200
        ? (ctx: CaseContext) => ({
          customer_id: ctx.member.customerId,
          return_url: body.name.startsWith("a duplicate key") ? `${SITE_URL}/ok` : SITE_URL,
        })
        : undefined,
    },
    {
      name: `checkout: ${body.name}`,
      fn: "checkout",
      send: (ctx) => body.sent(ctx.member.token),
      ...body.checkout,
      polar: body.checkout.status === 200
        ? (ctx: CaseContext) => ({
          products: [PRODUCT_ID],
          customer_id: ctx.member.customerId,
          ...(body.name.startsWith("a duplicate key") && { return_url: `${SITE_URL}/ok` }),
        })
        : undefined,
    },
  ]);
}

/**
 * Methods each function refuses (405 with `Allow`, even without a token), `HEAD` (405 without a
 * body), and the preflight, answered before auth.
 *
 * @returns the cases
 * @example
 * ```ts
 * methodCases().some((c) => c.name === "checkout: GET"); // true
 * ```
 */
export function methodCases(): HttpCase[] {
  const allowed = (allow: string) => async (_ctx: CaseContext, response: Response) => {
    if (response.headers.get("Allow") !== allow) {
      throw new Error(`Allow is ${response.headers.get("Allow")}, expected ${allow}`);
    }
    await Promise.resolve();
  };
  return [
    ...METHODS.map(({ method, fn, allow }): HttpCase => ({
      name: `${fn}: ${method}`,
      fn,
      send: (ctx) => ({ method, headers: bearer(ctx.member.token) }),
      status: 405,
      body: ERRORS.methodNotAllowed,
      check: allowed(allow),
    })),
    ...(["portal", "checkout", "polar-webhooks"] as const).flatMap((fn): HttpCase[] => [
      {
        name: `${fn}: HEAD`,
        fn,
        send: () => ({ method: "HEAD" }),
        status: 405,
        body: NO_BODY,
      },
      {
        name: `${fn}: OPTIONS preflight without a token`,
        fn,
        send: () => ({
          method: "OPTIONS",
          headers: {
            Origin: "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
          },
        }),
        status: 204,
        body: NO_BODY,
      },
    ]),
    {
      name: "portal: POST with X-HTTP-Method-Override DELETE is a POST",
      fn: "portal",
      send: (ctx) => ({
        headers: { ...bearer(ctx.member.token), "X-HTTP-Method-Override": "DELETE" },
      }),
      status: 200,
      body: PORTAL_URL,
      polar: (ctx) => ({ customer_id: ctx.member.customerId }),
    },
  ];
}
