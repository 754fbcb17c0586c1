/**
 * Whether a request comes from the project's operator. Two kinds of credential open the sync
 * function's operator scopes, each compared in constant time:
 *
 * - one of the project's secret keys (or the legacy service role key), as the bearer token or in
 *   `apikey` (where Supabase's own server helper looks for a secret key): an operator's curl;
 * - the sync secret (`POLAR_SYNC_SECRET`), as the bearer token only: what the schedule sends, so
 *   that no Supabase key ever waits in pg_net's queue, which every database role can read.
 *
 * @module
 */
import { constantTimeEqual } from "./constant_time.ts";

/** What makes a caller the operator. */
export interface OperatorCredentials {
  /** Every Supabase secret or service role key (see `readOperatorKeys`). */
  secretKeys: readonly string[];
  /** The sync secret's values, one or two during a rotation (see `readSyncSecrets`). */
  syncSecrets?: readonly string[];
}

/** Options of {@linkcode createOperatorCheck}. */
export interface OperatorCheckOptions {
  /** How a given value is compared with a credential; it must take the same time whatever
   * bytes match. */
  equal?: (credential: Uint8Array, given: Uint8Array) => boolean;
}

/** What {@linkcode createOperatorCheck} uses unless told otherwise: a constant-time comparison. */
export const OPERATOR_CHECK_DEFAULTS = {
  equal: constantTimeEqual,
} as const satisfies Required<OperatorCheckOptions>;

/** `isOperator(request)`, and the comparison it makes with, so the wiring can be checked. */
export interface OperatorCheck {
  /** Whether the request carries an operator credential. */
  (request: Request): boolean;
  /** The comparison of offered values with credentials. */
  readonly equal: (credential: Uint8Array, given: Uint8Array) => boolean;
}

/**
 * Makes `isOperator(request)`. Every value a request offers is compared, through `equal` alone,
 * with every credential it could match.
 *
 * @param credentials the secret keys, and the sync secret's values
 * @param options the comparison ({@linkcode OPERATOR_CHECK_DEFAULTS}: constant time)
 * @returns the check
 * @example
 * ```ts
 * const isOperator = createOperatorCheck({
 *   secretKeys: ["sb_secret_abc"],
 *   syncSecrets: ["4f9c0e1d2b3a49586776a5b4c3d2e1f0"],
 * });
 * isOperator(new Request(url, { headers: { Authorization: "Bearer sb_secret_abc" } })); // true
 * isOperator(new Request(url, { headers: { apikey: "4f9c0e1d2b3a49586776a5b4c3d2e1f0" } })); // false
 * ```
 */
export function createOperatorCheck(
  credentials: OperatorCredentials,
  options: OperatorCheckOptions = {},
): OperatorCheck {
  const { equal } = { ...OPERATOR_CHECK_DEFAULTS, ...options } satisfies OperatorCheckOptions;
  const encoder = new TextEncoder();
  const secretKeys = credentials.secretKeys.map((key) => encoder.encode(key));
  const syncSecrets = (credentials.syncSecrets ?? []).map((secret) => encoder.encode(secret));
  const bearerOpens = [...secretKeys, ...syncSecrets];
  const isOperator = (request: Request) => {
    const bearer = request.headers.get("Authorization")?.match(/^Bearer (\S+)$/)?.[1];
    const apikey = request.headers.get("apikey");
    // Every accepted value is compared with every credential in full, so the time taken does
    // not tell which bytes matched.
    const bearerMatches = bearer ? matchesAny(bearerOpens, encoder.encode(bearer), equal) : false;
    const apikeyMatches = apikey ? matchesAny(secretKeys, encoder.encode(apikey), equal) : false;
    return bearerMatches || apikeyMatches;
  };
  return Object.defineProperty(isOperator, "equal", { value: equal }) as OperatorCheck;
}

function matchesAny(
  accepted: readonly Uint8Array[],
  given: Uint8Array,
  equal: (credential: Uint8Array, given: Uint8Array) => boolean,
): boolean {
  return accepted.reduce((match, value) => equal(value, given) || match, false);
}
