/**
 * Who is calling: the caller's Supabase access token, verified with `jose` against the project's
 * signing keys (see `signing_keys.ts`), then checked claim by claim: issuer, audience,
 * role, expiry, not-before and subject.
 *
 * @module
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import { UUID } from "./config.ts";
import { type Deadline, requestDeadline, withDeadline } from "./deadline.ts";
import { HttpError, STATUS } from "./http_error.ts";
import {
  type SigningKeys,
  SigningKeysUnavailableError,
  UnknownSigningKeyError,
} from "./signing_keys.ts";

/** A signed-in user, as their verified token says. */
export interface VerifiedUser {
  /** `sub`: the `auth.users` id, in lower case (as Polar's external_id must be). */
  id: string;
  /** `email`, when the token has one. */
  email: string | undefined;
  /** The raw token, to forward to PostgREST so that RLS sees this user. */
  accessToken: string;
  /** The request's deadline, for the upstream calls made on this user's behalf. */
  deadline?: Deadline;
}

/** How to ask Auth about an HS256 token when the project publishes no key to check it with. */
export interface AuthUserCheck {
  /** The project URL; Auth answers at `${supabaseUrl}/auth/v1/user`. */
  supabaseUrl: string;
  /** The publishable (or anon) key, sent as `apikey`. */
  apiKey: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/** Options of {@linkcode createUserVerifier}. */
export interface UserVerifierOptions {
  /** The `iss` user tokens must carry. */
  issuer: string;
  /**
   * For projects still on the legacy shared JWT secret only: HS256 tokens are checked by Auth
   * (`GET /auth/v1/user`, one call per request). Without it, or when the project publishes
   * asymmetric keys, HS256 tokens without a published key get 401 and no upstream call.
   */
  legacyAuthCheck?: AuthUserCheck;
  /** The wall clock, in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/** The role and audience of a signed-in user's token. */
const AUTHENTICATED = "authenticated";

/** Algorithms Supabase Auth signs user tokens with. */
const ALGORITHMS = ["ES256", "RS256", "HS256"];

/** Milliseconds the legacy `/auth/v1/user` check may take, within the request's deadline. */
const AUTH_USER_TIMEOUT_MS = 3_000;

/**
 * Makes `verifyUser`, which answers who sent a request or throws 401 `Unauthorized`.
 *
 * A missing, malformed or oversized header, an API key, a forged, expired, not-yet-valid or
 * foreign token, a token whose role is not `authenticated` or whose `sub` is not a UUID: 401.
 * When the keys cannot be had (JWKS unreachable, malformed, too slow) it throws a plain error, so
 * the caller answers 500 rather than blaming the user. Every upstream call (JWKS, Auth) runs
 * under the request's deadline ({@linkcode requestDeadline}), which the returned user carries.
 *
 * @param keys the project's signing keys
 * @param options the expected issuer, the legacy check and a clock
 * @returns `verifyUser(request)`
 * @example
 * ```ts
 * const keys = createSigningKeys({ jwks: JSON.parse(Deno.env.get("SUPABASE_JWKS")!) });
 * const verifyUser = createUserVerifier(keys, { issuer: "https://ref.supabase.co/auth/v1" });
 * const user = await verifyUser(request); // { id, email, accessToken, deadline }
 * ```
 */
export function createUserVerifier(
  keys: SigningKeys,
  options: UserVerifierOptions,
): (request: Request) => Promise<VerifiedUser> {
  const { issuer, legacyAuthCheck } = options;
  const now = options.now ?? Date.now;
  return async (request) => {
    const token = readBearerToken(request);
    if (!token) throw unauthorized("no bearer token");
    const deadline = requestDeadline(request);
    let header: { alg?: string; kid?: string };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthorized("malformed header");
    }
    if (!header.alg || !ALGORITHMS.includes(header.alg)) throw unauthorized("algorithm");
    const currentDate = new Date(now());
    let payload: Record<string, unknown>;
    try {
      payload = (await jwtVerify(token, (protectedHeader) =>
        keys.keyFor(protectedHeader, deadline), {
        algorithms: ALGORITHMS,
        currentDate,
      })).payload;
    } catch (error) {
      if (error instanceof SigningKeysUnavailableError) {
        throw new Error("Could not get the signing keys", { cause: error });
      }
      const legacy = error instanceof UnknownSigningKeyError && header.alg === "HS256" &&
        legacyAuthCheck && await keys.isLegacyOnly(deadline).catch((thrown) => {
          throw new Error("Could not get the signing keys", { cause: thrown });
        });
      if (legacy) {
        payload = await askAuth(legacyAuthCheck, token, deadline);
      } else if (error instanceof UnknownSigningKeyError || error instanceof joseErrors.JOSEError) {
        throw unauthorized(error.message);
      } else {
        throw error;
      }
    }
    checkClaims(payload, issuer, currentDate.getTime() / 1000);
    const email = typeof payload.email === "string" && payload.email ? payload.email : undefined;
    // Lower-cased once here, so every id that reaches Polar as an external_id (checkout, sync)
    // is the form auth.users prints and Polar's lookups by external id match.
    return { id: (payload.sub as string).toLowerCase(), email, accessToken: token, deadline };
  };
}

/**
 * What `jose` leaves to us: the claims Supabase user tokens always carry, and their values.
 * `exp` is required (jose only checks it when present); `nbf` is honoured when present.
 */
function checkClaims(claims: Record<string, unknown>, issuer: string, nowSeconds: number): void {
  if (claims.iss !== issuer) throw unauthorized("issuer mismatch");
  if (claims.role !== AUTHENTICATED) throw unauthorized("role is not authenticated");
  if (!hasAudience(claims.aud, AUTHENTICATED)) throw unauthorized("audience mismatch");
  if (typeof claims.exp !== "number" || claims.exp <= nowSeconds) throw unauthorized("expired");
  if (claims.nbf !== undefined && (typeof claims.nbf !== "number" || claims.nbf > nowSeconds)) {
    throw unauthorized("not yet valid");
  }
  if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) throw unauthorized("bad subject");
}

/** The legacy path: Auth checks the HS256 signature; the claims are then read and checked here. */
async function askAuth(
  check: AuthUserCheck,
  token: string,
  deadline: Deadline,
): Promise<Record<string, unknown>> {
  const response = await (check.fetch ?? globalThis.fetch)(`${check.supabaseUrl}/auth/v1/user`, {
    headers: { apikey: check.apiKey, Authorization: `Bearer ${token}` },
    signal: withDeadline(deadline, AbortSignal.timeout(AUTH_USER_TIMEOUT_MS)),
  });
  await response.body?.cancel();
  if (response.status === STATUS.Unauthorized || response.status === STATUS.Forbidden) {
    throw unauthorized("Auth refused the token");
  }
  if (!response.ok) throw new Error(`Auth's /auth/v1/user answered ${response.status}`);
  try {
    return decodeJwt(token);
  } catch {
    throw unauthorized("malformed payload");
  }
}

/** Tokens longer than this are refused before any parsing (Supabase's are about 1 KB). */
const MAX_TOKEN_LENGTH = 16 * 1024;

function readBearerToken(request: Request): string | undefined {
  const header = request.headers.get("Authorization");
  if (!header || header.length > MAX_TOKEN_LENGTH + 7) return undefined;
  const match = header.match(/^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/);
  return match?.[1];
}

function hasAudience(aud: unknown, expected: string): boolean {
  return Array.isArray(aud) ? aud.includes(expected) : aud === expected;
}

function unauthorized(reason: string): HttpError {
  return new HttpError(STATUS.Unauthorized, "Unauthorized", { cause: reason });
}
