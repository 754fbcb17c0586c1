/**
 * Polar's organization-wide benefit grants (API 2026-10), as the Polar stand-in and the tests'
 * fake answer them: `GET /v1/benefit-grants/` (paged, 100 at most; filters `is_granted`,
 * `customer_id`, `external_customer_id`; sorting `-created_at` by default, also `created_at`,
 * `granted_at`, `revoked_at`). Each grant embeds its `customer` (with `external_id`) and its
 * `benefit`. Checked against Polar's server (`server/polar/benefit/grant/endpoints.py`,
 * `sorting.py`, `benefit/schemas.py`).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { booleanFilter, listPage, matchesAny, sortItems } from "./polar_pages.ts";

/**
 * The benefit grant routes over a source of grants (read on every request).
 *
 * @param grants every grant of the organization, granted or revoked
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarBenefitGrantRoutes(() => [grant]);
 * await routes({ method: "GET", url: new URL("http://x/v1/benefit-grants/?is_granted=true") })?.json();
 * ```
 */
export function createPolarBenefitGrantRoutes(
  grants: () => Iterable<models.BenefitGrant>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET" || url.pathname !== "/v1/benefit-grants/") return undefined;
    const isGranted = booleanFilter(url, "is_granted");
    const matching = [...grants()].filter((grant) =>
      (isGranted === null || grant.is_granted === isGranted) &&
      matchesAny(url, "customer_id", grant.customer_id) &&
      matchesAny(url, "external_customer_id", grant.customer.external_id)
    );
    return Response.json(
      listPage(
        url,
        sortItems(url, matching, "-created_at"),
      ) satisfies models.ListResourceBenefitGrant,
    );
  };
}
