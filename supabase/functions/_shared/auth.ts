/**
 * Who is calling: the caller's Supabase access token, verified locally against the project's JWKS
 * by `supabase.auth.getClaims`, then checked for what `getClaims` leaves out (issuer, audience,
 * role, subject).
 *
 * @module
 */
import { isAuthRetryableFetchError, type JwtPayload } from "@supabase/supabase-js";
import { UUID } from "./config.ts";
import { HttpError, STATUS } from "./http_error.ts";

/** The part of `supabase.auth` that verification uses. */
export interface ClaimsVerifier {
  /** `supabase.auth.getClaims`: checks the signature (JWKS, cached) and expiry. */
  getClaims(
    jwt: string,
  ): Promise<{ data: { claims: JwtPayload } | null; error: Error | null }>;
}

/** A signed-in user, as their verified token says. */
export interface VerifiedUser {
  /** `sub`: the `auth.users` id. */
  id: string;
  /** `email`, when the token has one. */
  email: string | undefined;
  /** The raw token, to forward to PostgREST so that RLS sees this user. */
  accessToken: string;
}

/** Options of {@linkcode createUserVerifier}. */
export interface UserVerifierOptions {
  /** The `iss` user tokens must carry. */
  issuer: string;
  /** The clock, in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/** The role and audience of a signed-in user's token. */
const AUTHENTICATED = "authenticated";

/**
 * Makes `verifyUser`, which answers who sent a request or throws 401 `Unauthorized`.
 *
 * A missing or malformed header, the anon key, a forged, expired or foreign token, and any token
 * whose role is not `authenticated` all get 401. When the keys cannot be fetched (JWKS
 * unreachable) it throws a plain error, so the caller answers 500 rather than blaming the user.
 *
 * @param auth `supabase.auth` (or anything with its `getClaims`)
 * @param options the expected issuer and a clock
 * @returns `verifyUser(request)`
 * @example
 * ```ts
 * const verifyUser = createUserVerifier(supabase.auth, { issuer: "https://ref.supabase.co/auth/v1" });
 * const user = await verifyUser(request); // { id, email, accessToken }
 * ```
 */
export function createUserVerifier(
  auth: ClaimsVerifier,
  options: UserVerifierOptions,
): (request: Request) => Promise<VerifiedUser> {
  const { issuer } = options;
  const now = options.now ?? Date.now;
  return async (request) => {
    const token = readBearerToken(request);
    if (!token) throw unauthorized("no bearer token");
    // getClaims throws (rather than returns) when a token's parts are not JSON.
    const { data, error } = await auth.getClaims(token).catch((thrown) => ({
      data: null,
      error: thrown instanceof Error ? thrown : new Error(String(thrown)),
    }));
    if (error && isAuthRetryableFetchError(error)) {
      throw new Error("Could not fetch the signing keys", { cause: error });
    }
    if (error || !data) throw unauthorized(error?.message ?? "no claims");
    const claims = data.claims;
    const nowSeconds = now() / 1000;
    if (claims.iss !== issuer) throw unauthorized("issuer mismatch");
    if (claims.role !== AUTHENTICATED) throw unauthorized("role is not authenticated");
    if (!hasAudience(claims.aud, AUTHENTICATED)) throw unauthorized("audience mismatch");
    if (typeof claims.exp !== "number" || claims.exp <= nowSeconds) throw unauthorized("expired");
    if (typeof claims.nbf === "number" && claims.nbf > nowSeconds) {
      throw unauthorized("not yet valid");
    }
    if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) throw unauthorized("bad subject");
    const email = typeof claims.email === "string" && claims.email ? claims.email : undefined;
    return { id: claims.sub, email, accessToken: token };
  };
}

/** Tokens longer than this are refused before any parsing (Supabase's are about 1 KB). */
const MAX_TOKEN_LENGTH = 16 * 1024;

function readBearerToken(request: Request): string | undefined {
  const header = request.headers.get("Authorization");
  const match = header?.match(/^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/);
  if (!match || match[1].length > MAX_TOKEN_LENGTH) return undefined;
  return match[1];
}

function hasAudience(aud: unknown, expected: string): boolean {
  return Array.isArray(aud) ? aud.includes(expected) : aud === expected;
}

function unauthorized(reason: string): HttpError {
  return new HttpError(STATUS.Unauthorized, "Unauthorized", { cause: reason });
}
