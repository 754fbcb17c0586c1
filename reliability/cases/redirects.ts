/**
 * Redirect URLs a caller may try, on every field that takes one: the portal's `return_url` (in a
 * `POST` body and in a `GET` query) and checkout's `success_url` and `return_url`. The site is
 * `https://app.example.com`; a URL is accepted only if the WHATWG parser, as the browser will,
 * puts it on that origin, and the function then sends Polar the parsed URL, not the raw text.
 *
 * @module
 */
import { withCheckoutIdPlaceholder } from "../../supabase/functions/checkout/success_url.ts";
import { PRODUCT_ID, SITE_URL } from "../harness.ts";
import { bearer, CHECKOUT_CREATED, type HttpCase, json, PORTAL_URL } from "./http_case.ts";

/** Longer than the 2,048 characters a redirect URL may have. */
const TOO_LONG = 3000;

/** A value, and the URL Polar must receive for it, or `null` when it must be refused. */
type RedirectCase = [name: string, value: unknown, accepted: string | null];

const REDIRECTS: RedirectCase[] = [
  ["javascript:", "javascript:alert(document.cookie)", null],
  ["javascript: with the site in it", "javascript://app.example.com/%0aalert(1)", null],
  ["data:", "data:text/html,<script>alert(1)</script>", null],
  ["protocol-relative //evil.example", "//evil.example/", null],
  ["credentials that look like the host", "https://app.example.com@evil.example/", null],
  ["credentials on the right host", "https://user:pass@app.example.com/", null],
  ["a lookalike subdomain", "https://app.example.com.evil.example/", null],
  ["another port", "https://app.example.com:8443/", null],
  ["http: when the site is https:", "http://app.example.com/", null],
  ["ftp:", "ftp://app.example.com/", null],
  ["backslashes for slashes", "https:\\\\evil.example", null],
  ["a slash and a backslash", "/\\evil.example", null],
  ["a tab inside //", "/\t/evil.example", null],
  ["leading spaces before another host", "   https://evil.example/", null],
  ["a trailing dot on the host", "https://app.example.com./", null],
  ["a Cyrillic lookalike host", "https://аpp.example.com/", null],
  ["the site only in the fragment", "https://evil.example/#@app.example.com", null],
  ["an encoded @ in the user part", "https://evil.example%40app.example.com/", null],
  ["an empty string", "", null],
  ["a number", 42, null],
  ["an object", { href: SITE_URL }, null],
  ["a list", [SITE_URL], null],
  ["true", true, null],
  [`over ${TOO_LONG} characters`, `${SITE_URL}/${"a".repeat(TOO_LONG)}`, null],
  [
    "an absolute URL on the site",
    `${SITE_URL}/account?tab=billing`,
    `${SITE_URL}/account?tab=billing`,
  ],
  ["a relative path", "/account", `${SITE_URL}/account`],
  ["the default port written out", "https://app.example.com:443/x", `${SITE_URL}/x`],
  ["an uppercase scheme and host", "HTTPS://APP.EXAMPLE.COM/x", `${SITE_URL}/x`],
  ["https: without slashes stays on the site", "https:evil.example", `${SITE_URL}/evil.example`],
  ["an encoded //", "%2F%2Fevil.example", `${SITE_URL}/%2F%2Fevil.example`],
  [
    "a backslash before @ stays on the site",
    "https://app.example.com\\@evil.example",
    `${SITE_URL}/@evil.example`,
  ],
  ["dot segments stay on the site", "/../../evil.example", `${SITE_URL}/evil.example`],
  ["null is the default", null, SITE_URL],
];

/**
 * Every redirect case on the four fields.
 *
 * @returns the cases
 * @example
 * ```ts
 * redirectCases().length; // 4 × the redirect table
 * ```
 */
export function redirectCases(): HttpCase[] {
  return REDIRECTS.flatMap(([name, value, accepted]): HttpCase[] => {
    // The refusal names the allowed origins (the site's), so the caller knows what to send.
    const refused = (field: string) => ({
      status: 400,
      body: { error: `Invalid ${field}: expected a URL on ${SITE_URL}` },
    });
    const cases: HttpCase[] = [
      {
        name: `portal POST return_url: ${name}`,
        fn: "portal",
        send: (ctx) => json({ return_url: value }, bearer(ctx.member.token)),
        ...(accepted === null ? refused("return_url") : {
          status: 200,
          body: PORTAL_URL,
          polar: (ctx) => ({ customer_id: ctx.member.customerId, return_url: accepted }),
        }),
      },
      {
        name: `checkout success_url: ${name}`,
        fn: "checkout",
        send: (ctx) =>
          json({ product_id: PRODUCT_ID, success_url: value }, bearer(ctx.member.token)),
        ...(accepted === null ? refused("success_url") : {
          status: 200,
          body: CHECKOUT_CREATED,
          polar: () => ({ success_url: withCheckoutIdPlaceholder(accepted) }),
        }),
      },
      {
        name: `checkout return_url: ${name}`,
        fn: "checkout",
        send: (ctx) =>
          json({ product_id: PRODUCT_ID, return_url: value }, bearer(ctx.member.token)),
        ...(accepted === null ? refused("return_url") : {
          status: 200,
          body: CHECKOUT_CREATED,
          // null means "none": Polar is then not sent a return_url at all.
          polar: () => value === null ? { products: [PRODUCT_ID] } : { return_url: accepted },
        }),
      },
    ];
    // A query carries only strings.
    if (typeof value === "string") {
      cases.push({
        name: `portal GET ?return_url=: ${name}`,
        fn: "portal",
        send: (ctx) => ({
          method: "GET",
          headers: bearer(ctx.member.token),
          query: `?return_url=${encodeURIComponent(value)}`,
        }),
        ...(accepted === null ? refused("return_url") : {
          status: 200,
          body: PORTAL_URL,
          polar: (ctx) => ({ customer_id: ctx.member.customerId, return_url: accepted }),
        }),
      });
    }
    return cases;
  });
}
