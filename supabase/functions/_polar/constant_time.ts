/**
 * Comparing secrets without telling, by how long it takes, how many leading bytes matched.
 *
 * @module
 */

/**
 * Whether two byte strings are equal, reading every byte of them whatever the first difference
 * (the behaviour of `node:crypto`'s `timingSafeEqual`, which throws on a length difference where
 * this answers `false`: the length of a credential is not its secret).
 *
 * @param a one value
 * @param b the other
 * @returns whether they hold the same bytes
 * @example
 * ```ts
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * constantTimeEqual(bytes("sb_secret_abc"), bytes("sb_secret_abc")); // true
 * constantTimeEqual(bytes("sb_secret_abc"), bytes("sb_secret_abd")); // false
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
