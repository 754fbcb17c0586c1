/**
 * What the user-facing functions need to know about their caller, wired once per instance: who
 * they are (their token, verified against the project's signing keys) and their Polar customer
 * (read under RLS with their own token). Both run under the request's deadline.
 *
 * @module
 */
import { createUserVerifier, type VerifiedUser } from "./auth.ts";
import type { UserFunctionConfig } from "./config.ts";
import { createCustomerIdReader } from "./rest.ts";
import { createSigningKeys, type SigningKeys, type SigningKeysOptions } from "./signing_keys.ts";

/** The caller's identity and customer link. */
export interface CallerAccess {
  /** Answers who sent the request, or throws 401 (500 when the keys cannot be had). */
  verifyUser: (request: Request) => Promise<VerifiedUser>;
  /** The caller's `polar_customer_id`, read under RLS; `null` when there is none. */
  readCustomerId: (user: VerifiedUser) => Promise<string | null>;
}

/** Options of {@linkcode createCallerAccess}. */
export interface CallerAccessOptions {
  /** The `fetch` for JWKS, Auth and PostgREST; the global one by default (tests: a stand-in). */
  fetch?: typeof fetch;
  /** Key cache timings (refresh interval, maximum and stale ages) and a clock, for tests. */
  signingKeys?: Pick<SigningKeysOptions, "refreshIntervalMs" | "maxAgeMs" | "maxStaleMs" | "now">;
  /** The wall clock for token expiry, in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/**
 * Makes the signing keys (inline from `SUPABASE_JWKS`, else fetched and cached for the life of the
 * instance), the verifier and the customer reader.
 *
 * @param config the project URL, publishable key, expected issuer and inline keys
 * @param options `fetch`, key cache timings and clock
 * @returns `verifyUser` and `readCustomerId`
 * @example
 * ```ts
 * const { verifyUser, readCustomerId } = createCallerAccess(config);
 * const customerId = await readCustomerId(await verifyUser(request));
 * ```
 */
export function createCallerAccess(
  config: Pick<
    UserFunctionConfig,
    "supabaseUrl" | "supabasePublishableKey" | "authIssuer" | "supabaseJwks"
  >,
  options: CallerAccessOptions = {},
): CallerAccess {
  const keys: SigningKeys = createSigningKeys({
    ...options.signingKeys,
    jwks: config.supabaseJwks as SigningKeysOptions["jwks"],
    jwksUrl: `${config.supabaseUrl}/auth/v1/.well-known/jwks.json`,
    fetch: options.fetch,
  });
  return {
    verifyUser: createUserVerifier(keys, {
      issuer: config.authIssuer,
      legacyAuthCheck: {
        supabaseUrl: config.supabaseUrl,
        apiKey: config.supabasePublishableKey,
        fetch: options.fetch,
      },
      now: options.now,
    }),
    readCustomerId: createCustomerIdReader({
      supabaseUrl: config.supabaseUrl,
      apiKey: config.supabasePublishableKey,
      fetch: options.fetch,
    }),
  };
}
