/**
 * Supabase clients for server-side use: no session storage, no token refresh, and every request
 * bounded in time so a hung database or Auth server cannot hold a function past its budget.
 *
 * @module
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { VerifiedUser } from "./auth.ts";

/** Milliseconds one request to Supabase (JWKS, PostgREST, Auth) may take. */
export const SUPABASE_TIMEOUT_MS = 3000;

/** Options of {@linkcode createServerClient}. */
export interface ServerClientOptions {
  /** Milliseconds each request may take; {@linkcode SUPABASE_TIMEOUT_MS} by default. */
  timeoutMs?: number;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/**
 * Makes a Supabase client for a function. With the anon key it reads as whoever's token a query
 * carries (see {@linkcode readCustomerId}); with the service role key it bypasses RLS.
 *
 * @param url the project URL
 * @param key the anon or service role key
 * @param options timeout and `fetch`
 * @returns the client
 * @example
 * ```ts
 * const supabase = createServerClient("http://127.0.0.1:54321", anonKey);
 * const { data } = await supabase.auth.getClaims(token);
 * ```
 */
export function createServerClient(
  url: string,
  key: string,
  options: ServerClientOptions = {},
): SupabaseClient {
  const timeoutMs = options.timeoutMs ?? SUPABASE_TIMEOUT_MS;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const boundedFetch: typeof fetch = (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return baseFetch(input, { ...init, signal });
  };
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // postgrest-js retries a GET that fails or answers 503 up to three times (after 1, 2 and 4 s),
    // and counts our timeout as a failure: a hung PostgREST then holds a request for 19 s. The
    // caller retries instead (the browser, or Polar for webhooks), so each call is one attempt.
    db: { retry: false },
    global: { fetch: boundedFetch },
  });
}

/**
 * Reads the user's `polar_customer_id` through PostgREST with the user's own token, so RLS decides
 * what the query may see.
 *
 * @param supabase a client made with the anon key
 * @param user the verified caller
 * @returns the customer id, or `null` when there is no row or no id
 * @throws {Error} when PostgREST answers an error or does not answer in time
 * @example
 * ```ts
 * await readCustomerId(supabase, user); // "992fae2a-…" or null
 * ```
 */
export async function readCustomerId(
  supabase: SupabaseClient,
  user: VerifiedUser,
): Promise<string | null> {
  let query = supabase
    .from("user_subscriptions")
    .select("polar_customer_id")
    .eq("user_id", user.id);
  if (user.deadline) query = query.abortSignal(user.deadline.signal);
  const { data, error } = await query
    .maybeSingle()
    .setHeader("Authorization", `Bearer ${user.accessToken}`);
  if (error) throw new Error(`Reading user_subscriptions failed: ${error.message}`);
  return (data?.polar_customer_id as string | null | undefined) ?? null;
}
