/**
 * The Polar API client: the 2026-10 core client, with services imported one by one where they are
 * used (`@polar-sh/sdk/2026-10/services/…`), so a function loads only what it calls.
 *
 * @module
 */
import { createPolarCore, errors, type PolarCore } from "@polar-sh/sdk/2026-10";
import type { PolarConfig } from "./config.ts";
import type { Deadline } from "./deadline.ts";

export type { PolarCore };

/** Seconds one Polar call may take; with the other upstream calls this keeps a request under 10 s. */
export const POLAR_TIMEOUT_SECONDS = 3.5;

/**
 * The SDK's request options for one Polar call within what is left of the request's deadline, at
 * most {@linkcode POLAR_TIMEOUT_SECONDS}; without a deadline, the client's own timeout (the same).
 *
 * @param deadline the request's deadline, if any
 * @returns the options to pass as an SDK call's last argument
 * @example
 * ```ts
 * await getExternalCustomers(polar)(userId, polarCallOptions(user.deadline));
 * ```
 */
export function polarCallOptions(deadline?: Deadline): { timeout: number } | undefined {
  return deadline ? { timeout: deadline.timeoutSeconds(POLAR_TIMEOUT_SECONDS) } : undefined;
}

/**
 * Makes the core client from the configuration.
 *
 * @param config token, server and optional base URL
 * @returns the client to pass to service functions
 * @example
 * ```ts
 * import { createCustomerSessions } from "@polar-sh/sdk/2026-10/services/customer_sessions";
 * const polar = createPolarClient({ accessToken: "polar_oat_x", server: "sandbox", apiUrl: undefined });
 * const session = await createCustomerSessions(polar)({ customer_id: "…" });
 * ```
 */
export function createPolarClient(config: PolarConfig): PolarCore {
  return createPolarCore({
    accessToken: config.accessToken,
    environment: config.server,
    baseUrl: config.apiUrl,
    timeout: POLAR_TIMEOUT_SECONDS,
  });
}

/**
 * Whether a call failed with Polar's 404: `ResourceNotFound`, or one of the SDK's per-route 404
 * errors (the seat routes' `CustomerSeatsListSeats404Error`, …), which only the status tells.
 *
 * @param error what an SDK call threw
 * @returns true for a 404
 * @example
 * ```ts
 * isPolarNotFound(error); // true when Polar has no such seat
 * ```
 */
export function isPolarNotFound(error: unknown): boolean {
  return error instanceof Error && (error as { statusCode?: unknown }).statusCode === 404;
}

/**
 * Runs a Polar call whose 404 means "there is none", answering `null` then.
 *
 * @param call the SDK call
 * @returns what it answered, or `null` on Polar's 404
 * @throws what the call threw, for any other failure
 * @example
 * ```ts
 * await orNullOnNotFound(() => getExternalCustomers(polar)(userId)); // the customer, or null
 * ```
 */
export async function orNullOnNotFound<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (isPolarNotFound(error)) return null;
    throw error;
  }
}

/**
 * Whether Polar refused a request because of one body field (a 422 whose `detail` points at it),
 * as it does with "Customer does not exist." for an unknown `customer_id`.
 *
 * @param error what a service function threw
 * @param field the body field, such as `customer_id`
 * @returns true for a 422 about that field
 * @example
 * ```ts
 * isValidationErrorOn(error, "customer_id"); // true when Polar no longer knows the customer
 * ```
 */
export function isValidationErrorOn(error: unknown, field: string): boolean {
  return validationDetails(error).some((detail) => detail.loc.includes(field));
}

/**
 * The items of a Polar 422 (`HTTPValidationError`), or none for any other error.
 *
 * @param error what a service function threw
 * @returns each item's location and message
 * @example
 * ```ts
 * validationDetails(error); // [{ loc: ["body", "customer_id"], msg: "Customer does not exist." }]
 * ```
 */
export function validationDetails(error: unknown): { loc: unknown[]; msg: string }[] {
  if (!(error instanceof errors.HTTPValidationError)) return [];
  const detail = (error.error as { detail?: unknown } | undefined)?.detail;
  if (!Array.isArray(detail)) return [];
  return detail.map((item) => ({
    loc: Array.isArray(item?.loc) ? item.loc : [],
    msg: typeof item?.msg === "string" ? item.msg : "",
  }));
}
