/**
 * The Polar access token scopes each function needs, and the fix a log line gives when Polar
 * refuses the token (401) or a scope (403), so an operator reads which variable and which scope
 * to check instead of a bare "Something went wrong".
 *
 * @module
 */

/** The scopes each function's Polar calls need (Polar: `server/polar/<resource>/auth.py`). */
export const POLAR_SCOPES = {
  checkout: [
    "customers:read",
    "customers:write",
    "checkouts:write",
    "products:read",
    "organizations:read",
    // A team's checkout: the team's members (server/polar/member/auth.py).
    "members:read",
    "members:write",
  ],
  portal: ["customer_sessions:write"],
  // server/polar/customer_seat/auth.py: listing needs read, assigning and revoking write.
  seats: ["customer_seats:read", "customer_seats:write"],
  sync: [
    "customers:read",
    "customers:write",
    "subscriptions:read",
    "benefits:read",
    "customer_meters:read",
    "meters:read",
    "events:write",
    "webhooks:read",
    "products:read",
  ],
} as const;

/** A function that calls Polar. */
export type PolarFunction = keyof typeof POLAR_SCOPES;

/** Every scope the project's token needs, in the order the setup guide lists them. */
export const ALL_POLAR_SCOPES: readonly string[] = [
  ...new Set(Object.values(POLAR_SCOPES).flat()),
].sort();

/**
 * The fix for a Polar 401 or 403 that a function's request ended with, or `undefined` for any
 * other failure.
 *
 * @param functionName the function, such as `portal`
 * @param cause what the request failed with (an `@polar-sh/sdk` error carries `statusCode`)
 * @returns one sentence naming the variable and the scopes to check
 * @example
 * ```ts
 * polarAuthFix("portal", Object.assign(new Error("Polar API returned an error: 403 - …"), { statusCode: 403 }));
 * // "Polar refused a scope (403): give the token in POLAR_ACCESS_TOKEN the scopes portal needs: customer_sessions:write …"
 * ```
 */
export function polarAuthFix(functionName: string, cause: unknown): string | undefined {
  const status = polarStatusOf(cause);
  if (status === 401) {
    return "Polar refused the token (401): check POLAR_ACCESS_TOKEN, and that POLAR_SERVER " +
      "names the server it was made on (a sandbox token is invalid on production and the other " +
      "way round); `deno task doctor` says which";
  }
  if (status === 403) {
    const scopes = POLAR_SCOPES[functionName as PolarFunction] ?? ALL_POLAR_SCOPES;
    return `Polar refused a scope (403): give the token in POLAR_ACCESS_TOKEN the scopes ` +
      `${functionName} needs: ${scopes.join(", ")} (\`deno task doctor\` names the missing one)`;
  }
  return undefined;
}

/** The HTTP status of an `@polar-sh/sdk` client error, if the cause is one. */
function polarStatusOf(cause: unknown): number | undefined {
  if (!(cause instanceof Error) || !cause.message.startsWith("Polar API returned")) {
    return undefined;
  }
  const status = (cause as { statusCode?: unknown }).statusCode;
  return typeof status === "number" ? status : undefined;
}
