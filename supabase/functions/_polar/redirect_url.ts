/**
 * Validation of the URLs a caller may send the browser back to, so that our functions never
 * become an open redirect.
 *
 * @module
 */
import { HttpError, STATUS } from "./http_error.ts";

/** Options of {@linkcode createRedirectUrlValidator}. */
export interface RedirectUrlOptions {
  /** The web app's URL: the default, and the base that relative paths resolve against. */
  siteUrl: string;
  /** The origins a URL may point at. */
  allowedOrigins: readonly string[];
}

/** Longest redirect URL accepted, in characters. */
const MAX_URL_LENGTH = 2048;

/**
 * Makes a validator for one redirect field (`return_url`, `success_url`).
 *
 * A value is accepted when, resolved against `siteUrl`, it is an http(s) URL without credentials
 * whose origin is one of `allowedOrigins`. That one check refuses `javascript:`, `//evil.example`,
 * `https://app.example.com@evil.example`, other ports and schemes, and backslash tricks, because
 * the WHATWG URL parser decides the origin exactly as the browser will.
 *
 * @param field the field's name, used in the error message
 * @param options site URL and allowed origins
 * @returns a function from the raw value (or `undefined`) to an absolute URL
 * @example
 * ```ts
 * const returnUrl = createRedirectUrlValidator("return_url", {
 *   siteUrl: "https://app.example.com",
 *   allowedOrigins: ["https://app.example.com"],
 * });
 * returnUrl("/account"); // "https://app.example.com/account"
 * returnUrl(undefined); // "https://app.example.com"
 * returnUrl("https://evil.example"); // throws HttpError 400 "Invalid return_url: expected a URL on https://app.example.com"
 * ```
 */
export function createRedirectUrlValidator(
  field: string,
  options: RedirectUrlOptions,
): (value: unknown) => string {
  const allowed = new Set(options.allowedOrigins);
  // The allowed origins are no secret (CORS answers them to any page): naming them tells the
  // app's developer what to send, or which origin to add to ALLOWED_ORIGINS.
  const invalid = () =>
    new HttpError(
      STATUS.BadRequest,
      `Invalid ${field}: expected a URL on ${[...allowed].join(" or ")}`,
    );
  return (value) => {
    if (value === undefined || value === null) return options.siteUrl;
    if (typeof value !== "string" || value === "" || value.length > MAX_URL_LENGTH) throw invalid();
    const url = URL.parse(value, options.siteUrl);
    if (
      !url || (url.protocol !== "https:" && url.protocol !== "http:") ||
      url.username !== "" || url.password !== "" || !allowed.has(url.origin)
    ) {
      throw invalid();
    }
    return url.href;
  };
}
