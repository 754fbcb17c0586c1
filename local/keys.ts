/**
 * Signing keys and tokens shaped like Supabase Auth's, for the local stack and the tests: ES256, a `kid`, and the claims
 * Supabase puts in a session token (`iss`, `aud`, `role`, `sub`, `email`, `session_id`, …).
 *
 * @module
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

/** A signing key and the JWKS that publishes it. */
export interface TestKeys {
  /** The JWKS document (`{ keys: [publicJwk] }`). */
  jwks: { keys: JWK[] };
  /** The key id; random, so JWKS caches shared inside one process never mix two test keys. */
  kid: string;
  /** Signs a token with this key (ES256, this `kid`). */
  sign(payload: JWTPayload, header?: Record<string, unknown>): Promise<string>;
}

/**
 * Makes a fresh ES256 key pair.
 *
 * @returns the keys
 * @example
 * ```ts
 * const keys = await createTestKeys();
 * const token = await keys.sign({ sub: "…", role: "authenticated" });
 * ```
 */
export async function createTestKeys(): Promise<TestKeys> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = crypto.randomUUID();
  const publicJwk = {
    ...(await exportJWK(publicKey)),
    kid,
    alg: "ES256",
    use: "sig",
    key_ops: ["verify"],
  };
  return {
    jwks: { keys: [publicJwk] },
    kid,
    sign: (payload, header = {}) =>
      new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "JWT", ...header }).sign(
        privateKey,
      ),
  };
}

/** Options of {@linkcode userClaims}. */
export interface UserClaimsOptions {
  /** The issuer, `${SUPABASE_URL}/auth/v1`. */
  issuer: string;
  /** The user id. */
  sub: string;
  /** The user's email. */
  email?: string;
  /** Seconds since the epoch; now by default. */
  now?: number;
}

/**
 * The claims of a signed-in user's access token, valid for an hour, as Supabase Auth issues them.
 *
 * @param options issuer, user and clock
 * @returns the payload to sign
 * @example
 * ```ts
 * await keys.sign(userClaims({ issuer, sub: userId, email: "ada@example.com" }));
 * ```
 */
export function userClaims(options: UserClaimsOptions): JWTPayload {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  return {
    iss: options.issuer,
    aud: "authenticated",
    sub: options.sub,
    exp: now + 3600,
    iat: now,
    email: options.email ?? `${options.sub.slice(0, 8)}@example.com`,
    phone: "",
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
  };
}

/**
 * The claims of a project API key (`anon` or `service_role`), as in Supabase's legacy keys.
 *
 * @param role `anon` or `service_role`
 * @param issuer the issuer
 * @returns the payload to sign
 * @example
 * ```ts
 * const anonKey = await keys.sign(apiKeyClaims("anon", issuer));
 * ```
 */
export function apiKeyClaims(role: "anon" | "service_role", issuer: string): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer, ref: "local", role, iat: now, exp: now + 10 * 365 * 24 * 3600 };
}

/** A project's new-style API keys, as Supabase issues them beside (or instead of) the JWT keys. */
export interface NewApiKeys {
  /** `sb_publishable_…`: safe in a browser; the gateway runs its requests as `anon`. */
  publishable: string;
  /** `sb_secret_…`: server only; the gateway runs its requests as `service_role`. */
  secret: string;
}

/**
 * Makes a random pair of new-style API keys. Unlike the legacy keys they are not JWTs: only the
 * gateway knows what they stand for.
 *
 * @returns the keys
 * @example
 * ```ts
 * createNewApiKeys().publishable; // "sb_publishable_3q2-…"
 * ```
 */
export function createNewApiKeys(): NewApiKeys {
  const random = () =>
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))
      .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return { publishable: `sb_publishable_${random()}`, secret: `sb_secret_${random()}` };
}
