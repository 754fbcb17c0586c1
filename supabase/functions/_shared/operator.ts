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

/** What makes a caller the operator. */
export interface OperatorCredentials {
  /** Every Supabase secret or service role key (see `readOperatorKeys`). */
  secretKeys: readonly string[];
  /** The sync secret's values, one or two during a rotation (see `readSyncSecrets`). */
  syncSecrets?: readonly string[];
}

/**
 * Makes `isOperator(request)`.
 *
 * @param credentials the secret keys, and the sync secret's values
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
): (request: Request) => boolean {
  const encoder = new TextEncoder();
  const secretKeys = credentials.secretKeys.map((key) => encoder.encode(key));
  const syncSecrets = (credentials.syncSecrets ?? []).map((secret) => encoder.encode(secret));
  const bearerOpens = [...secretKeys, ...syncSecrets];
  return (request) => {
    const bearer = request.headers.get("Authorization")?.match(/^Bearer (\S+)$/)?.[1];
    const apikey = request.headers.get("apikey");
    // Every accepted value is compared with every credential in full, so the time taken does
    // not tell which bytes matched.
    const bearerMatches = bearer ? matchesAny(bearerOpens, encoder.encode(bearer)) : false;
    const apikeyMatches = apikey ? matchesAny(secretKeys, encoder.encode(apikey)) : false;
    return bearerMatches || apikeyMatches;
  };
}

function matchesAny(accepted: readonly Uint8Array[], given: Uint8Array): boolean {
  return accepted.reduce((match, value) => constantTimeEqual(value, given) || match, false);
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
