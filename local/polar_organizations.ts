/**
 * Polar's organization and its one-subscription rule (API 2026-10), as the Polar stand-in and the
 * tests' fake answer them: `GET /v1/organizations/` (an organization token sees its own
 * organization only) and `GET /v1/organizations/{id}`, with `subscription_settings`; and the
 * rule Polar's checkout applies (`server/polar/checkout/service.py`,
 * `_validate_subscription_uniqueness`): unless `allow_multiple_subscriptions` is on (it is off by
 * default), a checkout of a recurring product for a customer who already has a billable
 * subscription (active, trialing or past_due) is refused with 403
 * `AlreadyActiveSubscriptionError` "You already have an active subscription.". One-time products
 * and upgrades of an existing subscription are exempt. Polar checks it when the checkout is
 * updated or confirmed (on its page, after the buyer typed a card), not when it is created.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { ORGANIZATION_ID } from "./polar_models.ts";

/** The organization's fields the functions read. */
export type OrganizationModel =
  & Pick<
    models.Organization,
    "id" | "name" | "slug" | "created_at" | "modified_at"
  >
  & {
    /** Only `allow_multiple_subscriptions` is read; Polar sends more settings. */
    subscription_settings: Pick<
      models.OrganizationSubscriptionSettings,
      "allow_multiple_subscriptions"
    >;
  };

/** Polar's statuses that count as a billable subscription (`SubscriptionStatus.billable_statuses`). */
export const BILLABLE_STATUSES = ["active", "trialing", "past_due"] as const;

/** Polar's words for a second subscription it refuses. */
export const ALREADY_ACTIVE_SUBSCRIPTION_DETAIL = "You already have an active subscription.";

/**
 * The organization, as `GET /v1/organizations/{id}` returns it (the fields the functions read).
 *
 * @param settings whether several subscriptions per customer are allowed (Polar's default: no)
 * @returns the organization
 * @example
 * ```ts
 * organizationModel({ allowMultipleSubscriptions: false }).subscription_settings;
 * // { allow_multiple_subscriptions: false }
 * ```
 */
export function organizationModel(
  settings: { allowMultipleSubscriptions: boolean },
): OrganizationModel {
  return {
    id: ORGANIZATION_ID,
    created_at: "2026-01-01T00:00:00.000Z",
    modified_at: null,
    name: "Polar billing demo",
    slug: "polar-billing-demo",
    subscription_settings: { allow_multiple_subscriptions: settings.allowMultipleSubscriptions },
  };
}

/**
 * The organization routes.
 *
 * @param organization the organization, read on every request (its settings may change)
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarOrganizationRoutes(() => organizationModel({ allowMultipleSubscriptions: false }));
 * routes({ method: "GET", url: new URL("http://x/v1/organizations/") })?.status; // 200
 * ```
 */
export function createPolarOrganizationRoutes(
  organization: () => OrganizationModel,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET") return undefined;
    if (url.pathname === "/v1/organizations/") {
      return Response.json({
        items: [organization()],
        pagination: { total_count: 1, max_page: 1 },
      });
    }
    const id = url.pathname.match(/^\/v1\/organizations\/([^/]+)$/)?.[1];
    if (!id) return undefined;
    const current = organization();
    return decodeURIComponent(id) === current.id
      ? Response.json(current)
      : Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
  };
}

/**
 * Whether Polar refuses this checkout as a second subscription, by the rule in the module doc.
 *
 * @param checkout the product bought, whether it recurs, and the paying customer
 * @param context the organization's setting and the customers' subscriptions
 * @returns `true` when Polar answers 403 `AlreadyActiveSubscriptionError`
 * @example
 * ```ts
 * refusesSecondSubscription({ recurring: true, customerId }, { allowMultiple: false, subscriptions });
 * ```
 */
export function refusesSecondSubscription(
  checkout: { recurring: boolean; customerId: string | null; upgradesSubscription?: boolean },
  context: { allowMultiple: boolean; subscriptions: Iterable<models.Subscription> },
): boolean {
  if (context.allowMultiple || !checkout.recurring || checkout.upgradesSubscription) return false;
  if (checkout.customerId === null) return false;
  return [...context.subscriptions].some((s) =>
    s.customer_id === checkout.customerId &&
    (BILLABLE_STATUSES as readonly string[]).includes(s.status)
  );
}

/**
 * Polar's 403 for a second subscription, as its API answers it.
 *
 * @returns the response: `{ error: "AlreadyActiveSubscriptionError", detail: "…" }`
 * @example
 * ```ts
 * alreadyActiveSubscription().status; // 403
 * ```
 */
export function alreadyActiveSubscription(): Response {
  return Response.json(
    { error: "AlreadyActiveSubscriptionError", detail: ALREADY_ACTIVE_SUBSCRIPTION_DETAIL },
    { status: 403 },
  );
}
