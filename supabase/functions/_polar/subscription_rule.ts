/**
 * One subscription unless the organization allows several. Polar refuses a checkout of a recurring
 * product for a customer who already has a billable subscription (active, trialing, past_due)
 * unless the organization's `allow_multiple_subscriptions` is on (off by default), with 403
 * `AlreadyActiveSubscriptionError`; it checks on its own checkout page, after the buyer typed a
 * card. The checkout function asks first, from the database, and answers 409 with words a user
 * can act on. One-time products are never blocked.
 *
 * @module
 */
import { errors } from "@polar-sh/sdk/2026-10";
import { listOrganizations } from "@polar-sh/sdk/2026-10/services/organizations";
import { getProducts } from "@polar-sh/sdk/2026-10/services/products";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Deadline } from "./deadline.ts";
import { HttpError, STATUS } from "./http_error.ts";
import { orNullOnNotFound, polarCallOptions, type PolarCore } from "./polar.ts";

/** The answer to a second subscription. */
export const ALREADY_SUBSCRIBED_MESSAGE =
  "You already have an active subscription. Manage it from the billing portal.";

/** What `public.polar_checkout_guard` answered. */
export interface CheckoutGuard {
  /** The caller's live (billable) subscription, or `null`. */
  live_subscription_id: string | null;
  /** The products the catalog knows as recurring. */
  recurring: string[];
  /** The products the catalog knows as one-time. */
  one_time: string[];
}

/** What {@linkcode createSubscriptionRule} depends on. */
export interface SubscriptionRuleDependencies {
  /** Whether the organization allows several subscriptions per customer. */
  allowsMultipleSubscriptions: (deadline?: Deadline) => Promise<boolean>;
  /** `public.polar_checkout_guard` for the user and products. */
  checkoutGuard: (
    userId: string,
    products: string[],
    deadline?: Deadline,
  ) => Promise<CheckoutGuard>;
  /** Whether Polar says the product recurs, for a product the catalog does not know yet. */
  productIsRecurring: (productId: string, deadline?: Deadline) => Promise<boolean>;
}

/**
 * Makes the rule: throws the 409 when the caller already has a live subscription, the
 * organization does not allow several, and any product offered recurs (the buyer may pick any
 * of them on Polar's page). A product the catalog does not know is asked of Polar.
 *
 * @param deps the setting, the database's answer and Polar's product read
 * @returns `enforce(userId, products, deadline)`, resolving when the checkout may go ahead
 * @example
 * ```ts
 * const enforce = createSubscriptionRule(deps);
 * await enforce(user.id, ["7a0f6c3e-…"]); // throws HttpError 409 for a second subscription
 * ```
 */
export function createSubscriptionRule(
  deps: SubscriptionRuleDependencies,
): (userId: string, products: string[], deadline?: Deadline) => Promise<void> {
  return async (userId, products, deadline) => {
    const [allowed, guard] = await Promise.all([
      deps.allowsMultipleSubscriptions(deadline),
      deps.checkoutGuard(userId, products, deadline),
    ]);
    if (allowed || guard.live_subscription_id === null) return;
    if (guard.recurring.length > 0) throw alreadySubscribed(guard.live_subscription_id);
    const unknown = products.filter((id) =>
      !guard.recurring.includes(id) && !guard.one_time.includes(id)
    );
    const recurs = await Promise.all(unknown.map((id) => deps.productIsRecurring(id, deadline)));
    if (recurs.some(Boolean)) throw alreadySubscribed(guard.live_subscription_id);
  };
}

/**
 * The 409 for a second subscription; the live subscription's id goes to the log only.
 *
 * @param cause what to log: the live subscription, or Polar's own refusal
 * @returns the error
 * @example
 * ```ts
 * alreadySubscribed("sub_1").status; // 409
 * ```
 */
export function alreadySubscribed(cause: unknown): HttpError {
  return new HttpError(STATUS.Conflict, ALREADY_SUBSCRIBED_MESSAGE, { cause });
}

/**
 * Whether Polar refused a checkout because the customer already has an active subscription:
 * 403 with `"error": "AlreadyActiveSubscriptionError"` (the SDK throws it as a
 * `PolarClientError` holding the body's text).
 *
 * @param error what a checkout call threw
 * @returns true for that refusal
 * @example
 * ```ts
 * isAlreadyActiveSubscription(error); // true for Polar's 403 "You already have an active subscription."
 * ```
 */
export function isAlreadyActiveSubscription(error: unknown): boolean {
  // The SDK's `PolarClientError` is not among the `errors` of `@polar-sh/sdk/2026-10`; importing
  // the package root for it would load the whole SDK, so it is recognised by shape.
  if (!(error instanceof Error) || error instanceof errors.HTTPValidationError) return false;
  const { statusCode, error: detail } = error as Error & { statusCode?: unknown; error?: unknown };
  if (statusCode !== STATUS.Forbidden) return false;
  const body = typeof detail === "string" ? detail : JSON.stringify(detail ?? "");
  try {
    return (JSON.parse(body) as { error?: unknown })?.error === "AlreadyActiveSubscriptionError";
  } catch {
    return false;
  }
}

/**
 * Makes `allowsMultipleSubscriptions`: the explicit setting when there is one, else Polar's
 * organization setting (`subscription_settings.allow_multiple_subscriptions` of
 * `GET /v1/organizations/`), read once and cached for the worker's life. When Polar cannot be
 * asked (no `organizations:read` scope, a failure), the answer is Polar's default, one
 * subscription, and nothing is cached, so the next checkout asks again.
 *
 * @param setting `POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS`, or `undefined`
 * @param polar the core client
 * @param options `warn`, where a failed read is reported (the console by default)
 * @returns the function
 * @example
 * ```ts
 * const allows = createOrganizationSetting(undefined, polar);
 * await allows(); // false, unless the organization allows several subscriptions
 * ```
 */
export function createOrganizationSetting(
  setting: boolean | undefined,
  polar: PolarCore,
  options: { warn?: (message: string) => void } = {},
): (deadline?: Deadline) => Promise<boolean> {
  if (setting !== undefined) return () => Promise.resolve(setting);
  const list = listOrganizations(polar);
  const warn = options.warn ?? ((message) => console.warn(message));
  let cached: boolean | undefined;
  return async (deadline) => {
    if (cached !== undefined) return cached;
    try {
      const page = await list(
        { limit: 1 },
        polarCallOptions(deadline),
      );
      const organization = page.items[0];
      if (!organization) return false;
      cached = organization.subscription_settings?.allow_multiple_subscriptions === true;
      return cached;
    } catch (error) {
      warn(
        `Could not read Polar's allow_multiple_subscriptions (${
          error instanceof Error ? error.name : "error"
        }); one subscription per customer is assumed. Set POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS to skip the read`,
      );
      return false;
    }
  };
}

/**
 * Makes `productIsRecurring` with the SDK's product read; an unknown product counts as not
 * recurring (Polar's checkout then refuses it with its own 422).
 *
 * @param polar the core client
 * @returns the function
 * @example
 * ```ts
 * await createProductRecurrence(polar)(productId); // true for a plan
 * ```
 */
export function createProductRecurrence(
  polar: PolarCore,
): (productId: string, deadline?: Deadline) => Promise<boolean> {
  const get = getProducts(polar);
  return async (productId, deadline) => {
    const product = await orNullOnNotFound(() => get(productId, polarCallOptions(deadline)));
    return product?.is_recurring === true;
  };
}

/**
 * Makes `checkoutGuard`: `public.polar_checkout_guard` through PostgREST with the service role.
 *
 * @param supabase a client made with the secret (service role) key
 * @returns the function
 * @throws {Error} from the returned function when PostgREST answers an error
 * @example
 * ```ts
 * await createCheckoutGuard(admin)(user.id, [productId]); // { live_subscription_id: null, … }
 * ```
 */
export function createCheckoutGuard(
  supabase: SupabaseClient,
): (userId: string, products: string[], deadline?: Deadline) => Promise<CheckoutGuard> {
  return async (userId, products, deadline) => {
    const call = supabase.rpc("polar_checkout_guard", { user_id: userId, product_ids: products });
    const { data, error } = await (deadline ? call.abortSignal(deadline.signal) : call);
    if (error) throw new Error(`polar_checkout_guard failed: ${error.message}`, { cause: error });
    if (!isCheckoutGuard(data)) {
      throw new Error("polar_checkout_guard returned an unexpected value");
    }
    return data;
  };
}

function isCheckoutGuard(value: unknown): value is CheckoutGuard {
  const guard = value as CheckoutGuard | null;
  return typeof guard === "object" && guard !== null &&
    (guard.live_subscription_id === null || typeof guard.live_subscription_id === "string") &&
    Array.isArray(guard.recurring) && Array.isArray(guard.one_time);
}
