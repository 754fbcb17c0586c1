/**
 * Whether a request comes from the project's operator: it carries one of the project's secret keys
 * (or the legacy service role key) as its bearer token or in `apikey` (where Supabase's own
 * server helper looks for a secret key), compared in constant time.
 *
 * @module
 */

/**
 * Makes `isOperator(request)`.
 *
 * @param keys every key that makes a caller the operator (see `readOperatorKeys`)
 * @returns the check
 * @example
 * ```ts
 * const isOperator = createOperatorCheck(["sb_secret_abc"]);
 * isOperator(new Request(url, { headers: { Authorization: "Bearer sb_secret_abc" } })); // true
 * ```
 */
export function createOperatorCheck(keys: readonly string[]): (request: Request) => boolean {
  const encoder = new TextEncoder();
  const encoded = keys.map((key) => encoder.encode(key));
  return (request) => {
    const bearer = request.headers.get("Authorization")?.match(/^Bearer (\S+)$/)?.[1];
    const given = [bearer, request.headers.get("apikey")]
      .filter((value): value is string => Boolean(value))
      .map((value) => encoder.encode(value));
    // Every key is compared with every credential in full, so the time taken does not tell
    // which bytes matched.
    return given.reduce(
      (found, credential) =>
        encoded.reduce((match, key) => constantTimeEqual(key, credential) || match, false) ||
        found,
      false,
    );
  };
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
