/**
 * Whether a request comes from the project's operator: its bearer token is one of the project's
 * secret keys (or the legacy service role key), compared in constant time.
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
    const token = request.headers.get("Authorization")?.match(/^Bearer (\S+)$/)?.[1];
    if (!token) return false;
    const given = encoder.encode(token);
    // Every key is compared in full, so the time taken does not tell which bytes matched.
    return encoded.reduce((found, key) => constantTimeEqual(key, given) || found, false);
  };
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
