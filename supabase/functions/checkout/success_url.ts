/**
 * The checkout's success URL carries Polar's `{CHECKOUT_ID}` placeholder, so the page the buyer
 * lands on knows which checkout brought them there.
 *
 * @module
 */

/** The placeholder Polar replaces with the checkout's id when it redirects the buyer. */
export const CHECKOUT_ID_PLACEHOLDER = "{CHECKOUT_ID}";

/** The query parameter added to a success URL that does not already carry the placeholder. */
export const CHECKOUT_ID_PARAMETER = "checkout_id";

/**
 * Adds `checkout_id={CHECKOUT_ID}` to the query of an absolute URL, unless the URL already
 * carries the placeholder somewhere. The braces stay literal: `URLSearchParams` would write them
 * as `%7B…%7D`, which Polar does not recognise, so the parameter is appended as text.
 *
 * @param url an absolute http(s) URL, already checked against the allowed origins
 * @returns the URL with the placeholder, in its normalized form
 * @example
 * ```ts
 * withCheckoutIdPlaceholder("https://app.example.com"); // "https://app.example.com/?checkout_id={CHECKOUT_ID}"
 * withCheckoutIdPlaceholder("https://app.example.com/done?plan=pro#top");
 * // "https://app.example.com/done?plan=pro&checkout_id={CHECKOUT_ID}#top"
 * withCheckoutIdPlaceholder("https://app.example.com/done/{CHECKOUT_ID}");
 * // "https://app.example.com/done/{CHECKOUT_ID}"
 * ```
 */
export function withCheckoutIdPlaceholder(url: string): string {
  // The URL serializer percent-encodes braces in a path; put the caller's placeholder back as
  // Polar expects it. Nothing before the path changes, so the origin check still holds.
  const href = new URL(url).href.replace(/%7BCHECKOUT_ID%7D/gi, CHECKOUT_ID_PLACEHOLDER);
  if (href.includes(CHECKOUT_ID_PLACEHOLDER)) return href;
  const hashAt = href.indexOf("#");
  const base = hashAt === -1 ? href : href.slice(0, hashAt);
  const hash = hashAt === -1 ? "" : href.slice(hashAt);
  // A serialized URL has a `?` before the fragment only when it has a query.
  const separator = !base.includes("?") ? "?" : /[?&]$/.test(base) ? "" : "&";
  return `${base}${separator}${CHECKOUT_ID_PARAMETER}=${CHECKOUT_ID_PLACEHOLDER}${hash}`;
}
