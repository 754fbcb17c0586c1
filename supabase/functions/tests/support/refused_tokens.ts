/**
 * The tokens every user-facing function must answer 401 to, as one table, so `portal` and
 * `checkout` are held to the same rules.
 *
 * @module
 */
import { apiKeyClaims, createTestKeys, userClaims } from "../../../../local/keys.ts";
import type { TestSupabase } from "./supabase_stand_in.ts";

/** A value of `POLAR_SYNC_SECRET` (64 hex characters, as `openssl rand -hex 32` makes). */
export const TEST_SYNC_SECRET = "5b0f3c8e1a7d4e2f9c6b8a0d3e5f7a1c2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d1f";

/**
 * Builds the table: case name to `Authorization` header value (`undefined`: none sent).
 *
 * @param supabase the test's Supabase (its keys, issuer and anon key)
 * @param userId a real user's id, so only the named flaw makes each token bad
 * @returns the cases
 * @example
 * ```ts
 * for (const [name, authorization] of Object.entries(await refusedAuthorizations(supabase, id))) …
 * ```
 */
export async function refusedAuthorizations(
  supabase: Pick<TestSupabase, "keys" | "issuer" | "anonKey" | "userToken">,
  userId: string,
): Promise<Record<string, string | undefined>> {
  const { keys, issuer } = supabase;
  const otherKeys = await createTestKeys();
  const now = Math.floor(Date.now() / 1000);
  const claims = userClaims({ issuer, sub: userId });
  const unsigned = [
    btoa(JSON.stringify({ alg: "none", typ: "JWT" })),
    btoa(JSON.stringify(claims)),
    "",
  ].join(".").replaceAll("=", "");
  const bearer = async (token: string | Promise<string>) => `Bearer ${await token}`;
  return {
    "no token": undefined,
    "the anon key": await bearer(supabase.anonKey),
    "the service role key": await bearer(keys.sign(apiKeyClaims("service_role", issuer))),
    "garbage": "Bearer not-a-jwt",
    "three garbage parts": "Bearer aaa.bbb.ccc",
    "an expired token": await bearer(keys.sign({ ...claims, exp: now - 10, iat: now - 3610 })),
    "a token signed by another key with our kid": await bearer(
      otherKeys.sign(claims, { kid: keys.kid }),
    ),
    "a token signed by an unknown key": await bearer(otherKeys.sign(claims)),
    "a token from another issuer": await bearer(
      keys.sign({ ...claims, iss: "https://other.supabase.co/auth/v1" }),
    ),
    "a token with role anon": await bearer(keys.sign({ ...claims, role: "anon" })),
    "a token with another audience": await bearer(keys.sign({ ...claims, aud: "other" })),
    "a token without sub": await bearer(keys.sign({ ...claims, sub: undefined })),
    "a token without exp": await bearer(keys.sign({ ...claims, exp: undefined })),
    "a token not valid yet (nbf in the future)": await bearer(
      keys.sign({ ...claims, nbf: now + 600 }),
    ),
    "a token whose sub is not a UUID": await bearer(keys.sign({ ...claims, sub: "user-1" })),
    "a token whose exp is not a number": await bearer(
      // jose's JWTPayload types exp as a number; a forger's token need not follow it.
      keys.sign({ ...claims, exp: String(now + 3600) as unknown as number }),
    ),
    "an alg none token": await bearer(unsigned),
    "a valid token under the Basic scheme": `Basic ${await supabase.userToken(userId)}`,
    // The schedule's secret opens only the sync function's operator scopes, nothing else.
    "the sync secret (POLAR_SYNC_SECRET)": `Bearer ${TEST_SYNC_SECRET}`,
  };
}
