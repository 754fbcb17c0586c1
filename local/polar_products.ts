/**
 * Polar's products (API 2026-10), as the Polar stand-in answers them: `GET /v1/products/{id}`
 * (404 `ResourceNotFound` for an unknown id; an archived product is still answered, with
 * `is_archived: true`, as `server/polar/product/endpoints.py` does) and `GET /v1/products/`
 * (paged, `is_archived` filter). The demo subscription product grants the `pro` feature flag and
 * 100 demo meter credits a month; the credit pack grants 500 credits once.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  benefitGrantModel,
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  customerModel,
  DEMO_CREDIT_UNITS,
  DEMO_METER_ID,
  DEMO_PRODUCT_ID,
  listedBenefitGrantModel,
  meterCreditGrantModel,
  ORGANIZATION_ID,
} from "./polar_models.ts";
import { booleanFilter, listPage } from "./polar_pages.ts";

/**
 * A product as Polar answers it.
 *
 * @param fields the product's own fields: id, name, whether it recurs, its benefits
 * @returns the product
 * @example
 * ```ts
 * productModel({ id, name: "Pro", recurring: true, benefits: [] }).is_archived; // false
 * ```
 */
export function productModel(
  fields: { id: string; name: string; recurring: boolean; benefits: models.Benefit[] },
): models.Product {
  return {
    id: fields.id,
    created_at: "2026-11-01T00:00:00Z",
    modified_at: null,
    trial_interval: null,
    trial_interval_count: null,
    name: fields.name,
    description: null,
    visibility: "public",
    recurring_interval: fields.recurring ? "month" : null,
    recurring_interval_count: fields.recurring ? 1 : null,
    meter_interval: null,
    meter_interval_count: null,
    is_recurring: fields.recurring,
    is_archived: false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    is_deletable: false,
    prices: [],
    benefits: fields.benefits,
    medias: [],
    attached_custom_fields: [],
  };
}

/**
 * The stand-in's two products: the demo subscription and the credit pack.
 *
 * @returns them by id
 * @example
 * ```ts
 * demoProducts().get(DEMO_PRODUCT_ID)?.benefits[0].metadata; // { key: "pro" }
 * ```
 */
export function demoProducts(): Map<string, models.Product> {
  const customer = customerModel({ externalId: null, email: "products@example.com" });
  const benefitOf = (grant: models.BenefitGrant) => grant.benefit as models.Benefit;
  return new Map([
    [
      DEMO_PRODUCT_ID,
      productModel({
        id: DEMO_PRODUCT_ID,
        name: "Pro",
        recurring: true,
        benefits: [
          benefitOf(listedBenefitGrantModel(customer, benefitGrantModel())),
          benefitOf(meterCreditGrantModel(customer, {
            meter_id: DEMO_METER_ID,
            units: DEMO_CREDIT_UNITS,
          }, { subscription_id: "product" })),
        ],
      }),
    ],
    [
      CREDIT_PACK_PRODUCT_ID,
      productModel({
        id: CREDIT_PACK_PRODUCT_ID,
        name: "Credit pack",
        recurring: false,
        benefits: [benefitOf(meterCreditGrantModel(customer, {
          meter_id: DEMO_METER_ID,
          units: CREDIT_PACK_UNITS,
        }, { order_id: "product" }))],
      }),
    ],
  ]);
}

/**
 * Makes the product routes over a map of products.
 *
 * @param products products by id
 * @returns the route: an answer, or `undefined` when the request is not a product route
 * @example
 * ```ts
 * const routes = createPolarProductRoutes(demoProducts());
 * (await routes({ method: "GET", url: new URL(`http://x/v1/products/${DEMO_PRODUCT_ID}`) }))?.status; // 200
 * ```
 */
export function createPolarProductRoutes(
  products: Map<string, models.Product>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET") return undefined;
    if (url.pathname === "/v1/products/") {
      const archived = booleanFilter(url, "is_archived");
      const items = [...products.values()].filter((product) =>
        archived === null || product.is_archived === archived
      );
      return Response.json(listPage(url, items));
    }
    const id = url.pathname.match(/^\/v1\/products\/([^/]+)$/)?.[1];
    if (!id) return undefined;
    const product = products.get(id);
    if (!product) {
      return Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
    }
    return Response.json(product);
  };
}
