/**
 * Polar's organization-wide customer meters (API 2026-10), as the Polar stand-in and the tests'
 * fake answer them: `GET /v1/customer-meters/` (paged, 100 at most; filters `customer_id`,
 * `external_customer_id`, `meter_id`; sorting `-modified_at` by default, also `created_at`).
 * Each item embeds its `customer` (with `external_id`) and its `meter`. Checked against Polar's
 * server (`server/polar/customer_meter/endpoints.py`, `schemas.py`, `sorting.py`): meters whose
 * meter is archived are left out of the list.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { listPage, matchesAny, sortItems } from "./polar_pages.ts";

/**
 * The customer meter routes over a source of customer meters (read on every request).
 *
 * @param meters every customer meter of the organization
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarCustomerMeterRoutes(() => [meter]);
 * await routes({ method: "GET", url: new URL("http://x/v1/customer-meters/") })?.json();
 * ```
 */
export function createPolarCustomerMeterRoutes(
  meters: () => Iterable<models.CustomerMeter>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET" || url.pathname !== "/v1/customer-meters/") return undefined;
    const matching = [...meters()].filter((meter) =>
      !meter.meter.archived_at &&
      matchesAny(url, "customer_id", meter.customer_id) &&
      matchesAny(url, "external_customer_id", meter.customer.external_id) &&
      matchesAny(url, "meter_id", meter.meter_id)
    );
    return Response.json(
      listPage(
        url,
        sortItems(url, matching, "-modified_at"),
      ) satisfies models.ListResourceCustomerMeter,
    );
  };
}
