/**
 * What the user-facing functions need to know about their caller, wired once per instance: who
 * they are (their token, verified against the project's JWKS) and their Polar customer (read
 * under RLS with their own token).
 *
 * @module
 */
import { createUserVerifier, type VerifiedUser } from "./auth.ts";
import type { UserFunctionConfig } from "./config.ts";
import { createServerClient, readCustomerId } from "./supabase.ts";

/** The caller's identity and customer link. */
export interface CallerAccess {
  /** Answers who sent the request, or throws 401. */
  verifyUser: (request: Request) => Promise<VerifiedUser>;
  /** The caller's `polar_customer_id`, read under RLS; `null` when there is none. */
  readCustomerId: (user: VerifiedUser) => Promise<string | null>;
}

/**
 * Makes one anon-key Supabase client (its JWKS cache lives as long as the function instance) and
 * the two functions built on it.
 *
 * @param config the project URL, anon key and expected issuer
 * @returns `verifyUser` and `readCustomerId`
 * @example
 * ```ts
 * const { verifyUser, readCustomerId } = createCallerAccess(config);
 * const customerId = await readCustomerId(await verifyUser(request));
 * ```
 */
export function createCallerAccess(
  config: Pick<UserFunctionConfig, "supabaseUrl" | "supabasePublishableKey" | "authIssuer">,
): CallerAccess {
  const supabase = createServerClient(config.supabaseUrl, config.supabasePublishableKey);
  return {
    verifyUser: createUserVerifier(supabase.auth, { issuer: config.authIssuer }),
    readCustomerId: (user) => readCustomerId(supabase, user),
  };
}
