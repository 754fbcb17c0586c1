/**
 * The project's token signing keys: inline from `SUPABASE_JWKS` (never fetched), or fetched from
 * Auth's JWKS endpoint and kept with rules that fail safe:
 *
 * - a malformed or failed answer is never cached: the last good keys stay, and without any the
 *   caller gets {@linkcode SigningKeysUnavailableError} (a 500, not the user's fault) until a later
 *   fetch succeeds;
 * - fetches, failed or not, are at least `refreshIntervalMs` apart, so tokens with made-up `kid`s
 *   cannot make an instance call Auth more than once per interval (a negative cache);
 * - keys are refreshed when `maxAgeMs` old, and while Auth cannot be reached the last good keys are
 *   used until `maxStaleMs` after they were fetched, no longer.
 *
 * @module
 */
import { createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK } from "jose";
import { type Deadline, withDeadline } from "./deadline.ts";

/** Milliseconds one JWKS fetch may take, within the request's own deadline. */
export const JWKS_FETCH_TIMEOUT_MS = 3_000;

/** The defaults of {@linkcode SigningKeysOptions}' timings. */
export const SIGNING_KEYS_DEFAULTS = {
  /** At most one fetch per 10 s per instance, whatever tokens arrive. */
  refreshIntervalMs: 10_000,
  /** Keys are refetched when next needed after 10 min, to pick up rotations. */
  maxAgeMs: 10 * 60_000,
  /** While Auth is unreachable, keys fetched up to 1 h ago are still used. */
  maxStaleMs: 60 * 60_000,
} as const;

/** What a token's protected header says about its key. */
export interface KeyHeader {
  /** The signing algorithm (`ES256`, `RS256`, `HS256`, …). */
  alg?: string;
  /** The key id. */
  kid?: string;
}

/** The key a token claims was used is not among the project's keys: the caller's fault (401). */
export class UnknownSigningKeyError extends Error {
  /**
   * @param message why
   * @param options the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnknownSigningKeyError";
  }
}

/** The keys could not be obtained (unreachable, timed out, malformed): our fault (500). */
export class SigningKeysUnavailableError extends Error {
  /**
   * @param message what failed
   * @param options the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SigningKeysUnavailableError";
  }
}

/** The project's signing keys. */
export interface SigningKeys {
  /**
   * The key for a token's header.
   *
   * @throws {UnknownSigningKeyError} when no key matches, after at most one allowed refresh
   * @throws {SigningKeysUnavailableError} when no usable key set can be had
   */
  keyFor(header: KeyHeader, deadline?: Deadline): Promise<CryptoKey | Uint8Array>;
  /**
   * Whether the project signs with a shared secret only (its JWKS publishes no asymmetric key),
   * so HS256 tokens can only be checked by Auth itself.
   */
  isLegacyOnly(deadline?: Deadline): Promise<boolean>;
}

/** Options of {@linkcode createSigningKeys}. */
export interface SigningKeysOptions {
  /** The inline key set (`SUPABASE_JWKS`); when given, nothing is ever fetched. */
  jwks?: JSONWebKeySet;
  /** Auth's JWKS URL, `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`; needed without `jwks`. */
  jwksUrl?: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
  /** Minimum milliseconds between two fetches. */
  refreshIntervalMs?: number;
  /** Age in milliseconds after which keys are refetched when next needed. */
  maxAgeMs?: number;
  /** Age in milliseconds after which keys are no longer used, even when Auth is unreachable. */
  maxStaleMs?: number;
  /** A monotonic clock in milliseconds; `performance.now` by default. */
  now?: () => number;
}

interface KeySet {
  jwks: JSONWebKeySet;
  resolve: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

/**
 * Makes the key source: inline when `jwks` is given, else fetched from `jwksUrl`.
 *
 * @param options the inline set or the URL, and the timings
 * @returns the keys
 * @throws {SigningKeysUnavailableError} when the inline set is malformed
 * @example
 * ```ts
 * const keys = createSigningKeys({ jwksUrl: "https://ref.supabase.co/auth/v1/.well-known/jwks.json" });
 * await keys.keyFor({ alg: "ES256", kid: "…" }); // CryptoKey
 * ```
 */
export function createSigningKeys(options: SigningKeysOptions): SigningKeys {
  const settings = { ...SIGNING_KEYS_DEFAULTS, ...withoutUndefined(options) };
  const now = options.now ?? (() => performance.now());
  if (options.jwks) {
    const set = toKeySet(options.jwks, now());
    return {
      keyFor: (header) => lookUp(set, header),
      isLegacyOnly: () => Promise.resolve(!hasAsymmetricKey(set.jwks)),
    };
  }
  const jwksUrl = options.jwksUrl;
  if (!jwksUrl) throw new TypeError("createSigningKeys needs jwks or jwksUrl");
  const baseFetch = options.fetch ?? globalThis.fetch;

  let current: KeySet | undefined;
  let lastAttemptAt = -Infinity;
  let lastFailure: unknown;
  let pending: Promise<KeySet | undefined> | undefined;

  const mayFetch = () => now() - lastAttemptAt >= settings.refreshIntervalMs;
  const usable = (set: KeySet | undefined) =>
    set && now() - set.fetchedAt < settings.maxStaleMs ? set : undefined;

  // One fetch at a time; a failure keeps what was there and is remembered for the error message.
  const refresh = (deadline: Deadline | undefined): Promise<KeySet | undefined> => {
    pending ??= (async () => {
      lastAttemptAt = now();
      try {
        current = toKeySet(await fetchJwks(baseFetch, jwksUrl, deadline), now());
        lastFailure = undefined;
      } catch (error) {
        lastFailure = error;
      } finally {
        pending = undefined;
      }
      return current;
    })();
    return raceDeadline(pending, deadline);
  };

  const unavailable = () =>
    new SigningKeysUnavailableError(
      `Could not fetch the signing keys from ${jwksUrl}`,
      { cause: lastFailure },
    );

  // The key set to use now: fresh enough, or refreshed when allowed, or the last good one within
  // its stale limit.
  const keySet = async (deadline: Deadline | undefined): Promise<KeySet> => {
    if (current && now() - current.fetchedAt < settings.maxAgeMs) return current;
    if (pending || mayFetch()) await refresh(deadline);
    const set = usable(current);
    if (!set) throw unavailable();
    return set;
  };

  return {
    async keyFor(header, deadline) {
      const set = await keySet(deadline);
      try {
        return await lookUp(set, header);
      } catch (error) {
        if (!(error instanceof UnknownSigningKeyError)) throw error;
        // While the last fetch failed, nobody can tell whether the key is real: our fault.
        if (lastFailure !== undefined && !mayFetch()) throw unavailable();
        if (!mayFetch()) throw error;
      }
      // An unknown kid may be a key rotated in since the last fetch: one refresh, if allowed.
      const refreshed = usable(await refresh(deadline));
      if (!refreshed || lastFailure !== undefined) throw unavailable();
      return await lookUp(refreshed, header);
    },
    async isLegacyOnly(deadline) {
      return !hasAsymmetricKey((await keySet(deadline)).jwks);
    },
  };
}

async function fetchJwks(
  baseFetch: typeof fetch,
  url: string,
  deadline: Deadline | undefined,
): Promise<unknown> {
  const signal = withDeadline(deadline, AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS));
  const response = await baseFetch(url, { headers: { Accept: "application/json" }, signal });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`JWKS answered ${response.status}`);
  }
  return await response.json();
}

function toKeySet(value: unknown, fetchedAt: number): KeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "object" && key !== null)) {
    throw new SigningKeysUnavailableError('The key set is malformed: expected {"keys":[{…}]}');
  }
  const jwks = value as JSONWebKeySet;
  return { jwks, resolve: createLocalJWKSet(jwks), fetchedAt };
}

async function lookUp(set: KeySet, header: KeyHeader): Promise<CryptoKey | Uint8Array> {
  if (header.alg === "HS256") {
    // Supabase may publish the legacy shared secret as an `oct` key; jose's key sets skip those.
    const jwk = set.jwks.keys.find((key) =>
      key.kty === "oct" && key.kid === header.kid && (key.alg === undefined || key.alg === "HS256")
    );
    if (!jwk) throw new UnknownSigningKeyError("No HS256 key matches the token's kid");
    return await importJWK(jwk as JWK, "HS256");
  }
  try {
    return await set.resolve({ alg: header.alg, kid: header.kid });
  } catch (error) {
    // jose: no key, two keys or an unusable alg for this kid. All describe the token, not us.
    throw new UnknownSigningKeyError(`No key matches the token's header`, { cause: error });
  }
}

function hasAsymmetricKey(jwks: JSONWebKeySet): boolean {
  return jwks.keys.some((key) => key.kty === "EC" || key.kty === "RSA" || key.kty === "OKP");
}

function raceDeadline<T>(promise: Promise<T>, deadline: Deadline | undefined): Promise<T> {
  if (!deadline) return promise;
  const { signal } = deadline;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<
    T
  >;
}
