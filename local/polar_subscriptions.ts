/**
 * Polar's subscription reads (API 2026-10), as the Polar stand-in and the tests' fake answer them:
 * `GET /v1/subscriptions/` (paged; filters `active`, `status`, `customer_id`,
 * `external_customer_id`; sorting `-started_at` by default, also `started_at`, `ended_at`,
 * `-ended_at`) and `GET /v1/subscriptions/{id}` (404 `ResourceNotFound` for an unknown id).
 * Checked against Polar's server (`server/polar/subscription/endpoints.py`, `service.py`):
 * `active=true` is status active or trialing, `active=false` canceled or unpaid.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { booleanFilter, listPage, matchesAny, sortItems } from "./polar_pages.ts";

const ACTIVE = ["active", "trialing"];
const REVOKED = ["canceled", "unpaid"];

/**
 * The subscription routes over a map of subscriptions.
 *
 * @param subscriptions subscriptions by id
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarSubscriptionRoutes(new Map());
 * routes({ method: "GET", url: new URL("http://x/v1/subscriptions/s1") })?.status; // 404
 * ```
 */
export function createPolarSubscriptionRoutes(
  subscriptions: Map<string, models.Subscription>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET") return undefined;
    if (url.pathname === "/v1/subscriptions/") {
      const active = booleanFilter(url, "active");
      const matching = [...subscriptions.values()].filter((s) =>
        (active === null || (active ? ACTIVE : REVOKED).includes(s.status)) &&
        matchesAny(url, "status", s.status) &&
        matchesAny(url, "customer_id", s.customer_id) &&
        matchesAny(url, "external_customer_id", s.customer.external_id)
      );
      return Response.json(
        listPage(
          url,
          sortItems(url, matching, "-started_at"),
        ) satisfies models.ListResourceSubscription,
      );
    }
    const id = url.pathname.match(/^\/v1\/subscriptions\/([^/]+)$/)?.[1];
    if (!id) return undefined;
    const subscription = subscriptions.get(decodeURIComponent(id));
    return subscription
      ? Response.json(subscription)
      : Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
  };
}
