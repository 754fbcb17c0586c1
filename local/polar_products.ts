/**
 * Polar's products (API 2026-10), as the Polar stand-in and the tests' fake answer them: the
 * stand-in's catalog (two plans and the credit pack), `GET /v1/products/` (paged; filters
 * `is_archived`, `is_recurring`, `id`; sorted by `-created_at` by default) and
 * `GET /v1/products/{id}` (404 `ResourceNotFound` for an unknown id). Checked against Polar's
 * server (`server/polar/product/endpoints.py`): archived products are listed unless
 * `is_archived=false`, as the reconcile needs to see them go off sale.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  CREDIT_PACK_BENEFIT_ID,
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  DEMO_BENEFIT_ID,
  DEMO_CREDIT_BENEFIT_ID,
  DEMO_CREDIT_UNITS,
  DEMO_ENTITLEMENT_KEY,
  DEMO_METER_ID,
  DEMO_PRODUCT_ID,
  ORGANIZATION_ID,
} from "./polar_models.ts";
import { booleanFilter, listPage, matchesAny, sortItems } from "./polar_pages.ts";

/** The second plan: "Pro yearly", $100 a year, the same benefits as the monthly plan. */
export const PRO_YEARLY_PRODUCT_ID = "c41d7e2a-8b3f-4c6e-a5d9-0f2b7e1c3a88";

/** What a plan or pack costs in the stand-in, in cents, by product id. */
export const PRICE_CENTS: Readonly<Record<string, number>> = {
  [DEMO_PRODUCT_ID]: 1000,
  [PRO_YEARLY_PRODUCT_ID]: 10000,
  [CREDIT_PACK_PRODUCT_ID]: 500,
};

const CATALOG_CREATED_AT = "2026-01-01T00:00:00.000Z";

/** The fields of a product the stand-in sets; everything else has Polar's defaults. */
export interface ProductFields {
  /** Polar's product id. */
  id: string;
  /** Its name. */
  name: string;
  /** Its description. */
  description?: string | null;
  /** `month` or `year` for a plan; `null` (the default) for a one-time product. */
  interval?: "month" | "year" | null;
  /** Its one fixed price, in cents (USD). */
  priceCents: number;
  /** The benefits it grants. */
  benefits?: models.Benefit[];
  /** Whether it is archived. */
  isArchived?: boolean;
  /** Its `modified_at`; `null` (never modified) by default. */
  modifiedAt?: string | null;
}

/**
 * A product as `GET /v1/products/` and the `product.*` webhooks carry it.
 *
 * @param fields id, name, interval, price and benefits
 * @returns the product
 * @example
 * ```ts
 * productModel({ id, name: "Pro", interval: "month", priceCents: 1000 }).is_recurring; // true
 * ```
 */
export function productModel(fields: ProductFields): models.Product {
  const interval = fields.interval ?? null;
  const price: models.ProductPriceFixed = {
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    id: `${fields.id.slice(0, 24)}aaaaaaaaaaaa`,
    source: "catalog",
    amount_type: "fixed",
    price_currency: "usd",
    tax_behavior: null,
    is_archived: false,
    product_id: fields.id,
    price_amount: fields.priceCents,
  };
  return {
    id: fields.id,
    created_at: CATALOG_CREATED_AT,
    modified_at: fields.modifiedAt ?? null,
    trial_interval: null,
    trial_interval_count: null,
    name: fields.name,
    description: fields.description ?? null,
    visibility: "public",
    recurring_interval: interval,
    recurring_interval_count: interval ? 1 : null,
    meter_interval: null,
    meter_interval_count: null,
    is_recurring: interval !== null,
    is_archived: fields.isArchived ?? false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    is_deletable: false,
    prices: [price],
    benefits: fields.benefits ?? [],
    medias: [],
    attached_custom_fields: [],
  };
}

/**
 * The demo plans' feature flag, whose metadata `key` apps gate on (`has_entitlement('pro')`).
 *
 * @returns the benefit, as a product embeds it
 * @example
 * ```ts
 * proBenefitModel().metadata; // { key: "pro" }
 * ```
 */
export function proBenefitModel(): models.BenefitFeatureFlag {
  return {
    id: DEMO_BENEFIT_ID,
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    type: "feature_flag",
    description: "Members-only notes",
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: { key: DEMO_ENTITLEMENT_KEY },
    visibility: "public",
    properties: {},
    visibility_configurable: true,
  };
}

function creditBenefitModel(id: string, units: number, description: string) {
  return {
    id,
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    type: "meter_credit",
    description,
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    visibility: "public",
    properties: { meter_id: DEMO_METER_ID, units, rollover: false },
    visibility_configurable: true,
  } satisfies models.BenefitMeterCredit;
}

/**
 * The stand-in's catalog: "Pro" ($10 a month), "Pro yearly" ($100 a year), both granting the
 * "pro" flag and 100 credits a cycle, and the one-time "Credit pack" (500 credits, $5).
 *
 * @returns the three products, fresh objects each call
 * @example
 * ```ts
 * standInProducts().map((p) => p.name); // ["Pro", "Pro yearly", "Credit pack"]
 * ```
 */
export function standInProducts(): models.Product[] {
  const credits = creditBenefitModel(
    DEMO_CREDIT_BENEFIT_ID,
    DEMO_CREDIT_UNITS,
    `${DEMO_CREDIT_UNITS} credits a month`,
  );
  return [
    productModel({
      id: DEMO_PRODUCT_ID,
      name: "Pro",
      description: "Members-only notes and 100 AI credits a month.",
      interval: "month",
      priceCents: PRICE_CENTS[DEMO_PRODUCT_ID],
      benefits: [proBenefitModel(), credits],
    }),
    productModel({
      id: PRO_YEARLY_PRODUCT_ID,
      name: "Pro yearly",
      description: "Everything in Pro, billed once a year: two months free.",
      interval: "year",
      priceCents: PRICE_CENTS[PRO_YEARLY_PRODUCT_ID],
      benefits: [proBenefitModel(), credits],
    }),
    productModel({
      id: CREDIT_PACK_PRODUCT_ID,
      name: "Credit pack",
      description: `${CREDIT_PACK_UNITS} AI credits, once. Never blocked by a subscription.`,
      priceCents: PRICE_CENTS[CREDIT_PACK_PRODUCT_ID],
      benefits: [
        creditBenefitModel(
          CREDIT_PACK_BENEFIT_ID,
          CREDIT_PACK_UNITS,
          `Credit pack: ${CREDIT_PACK_UNITS} credits`,
        ),
      ],
    }),
  ];
}

/**
 * The product routes over the organization's products.
 *
 * @param products the products, read on every request
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarProductRoutes(() => standInProducts());
 * routes({ method: "GET", url: new URL("http://x/v1/products/?is_recurring=true") });
 * ```
 */
export function createPolarProductRoutes(
  products: () => Iterable<models.Product>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET") return undefined;
    if (url.pathname === "/v1/products/") {
      const archived = booleanFilter(url, "is_archived");
      const recurring = booleanFilter(url, "is_recurring");
      const matching = [...products()].filter((p) =>
        (archived === null || p.is_archived === archived) &&
        (recurring === null || p.is_recurring === recurring) &&
        matchesAny(url, "id", p.id)
      );
      return Response.json(
        listPage(url, sortItems(url, matching, "-created_at")) satisfies models.ListResourceProduct,
      );
    }
    const id = url.pathname.match(/^\/v1\/products\/([^/]+)$/)?.[1];
    if (!id) return undefined;
    const product = [...products()].find((p) => p.id === decodeURIComponent(id));
    return product
      ? Response.json(product)
      : Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
  };
}
