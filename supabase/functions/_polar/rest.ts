/**
 * The one PostgREST read the user-facing functions make, as a plain `fetch`: the caller's
 * `polar_customer_id`, with the caller's own token, so RLS decides what it sees. A plain request
 * instead of supabase-js keeps the functions' module graph small (cold start, see
 * `docs/design-notes.md`) and lets the request's deadline reach the call.
 *
 * @module
 */
import type { VerifiedUser } from "./auth.ts";
import { withDeadline } from "./deadline.ts";

/** Milliseconds one PostgREST read may take, within the request's deadline. */
export const REST_TIMEOUT_MS = 3_000;

/** Options of {@linkcode createCustomerIdReader}. */
export interface CustomerIdReaderOptions {
  /** The project URL; PostgREST answers at `${supabaseUrl}/rest/v1`. */
  supabaseUrl: string;
  /** The publishable (or anon) key, sent as `apikey`. */
  apiKey: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/**
 * Makes `readCustomerId(user)`: the user's `polar_customer_id` from `public.user_subscriptions`,
 * read under RLS with the user's token, within the user's request deadline.
 *
 * @param options project URL, API key and `fetch`
 * @returns the reader; it resolves to the id, or `null` when there is no row or no id, and throws
 *   when PostgREST answers an error or does not answer in time
 * @example
 * ```ts
 * const readCustomerId = createCustomerIdReader({ supabaseUrl, apiKey: "sb_publishable_…" });
 * await readCustomerId(user); // "992fae2a-…" or null
 * ```
 */
export function createCustomerIdReader(
  options: CustomerIdReaderOptions,
): (user: VerifiedUser) => Promise<string | null> {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const table = `${options.supabaseUrl}/rest/v1/user_subscriptions`;
  return async (user) => {
    const url = `${table}?select=polar_customer_id&user_id=eq.${encodeURIComponent(user.id)}`;
    const response = await baseFetch(url, {
      headers: {
        apikey: options.apiKey,
        Authorization: `Bearer ${user.accessToken}`,
        Accept: "application/json",
      },
      signal: withDeadline(user.deadline, AbortSignal.timeout(REST_TIMEOUT_MS)),
    });
    const body = await response.json().catch(() => undefined);
    if (!response.ok) {
      const message = typeof body?.message === "string" ? body.message : "no message";
      throw new Error(`Reading user_subscriptions failed: ${response.status} ${message}`);
    }
    if (!Array.isArray(body)) throw new Error("Reading user_subscriptions failed: not an array");
    const id = body[0]?.polar_customer_id;
    return typeof id === "string" && id ? id : null;
  };
}
